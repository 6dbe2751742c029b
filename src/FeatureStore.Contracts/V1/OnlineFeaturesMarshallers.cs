using Google.Protobuf;
using Grpc.Core;

namespace FeatureStore.Contracts.V1;

/// <summary>
/// The lookup request's marshaller, shared by the client and the server where each binds
/// <c>GetOnlineFeatures</c> with an answer type of its own (an index over the received bytes, an answer
/// written straight to its encoding).
/// </summary>
public static class OnlineFeaturesMarshallers
{
    /// <summary><see cref="GetOnlineFeaturesRequest"/> as the generated code writes and parses it.</summary>
    public static Marshaller<GetOnlineFeaturesRequest> Request { get; } = Marshallers.Create(
        static (GetOnlineFeaturesRequest request, SerializationContext context) =>
        {
            context.SetPayloadLength(request.CalculateSize());
            request.WriteTo(context.GetBufferWriter());
            context.Complete();
        },
        static context => GetOnlineFeaturesRequest.Parser.ParseFrom(context.PayloadAsReadOnlySequence()));
}
