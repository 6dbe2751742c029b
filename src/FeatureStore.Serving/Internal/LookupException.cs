using System.Diagnostics.CodeAnalysis;
using Grpc.Core;

namespace FeatureStore.Serving.Internal;

/// <summary>A lookup refused or failed with a precise status; gRPC and HTTP map it to their own codes.</summary>
internal sealed class LookupException(StatusCode status, string message, Exception? inner = null) : Exception(message, inner)
{
    public StatusCode Status { get; } = status;

    /// <summary>A request refused as malformed (INVALID_ARGUMENT), for a caller that hands the exception on rather than throwing it.</summary>
    public static LookupException Invalid(string message) => new(StatusCode.InvalidArgument, message);

    /// <summary>The online store could not answer (UNAVAILABLE), for a caller that hands the exception on rather than throwing it.</summary>
    public static LookupException Unavailable(string message, Exception? inner = null) => new(StatusCode.Unavailable, message, inner);

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
        StatusCode.Unimplemented => 501,
        _ => 500,
    };
}

/// <summary>
/// Throws leave the hot paths through here (as in Npgsql's ThrowHelper): each method throws itself, so the
/// calling method keeps no exception construction inline. The generic forms stand where an expression is
/// expected (<c>??</c>, <c>?:</c>, a switch arm, a value a catch block must still give).
/// </summary>
internal static class ThrowHelper
{
    /// <summary>Refuses the request as malformed (INVALID_ARGUMENT).</summary>
    [DoesNotReturn]
    public static void ThrowInvalid(string message) => throw LookupException.Invalid(message);

    /// <summary>Refuses the request as malformed (INVALID_ARGUMENT) where a value of <typeparamref name="T"/> is expected.</summary>
    [DoesNotReturn]
    public static T ThrowInvalid<T>(string message) => throw LookupException.Invalid(message);

    /// <summary>Fails the request because the online store could not answer (UNAVAILABLE).</summary>
    [DoesNotReturn]
    public static void ThrowUnavailable(string message, Exception? inner = null) => throw LookupException.Unavailable(message, inner);

    /// <summary>Fails the request because the online store could not answer (UNAVAILABLE) where a value of <typeparamref name="T"/> is expected.</summary>
    [DoesNotReturn]
    public static T ThrowUnavailable<T>(string message, Exception? inner = null) => throw LookupException.Unavailable(message, inner);

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
        StatusCode.Unimplemented => "UNIMPLEMENTED",
        StatusCode.Cancelled => "CANCELLED",
        _ => "INTERNAL",
    };
}
