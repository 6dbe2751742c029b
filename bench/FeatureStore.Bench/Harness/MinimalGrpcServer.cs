using System.Net;
using FeatureStore.Contracts.V1;
using FeatureStore.Testing;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Bench.Harness;

/// <summary>
/// The least an ASP.NET Core gRPC service is: Kestrel on one HTTP/2 port, <c>AddGrpc</c> with its defaults, and the
/// registry's <c>DescribeEntity</c> answered with a reply made once — no middleware, interceptors, metrics or
/// logging. What a unary call costs any such service on this machine, measured beside the store's own host.
/// </summary>
internal sealed class MinimalGrpcServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private MinimalGrpcServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public static async Task<MinimalGrpcServer> StartAsync(EntityInfo reply)
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new CannedRegistry(reply));
        var app = builder.Build();
        app.MapGrpcService<CannedRegistry>();
        await app.StartAsync();
        return new MinimalGrpcServer(app, new Uri($"http://127.0.0.1:{port}"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class CannedRegistry(EntityInfo reply) : Registry.RegistryBase
    {
        public override Task<EntityInfo> DescribeEntity(DescribeRequest request, ServerCallContext context) => Task.FromResult(reply);
    }
}
