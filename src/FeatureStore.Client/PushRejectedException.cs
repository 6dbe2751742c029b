using FeatureStore.Contracts.V1;
using Grpc.Core;

namespace FeatureStore.Client;

/// <summary>
/// A push refused for its rejected events (INVALID_ARGUMENT): nothing was produced. <see cref="Response"/> lists
/// each rejected event's index in the request and its reason (at most the first 1000; <c>RejectedCount</c> counts all).
/// </summary>
public sealed class PushRejectedException : Exception
{
    /// <summary>The trailer the server sends the rejections in.</summary>
    public const string Trailer = "featurestore-push-rejections-bin";

    /// <summary>Creates one from the server's answer.</summary>
    public PushRejectedException(string message, PushEventsResponse response, RpcException inner)
        : base(message, inner) => Response = response;

    /// <summary>The rejected events.</summary>
    public PushEventsResponse Response { get; }
}
