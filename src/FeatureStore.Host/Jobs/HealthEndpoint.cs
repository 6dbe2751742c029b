using System.Net;
using FeatureStore.Host.Supervision;
using FeatureStore.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace FeatureStore.Host.Jobs;

/// <summary>
/// <c>/healthz</c>, <c>/readyz</c> (the jobs' health) and <c>/metrics</c> (Prometheus: the ingest and monitor
/// meters) for a process that does not run the serve job, such as an ingest-only Deployment.
/// </summary>
internal sealed class HealthEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HealthEndpoint(WebApplication app) => _app = app;

    public static async Task<HealthEndpoint> StartAsync(IPAddress address, int port, JobHealth health, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders().AddProvider(new ForwardingLoggerProvider(loggers)).SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(address, port));
        builder.Services.AddHealthChecks().AddCheck("jobs", health, tags: [FeatureServer.LivenessTag, FeatureServer.ReadinessTag]);
        var app = builder.Build();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(FeatureServer.LivenessTag), ResponseWriter = HealthReportJson.WriteAsync });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(FeatureServer.ReadinessTag), ResponseWriter = HealthReportJson.WriteAsync });
        app.MapMetrics("/metrics");
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return new HealthEndpoint(app);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
