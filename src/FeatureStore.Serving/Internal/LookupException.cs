using Grpc.Core;

namespace FeatureStore.Serving.Internal;

/// <summary>A lookup refused or failed with a precise status; gRPC and HTTP map it to their own codes.</summary>
internal sealed class LookupException(StatusCode status, string message, Exception? inner = null) : Exception(message, inner)
{
    public StatusCode Status { get; } = status;

    public RpcException ToRpc() => new(new Status(Status, Message));

    /// <summary>The HTTP status the JSON mirror answers with.</summary>
    public int HttpStatus => Status switch
    {
        StatusCode.InvalidArgument => 400,
        StatusCode.Unauthenticated => 401,
        StatusCode.PermissionDenied => 403,
        StatusCode.NotFound => 404,
        StatusCode.ResourceExhausted => 413,
        StatusCode.Unavailable => 503,
        StatusCode.DeadlineExceeded => 504,
        _ => 500,
    };
}

/// <summary>Throws leave the hot paths through here.</summary>
internal static class ThrowHelper
{
    public static LookupException Invalid(string message) => new(StatusCode.InvalidArgument, message);

    public static LookupException Unavailable(string message, Exception? inner = null) => new(StatusCode.Unavailable, message, inner);

    /// <summary>
    /// A value from the request as an error message quotes it: at most 100 characters. A message travels
    /// in a gRPC header, and one over the client's header limit (64 KiB) would hide the status itself.
    /// </summary>
    public static string Shown(string value) => value.Length <= 100 ? value : string.Concat(value.AsSpan(0, 100), $"… ({value.Length} characters)");
}

/// <summary>gRPC status names as the protocol spells them (INVALID_ARGUMENT), for metrics and JSON errors.</summary>
internal static class StatusNames
{
    public static string Of(StatusCode status) => status switch
    {
        StatusCode.OK => "OK",
        StatusCode.InvalidArgument => "INVALID_ARGUMENT",
        StatusCode.Unauthenticated => "UNAUTHENTICATED",
        StatusCode.PermissionDenied => "PERMISSION_DENIED",
        StatusCode.NotFound => "NOT_FOUND",
        StatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        StatusCode.Unavailable => "UNAVAILABLE",
        StatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        StatusCode.Cancelled => "CANCELLED",
        _ => "INTERNAL",
    };
}
