using Grpc.Core;
using Grpc.Net.Client;

namespace FeatureStore.Reliability.Helpers;

/// <summary>gRPC calls with request bytes written by hand: any method, any payload, optional API key.</summary>
internal sealed class RawGrpc(Uri address, HttpMessageHandler? handler = null) : IDisposable
{
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    private readonly GrpcChannel _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        MaxSendMessageSize = null,
        MaxReceiveMessageSize = null,
        HttpHandler = handler,
    });

    /// <summary>Calls <paramref name="fullMethod"/> (<c>package.Service/Method</c>); the status it ends with.</summary>
    public async Task<(StatusCode Status, string Detail)> CallAsync(string fullMethod, byte[] request, string? apiKey = null, TimeSpan? deadline = null)
    {
        var slash = fullMethod.LastIndexOf('/');
        var method = new Method<byte[], byte[]>(MethodType.Unary, fullMethod[..slash].TrimStart('/'), fullMethod[(slash + 1)..], Bytes, Bytes);
        var headers = new Metadata();
        if (apiKey is not null)
        {
            headers.Add("x-api-key", apiKey);
        }

        try
        {
            await _channel.CreateCallInvoker().AsyncUnaryCall(method, null, new CallOptions(headers, DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(10))), request);
            return (StatusCode.OK, "");
        }
        catch (RpcException ex)
        {
            return (ex.StatusCode, ex.Status.Detail);
        }
    }

    public void Dispose() => _channel.Dispose();
}
