using FeatureStore.Redis.Online;
using FeatureStore.Serving.Internal;
using FeatureStore.Serving.Internal.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;
using StackExchange.Redis;

namespace FeatureStore.Serving;

/// <summary>
/// The serving host, embeddable: gRPC <c>featurestore.v1.OnlineFeatures</c>, <c>Registry</c>,
/// <c>ExportJobs</c>, <c>DriftMonitor</c> and <c>Push</c>, gRPC health and reflection on the gRPC port (HTTP/2); the JSON
/// mirror <c>POST /v1/features/online</c>, <c>POST /v1/push/{source}</c>, <c>GET /v1/registry</c>, <c>/healthz</c>, <c>/readyz</c>, Prometheus <c>/metrics</c> and the web dashboard (<c>/dashboard</c>,
/// backed by <c>GET /v1/dashboard/…</c>) on the HTTP port (both ports serve every endpoint). The <c>serve</c> command runs one; so can any process that wants lookups in it.
/// </summary>
public sealed class FeatureServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly FeatureServerOptions _options;

    /// <summary>Health checks with this tag are reported by <c>/healthz</c> (none by default: alive when it answers).</summary>
    public const string LivenessTag = "live";

    /// <summary>Health checks with this tag are reported by <c>/readyz</c> (the online store and the registry, and any added).</summary>
    public const string ReadinessTag = ReadinessCheck.Tag;

    /// <summary>
    /// A health check with this tag is also a service of gRPC health (<c>grpc.health.v1.Health</c>) under its
    /// own name: the <c>run</c> host registers one per job (<c>ingest</c>, <c>monitor</c>, …).
    /// </summary>
    public const string GrpcHealthServiceTag = "grpc-health-service";

    /// <summary>The gRPC services this server answers; gRPC health reports the server's readiness under each (and under "").</summary>
    public static IReadOnlyList<string> GrpcServices { get; } =
    [
        Contracts.V1.OnlineFeatures.Descriptor.FullName,
        Contracts.V1.Registry.Descriptor.FullName,
        Contracts.V1.ExportJobs.Descriptor.FullName,
        Contracts.V1.DriftMonitor.Descriptor.FullName,
        Contracts.V1.Push.Descriptor.FullName,
    ];

    private FeatureServer(WebApplication app, FeatureServerOptions options)
    {
        _app = app;
        _options = options;
    }

    /// <summary>The gRPC endpoint's address (after <see cref="StartAsync"/>).</summary>
    public Uri GrpcAddress { get; private set; } = new("http://localhost");

    /// <summary>The HTTP endpoint's address (after <see cref="StartAsync"/>).</summary>
    public Uri HttpAddress { get; private set; } = new("http://localhost");

    /// <summary>The web dashboard's address (after <see cref="StartAsync"/>).</summary>
    public Uri DashboardAddress => new(HttpAddress, "dashboard");

    /// <summary>The host's services (the test server, when one replaced Kestrel).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Sets a StackExchange.Redis configuration up for serving: lookups fail at once while the store
    /// is unreachable (no backlog), time out after <paramref name="timeout"/>, and the host starts even
    /// when the store is down (it reconnects in the background and is not ready until then).
    /// </summary>
    public static void ConfigureStoreClient(ConfigurationOptions options, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.AsyncTimeout = (int)timeout.TotalMilliseconds;
        options.SyncTimeout = (int)timeout.TotalMilliseconds;
    }

    /// <summary>The environment variable sizing the shared array pool (<see cref="ConfigureProcess"/>).</summary>
    public const string ArrayPoolVariable = "DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION";

    /// <summary>
    /// Process settings for a serving process, applied by the first line of its <c>Main</c> (later, the runtime has read
    /// them): the shared array pool keeps up to 256 arrays of each size per core instead of 32, unless
    /// <see cref="ArrayPoolVariable"/> is set already. A pipelined or transaction lookup of 100 entities holds one pooled
    /// reply buffer per key (200) until it is evaluated; with 32 most of them were new arrays, about 380 KB per lookup.
    /// The pool drops arrays it has not lent for a while when memory runs short.
    /// </summary>
    public static void ConfigureProcess()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(ArrayPoolVariable)))
        {
            Environment.SetEnvironmentVariable(ArrayPoolVariable, "256");
        }
    }

    /// <summary>Builds a server over the online store <paramref name="store"/>; <see cref="StartAsync"/> starts it.</summary>
    /// <param name="options">Ports, repository or project, limits, keys.</param>
    /// <param name="store">The online store's client, shared and owned by the caller.</param>
    /// <param name="configure">Last changes to the host before it is built: logging providers, a test server.</param>
    /// <exception cref="NotSupportedException">The read strategy is one the store cannot run (script or transaction on Redis Cluster).</exception>
    public static FeatureServer Create(FeatureServerOptions options, IConnectionMultiplexer store, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        // First, so that a strategy the store refuses fails before anything is built.
        var reader = new OnlineStateReader(store.GetDatabase(), options.ReadStrategy);
        // Everything comes from the options, nothing from appsettings files: without reloading them on change the
        // host sets up no recursive watcher over its content root (the working directory), whose file events
        // would otherwise cost CPU on a busy machine for as long as the server runs.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(options.ListenAddress, options.GrpcPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (options.Certificate is { } certificate)
                {
                    listen.UseHttps(certificate);
                }
            });
            kestrel.Listen(options.ListenAddress, options.HttpPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (options.Certificate is { } certificate)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(store);
        services.AddSingleton(new ServingMetrics());
        services.AddSingleton(sp => new RegistryCache(options, store, sp.GetRequiredService<ILoggerFactory>().CreateLogger("FeatureStore.Serving"), sp.GetRequiredService<ServingMetrics>()));
        services.AddSingleton(new ApiKeyPolicy(options.ApiKeys));
        services.AddSingleton(new RecentLatencies());
        services.AddSingleton(sp => new ViewBuilds(sp.GetRequiredService<RegistryCache>(), store, options));
        services.AddSingleton(sp => new DashboardData(
            sp.GetRequiredService<RegistryCache>(), store, sp.GetRequiredService<ApiKeyPolicy>(), sp.GetRequiredService<RecentLatencies>(), options,
            sp.GetRequiredService<ViewBuilds>()));
        services.AddSingleton(reader);
        services.AddSingleton(new OnlineStoreHealth(store));
        services.AddSingleton(sp => new OnlineLookup(
            sp.GetRequiredService<RegistryCache>(), sp.GetRequiredService<OnlineStateReader>(), sp.GetRequiredService<ApiKeyPolicy>(), options,
            sp.GetRequiredService<ServingMetrics>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("FeatureStore.Serving"),
            sp.GetRequiredService<RecentLatencies>()));
        services.AddHostedService(sp => new ServedQualityFlusher(
            sp.GetRequiredService<RegistryCache>(), store, options, sp.GetRequiredService<ServingMetrics>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("FeatureStore.Serving")));
        services.AddSingleton(sp => new Internal.Exports.ExportJobRunner(sp.GetRequiredService<RegistryCache>(), sp.GetRequiredService<ApiKeyPolicy>(), options,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("FeatureStore.Serving")));
        services.AddSingleton(sp => new Internal.Push.PushHandler(sp.GetRequiredService<RegistryCache>(), sp.GetRequiredService<ApiKeyPolicy>(), options, store, options.TimeProvider));
        services.AddGrpc(grpc => grpc.MaxReceiveMessageSize = 16 << 20);
        services.AddGrpcReflection();
        services.AddHealthChecks().AddCheck<ReadinessCheck>("online-store-and-registry", tags: [ReadinessCheck.Tag]);
        services.AddGrpcHealthChecks(health =>
        {
            foreach (var service in GrpcServices.Prepend(""))
            {
                health.Services.Map(service, check => check.Tags.Contains(ReadinessTag));
            }
        });
        services.AddOptions<Grpc.AspNetCore.HealthChecks.GrpcHealthChecksOptions>()
            .Configure<Microsoft.Extensions.Options.IOptions<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckServiceOptions>>((health, checks) =>
            {
                foreach (var name in checks.Value.Registrations.Where(r => r.Tags.Contains(GrpcHealthServiceTag)).Select(r => r.Name))
                {
                    health.Services.Map(name, check => check.Name == name);
                }
            });
        configure?.Invoke(builder);

        var app = builder.Build();
        MalformedRequests.Guard(app.MapGrpcService<OnlineFeaturesService>());
        MalformedRequests.Guard(app.MapGrpcService<RegistryService>());
        MalformedRequests.Guard(app.MapGrpcService<ExportJobsService>());
        MalformedRequests.Guard(app.MapGrpcService<DriftMonitorService>());
        MalformedRequests.Guard(app.MapGrpcService<Internal.Push.PushService>());
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        HttpEndpoints.Map(app);
        DashboardEndpoints.Map(app);
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(LivenessTag), ResponseWriter = HealthReportJson.WriteAsync });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadinessTag), ResponseWriter = HealthReportJson.WriteAsync });
        // The building groups' progress is read (through its short cache) when scraped, not per lookup.
        app.Use(async (context, next) =>
        {
            if (context.Request.Path == "/metrics")
            {
                await PublishBuildsAsync(context).ConfigureAwait(false);
                await PublishQualityAsync(context).ConfigureAwait(false);
            }

            await next(context).ConfigureAwait(false);
        });
        app.MapMetrics("/metrics");
        return new FeatureServer(app, options);
    }

    private static async Task PublishBuildsAsync(HttpContext context)
    {
        var registry = context.RequestServices.GetRequiredService<RegistryCache>();
        if (!registry.IsLoaded)
        {
            return;
        }

        var groups = await context.RequestServices.GetRequiredService<ViewBuilds>().ReadAsync(context.RequestAborted).ConfigureAwait(false);
        context.RequestServices.GetRequiredService<ServingMetrics>().Builds(groups);
    }

    private static async Task PublishQualityAsync(HttpContext context)
    {
        if (!context.RequestServices.GetRequiredService<RegistryCache>().IsLoaded)
        {
            return;
        }

        try
        {
            if (await context.RequestServices.GetRequiredService<DashboardData>().QualityReportAsync(context.RequestAborted).ConfigureAwait(false) is { } report)
            {
                context.RequestServices.GetRequiredService<ServingMetrics>().Quality(report);
            }
        }
        catch (Exception ex) when (OnlineStoreHealth.IsStoreFailure(ex))
        {
            // the store is down: the scrape shows the series as last read
        }
    }

    /// <summary>
    /// Starts prometheus-net's adapter of .NET meters (ingest's, the monitor's, the runtime's), which otherwise
    /// starts listening at the first scrape and loses every measurement made before it. A process calls this
    /// once at start, before its jobs run (calling it again does nothing), so that <c>/metrics</c> shows every
    /// series from process start, scraped or not.
    /// </summary>
    /// <remarks>
    /// Only this project's meters (<c>FeatureStore.*</c>) and the runtime's (<c>System.Runtime</c>: GC, thread pool,
    /// JIT) are exported, and only the runtime's event counters. ASP.NET Core's, Kestrel's and HttpClient's meters
    /// and event sources record every request, which cost a lookup about a tenth of its CPU time; the lookup
    /// metrics (<c>featurestore_serving_lookups_total</c>, <c>featurestore_serving_lookup_duration_seconds</c>) already count them.
    /// </remarks>
    public static Task StartMeterExportAsync(CancellationToken cancellationToken = default)
    {
        // Applied at the registry's first collection, which this is unless a scrape came first.
        Metrics.ConfigureMeterAdapter(options => options.InstrumentFilterPredicate = Exported);
        Metrics.ConfigureEventCounterAdapter(options => options.EventSourceFilterPredicate = source => source == "System.Runtime");
        return Metrics.DefaultRegistry.CollectAndExportAsTextAsync(Stream.Null, cancellationToken);
    }

    /// <summary>Whether an instrument is exported: this project's meters and the runtime's.</summary>
    internal static bool Exported(System.Diagnostics.Metrics.Instrument instrument) =>
        instrument.Meter.Name.StartsWith("FeatureStore", StringComparison.Ordinal) || instrument.Meter.Name == "System.Runtime";

    /// <summary>Loads the repository (from the file, or the registry's current version) and starts listening.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await StartMeterExportAsync(cancellationToken).ConfigureAwait(false);
        await _app.Services.GetRequiredService<RegistryCache>().StartAsync(cancellationToken).ConfigureAwait(false);
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        var addresses = _app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
        if (addresses.Count >= 2)
        {
            GrpcAddress = new Uri(addresses[0]);
            HttpAddress = new Uri(addresses[1]);
        }

        _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("FeatureStore.Serving").Listening(GrpcAddress, HttpAddress);
    }

    /// <summary>Stops listening, letting calls in flight finish.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    /// <summary>Stops the host and releases the registry subscription (not the store client).</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false); // disposes the registry cache with the other services
    }

    internal FeatureServerOptions Options => _options;
}
