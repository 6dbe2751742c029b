using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// A gRPC request whose message cannot be decoded fails inside the framework, before any service code
/// runs, and the framework answers UNKNOWN ("Exception was thrown by handler"). That is the client's
/// fault, not the server's: this wraps each service endpoint and, when the call ended with UNKNOWN
/// without ever reaching the service, answers INVALID_ARGUMENT instead. A lookup refused there (malformed,
/// or over the message size limit) is counted in the lookup metrics like any other refused lookup.
/// </summary>
internal static class MalformedRequests
{
    private const string StatusHeader = "grpc-status";
    private const string MessageHeader = "grpc-message";

    /// <summary>Wraps every endpoint of a mapped gRPC service.</summary>
    public static void Guard(IEndpointConventionBuilder service) => service.Add(endpoint =>
    {
        if (endpoint.RequestDelegate is { } inner)
        {
            endpoint.RequestDelegate = context => InvokeAsync(context, inner);
        }
    });

    /// <summary>Called first by every service method: its request was decoded.</summary>
    /// <remarks>
    /// A feature set to one shared instance rather than an entry in <c>Items</c>: Kestrel keeps a stream's feature
    /// collection from one request to the next, so the mark allocates nothing per call (Items would be a new
    /// dictionary on every call).
    /// </remarks>
    public static void MarkReached(ServerCallContext context) => context.GetHttpContext().Features.Set(ReachedService.Mark);

    /// <summary>The mark of a call that reached its service.</summary>
    private sealed class ReachedService
    {
        public static readonly ReachedService Mark = new();
    }

    private static readonly string LookupPath = $"/{OnlineFeaturesBinding.Descriptor.FullName}/GetOnlineFeatures";

    private static async Task InvokeAsync(HttpContext context, RequestDelegate inner)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        await inner(context).ConfigureAwait(false);
        if (context.Features.Get<ReachedService>() is not null || context.Response.HasStarted)
        {
            return;
        }

        // An error before any response is sent travels "trailers-only": the status is in the headers.
        var headers = context.Response.Headers;
        if (headers[StatusHeader] == ((int)StatusCode.Unknown).ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            headers[StatusHeader] = ((int)StatusCode.InvalidArgument).ToString(System.Globalization.CultureInfo.InvariantCulture);
            headers[MessageHeader] = "malformed request: the message is not a valid protobuf encoding of the request type";
        }

        if (context.Request.Path == LookupPath
            && int.TryParse(headers[StatusHeader], System.Globalization.CultureInfo.InvariantCulture, out var status) && status != (int)StatusCode.OK
            && context.RequestServices.GetService(typeof(ServingMetrics)) is ServingMetrics metrics)
        {
            metrics.Lookup("grpc", StatusNames.Of((StatusCode)status), System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds, 0);
        }
    }
}
