using FeatureStore.Host.Supervision;
using FeatureStore.Redis;
using FeatureStore.Serving;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Host.Jobs;

/// <summary>
/// The serving host as a supervised job. Its <c>/healthz</c> and <c>/readyz</c> also report every job of the
/// process (check <c>jobs</c>): degraded while a job waits for a restart. gRPC health answers for each job
/// too, under its name (<c>ingest</c>, <c>monitor</c>, …).
/// </summary>
internal sealed class ServeHostJob(FeatureServerOptions options, OnlineStoreConnection store, JobHealth health, ILoggerFactory loggers, Func<IReadOnlyList<string>> jobs) : ISupervisedJob
{
    public string Name => "serve";

    /// <summary>The running server's addresses, once started.</summary>
    public (Uri Grpc, Uri Http)? Addresses { get; private set; }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await using var server = FeatureServer.Create(options, store.Multiplexer, builder =>
        {
            builder.Logging.AddProvider(new ForwardingLoggerProvider(loggers));
            builder.Logging.SetMinimumLevel(LogLevel.Warning).AddFilter("FeatureStore", LogLevel.Information);
            var checks = builder.Services.AddHealthChecks().AddCheck("jobs", health, tags: [FeatureServer.LivenessTag, FeatureServer.ReadinessTag]);
            foreach (var job in jobs())
            {
                checks.AddCheck(job, health.Of(job), tags: [FeatureServer.GrpcHealthServiceTag]);
            }
        });
        await server.StartAsync(cancellationToken).ConfigureAwait(false);
        Addresses = (server.GrpcAddress, server.HttpAddress);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Addresses = null;
            await server.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }
}

/// <summary>Hands an inner host's log entries to the process's logger factory (one format, one sink).</summary>
internal sealed class ForwardingLoggerProvider(ILoggerFactory loggers) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => loggers.CreateLogger(categoryName);

    public void Dispose()
    {
        // the factory belongs to the host
    }
}
