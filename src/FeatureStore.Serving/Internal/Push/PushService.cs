using FeatureStore.Contracts.V1;
using Google.Protobuf;
using Grpc.Core;

namespace FeatureStore.Serving.Internal.Push;

/// <summary>
/// <c>featurestore.v1.Push/PushEvents</c>: the gRPC face of <see cref="PushHandler"/>. A request refused for its
/// rejected events fails with INVALID_ARGUMENT and carries the full answer, every rejection listed, in the
/// trailer <see cref="RejectionsTrailer"/>.
/// </summary>
internal sealed class PushService(PushHandler handler) : Contracts.V1.Push.PushBase
{
    /// <summary>The binary trailer holding a refused request's <see cref="PushEventsResponse"/>.</summary>
    public const string RejectionsTrailer = "featurestore-push-rejections-bin";

    public override async Task<PushEventsResponse> PushEvents(PushEventsRequest request, ServerCallContext context)
    {
        MalformedRequests.MarkReached(context);
        try
        {
            var events = new ReadOnlyMemory<byte>[request.Events.Count];
            for (var i = 0; i < events.Length; i++)
            {
                events[i] = request.Events[i].Memory;
            }

            var call = new PushCall(request.Source, events, request.WaitOnline, request.AcceptValid, context.Deadline == DateTime.MaxValue ? DateTime.MaxValue : context.Deadline.ToUniversalTime());
            var outcome = await handler.RunAsync(call, GrpcCalls.ApiKey(context), context.CancellationToken).ConfigureAwait(false);
            if (outcome.Refused)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, outcome.RefusalMessage()), new Metadata { { RejectionsTrailer, outcome.Response.ToByteArray() } });
            }

            return outcome.Response;
        }
        catch (LookupException ex)
        {
            throw ex.ToRpc();
        }
    }
}
