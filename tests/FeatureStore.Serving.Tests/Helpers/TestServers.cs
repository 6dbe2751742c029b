using FeatureStore.Client;
using FeatureStore.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace FeatureStore.Serving.Tests.Helpers;

/// <summary>A started <see cref="FeatureServer"/> and clients for it: in process (test server) or over real ports.</summary>
internal sealed class RunningServer : IAsyncDisposable
{
    private readonly HttpMessageHandler? _handler;

    private RunningServer(FeatureServer server, HttpMessageHandler? handler)
    {
        Server = server;
        _handler = handler;
    }

    public FeatureServer Server { get; }

    /// <summary>Starts the server in process: ASP.NET Core's test server instead of Kestrel, no sockets.</summary>
    public static async Task<RunningServer> InProcessAsync(FeatureServerOptions options, IConnectionMultiplexer store)
    {
        var server = FeatureServer.Create(options, store, builder => builder.WebHost.UseTestServer());
        await server.StartAsync(TestContext.Current.CancellationToken);
        var handler = ((TestServer)server.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()).CreateHandler();
        return new RunningServer(server, handler);
    }

    /// <summary>Starts the server on free 127.0.0.1 ports with Kestrel, as <c>serve</c> does.</summary>
    public static async Task<RunningServer> OnPortsAsync(
        Func<int, int, FeatureServerOptions> options, IConnectionMultiplexer store, Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null)
    {
        var server = FeatureServer.Create(options(FreePort.Next(), FreePort.Next()), store, configure);
        await server.StartAsync(TestContext.Current.CancellationToken);
        return new RunningServer(server, null);
    }

    public FeatureStoreClient Client(string? apiKey = null) => new(
        _handler is null ? Server.GrpcAddress : new Uri("http://localhost"),
        new FeatureStoreClientOptions { ApiKey = apiKey, HttpHandler = _handler is null ? null : new NonDisposingHandler(_handler) });

    /// <summary>A gRPC channel to the server, for calls the client does not make (raw bytes).</summary>
    public Grpc.Net.Client.GrpcChannel Channel() => Grpc.Net.Client.GrpcChannel.ForAddress(
        _handler is null ? Server.GrpcAddress : new Uri("http://localhost"),
        new Grpc.Net.Client.GrpcChannelOptions { HttpHandler = _handler is null ? null : new NonDisposingHandler(_handler) });

    public HttpClient Http() => _handler is null
        ? new HttpClient { BaseAddress = Server.HttpAddress }
        : new HttpClient(new NonDisposingHandler(_handler)) { BaseAddress = new Uri("http://localhost") };

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _handler?.Dispose();
    }

    /// <summary>Lets several clients share the test server's handler.</summary>
    private sealed class NonDisposingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override void Dispose(bool disposing)
        {
            // the inner handler belongs to the running server
        }
    }
}
