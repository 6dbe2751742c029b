using FeatureStore.Core.Definitions;
using FeatureStore.Host.Jobs;
using FeatureStore.Host.Supervision;
using FeatureStore.Ingest;
using FeatureStore.Kafka.Embedded;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Performance;
using FeatureStore.Monitor.Quality;
using FeatureStore.Parquet.Compaction;
using FeatureStore.Redis;
using FeatureStore.Redis.Registry;
using FeatureStore.Serving;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Host;

/// <summary>
/// Every job a configuration enables — ingest, offline log writer, rebuild of changed views, serve, monitor,
/// scheduled backfills and compactions — in one process, each supervised (<see cref="JobSupervisor"/>): health per job, restart with
/// exponential backoff, and a stop that lets each job commit what it has. With no Kafka or Redis configured it starts the embedded
/// ones (librdkafka's mock cluster, Garnet), so a configuration runs alone on a fresh machine.
/// </summary>
public sealed partial class FeatureStoreHost : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly ILogger _logger;
    private readonly HostExtensions _extensions;
    private JobSupervisor _supervisor = null!;
    private EmbeddedKafkaCluster? _kafka;
    private OfflineHostJob? _offline;
    private ServeHostJob? _serve;

    private FeatureStoreHost(HostSettings settings, ILoggerFactory loggers, HostExtensions extensions)
    {
        Settings = settings;
        Loggers = loggers;
        _extensions = extensions;
        _logger = loggers.CreateLogger("FeatureStore.Host");
    }

    /// <summary>The configuration it runs.</summary>
    public HostSettings Settings { get; }

    /// <summary>The loggers every job writes to.</summary>
    public ILoggerFactory Loggers { get; }

    /// <summary>The jobs' health.</summary>
    public JobHealth Health { get; } = new();

    /// <summary>The names of the jobs it runs.</summary>
    public IReadOnlyList<string> Jobs { get; private set; } = [];

    /// <summary>The Kafka bootstrap servers (the embedded cluster's when it started one).</summary>
    public string BootstrapServers { get; private set; } = "";

    /// <summary>The online store's endpoint (the embedded Garnet's when it started one).</summary>
    public string RedisEndpoint { get; private set; } = "";

    /// <summary>The online store connection the jobs share (the registry, the drift history and the alerts live there too).</summary>
    public OnlineStoreConnection Store { get; private set; } = null!;

    /// <summary>The ingest job's meters (events applied, dead-lettered), when the job is enabled.</summary>
    public IngestMetrics? IngestMetrics { get; private set; }

    /// <summary>The monitor's meters (predictions, windows, alerts), when the job is enabled.</summary>
    public MonitorMetrics? MonitorMetrics { get; private set; }

    /// <summary>The performance job's meters (predictions, labels dead-lettered, windows, alerts), when it runs (a model declares labels and performance monitors).</summary>
    public MonitorMetrics? PerformanceJobMetrics { get; private set; }

    /// <summary>The freshness and quality evaluator's meters (evaluations, alerts), when it runs (the repository declares freshness or quality).</summary>
    public MonitorMetrics? QualityJobMetrics { get; private set; }

    /// <summary>Events the offline log writer has written and skipped (already written) since its last start; zeros while it is not running.</summary>
    public (long Written, long Skipped) OfflineEvents => _offline?.Archiver is { } archiver ? (archiver.EventsWritten, archiver.EventsSkipped) : (0, 0);

    /// <summary>The serve job's gRPC and HTTP addresses while it listens; null before it has started or when it is not enabled.</summary>
    public (Uri Grpc, Uri Http)? ServeAddresses => _serve?.Addresses;

    /// <summary>
    /// Loads the repository, connects (or starts) the services and builds the jobs; <see cref="RunAsync"/> runs
    /// them. <paramref name="extraJobs"/> run beside them under the same supervision; <paramref name="extensions"/>
    /// sets what a configuration file does not hold (the demo's).
    /// </summary>
    /// <remarks>
    /// The histories the repository declares are imported here, before any job starts (<paramref name="cancellationToken"/>
    /// stops an import; the next start does it again).
    /// </remarks>
    /// <exception cref="HostConfigurationException">The repository or a setting is wrong, or a declared history file is missing or not a table.</exception>
    public static async Task<FeatureStoreHost> CreateAsync(
        HostSettings settings, ILoggerFactory loggers, IEnumerable<ISupervisedJob>? extraJobs = null, HostExtensions? extensions = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(loggers);
        var host = new FeatureStoreHost(settings, loggers, extensions ?? new HostExtensions());
        try
        {
            await host.BuildAsync(extraJobs ?? [], cancellationToken).ConfigureAwait(false);
            return host;
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs every job until <paramref name="cancellationToken"/> fires, then stops them, waiting at most the
    /// configured shutdown timeout for them to commit and return.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var stop = new CancellationTokenSource();
        var running = _supervisor.RunAsync(stop.Token);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stop requested
        }

        LogStopping(string.Join(", ", Jobs));
        await stop.CancelAsync().ConfigureAwait(false);
        var timeout = HostSettings.Time(Settings.Supervision.ShutdownTimeout, "supervision.shutdownTimeout");
        if (await Task.WhenAny(running, Task.Delay(timeout, CancellationToken.None)).ConfigureAwait(false) != running)
        {
            LogShutdownTimeout(timeout.TotalSeconds, string.Join(", ", Health.Jobs.Where(j => j.State != JobState.Stopped && j.State != JobState.Completed).Select(j => j.Name)));
        }
    }

    /// <summary>Closes the connections and stops the embedded services it started.</summary>
    public async ValueTask DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync().ConfigureAwait(false);
        }

        _owned.Clear();
        _kafka?.Dispose();
        _kafka = null;
    }

    private async Task BuildAsync(IEnumerable<ISupervisedJob> extraJobs, CancellationToken cancellationToken)
    {
        var s = Settings;
        var load = FeatureRepositoryLoader.Load(s.Repository);
        if (!load.Success)
        {
            throw new HostConfigurationException($"{s.Repository}: invalid repository:\n" + string.Join("\n", load.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        }

        var repository = load.Repository!;
        var compiled = CompiledRepository.Compile(repository);

        BootstrapServers = s.Kafka.BootstrapServers;
        if (string.IsNullOrWhiteSpace(BootstrapServers) || string.Equals(BootstrapServers, "embedded", StringComparison.OrdinalIgnoreCase))
        {
            _kafka = EmbeddedKafkaCluster.Start();
            BootstrapServers = _kafka.BootstrapServers;
            // Label topics too: a consumer subscribed to a topic that does not exist yet sees it only at its next
            // metadata refresh (5 minutes by default), so labels produced after the start would wait that long.
            var topics = repository.Sources.Select(x => x.Topic)
                .Concat(repository.Models.Select(m => m.Prediction.Topic))
                .Concat(repository.Models.Where(m => m.Labels is not null).Select(m => m.Labels!.Topic))
                .Distinct(StringComparer.Ordinal);
            foreach (var topic in topics)
            {
                _kafka.CreateTopic(topic, Math.Max(1, _extensions.EmbeddedTopicPartitions.GetValueOrDefault(topic, s.Kafka.EmbeddedPartitions)));
            }

            LogEmbeddedKafka(BootstrapServers);
        }

        // Jobs share one client that tolerates an unreachable store at start (they retry); serving gets its own,
        // set up to fail lookups fast while the store is away.
        var store = await OnlineStoreConnection.ConnectAsync(s.Redis.Configuration, TimeSpan.FromSeconds(10), o => o.AbortOnConnectFail = false).ConfigureAwait(false);
        _owned.Add(store);
        Store = store;
        RedisEndpoint = store.Endpoint;
        if (store.IsEmbedded)
        {
            LogEmbeddedRedis(RedisEndpoint);
        }

        // Before the jobs exist: ingest and the archiver read the history's cut-over when they start.
        var prefix = s.Redis.KeyPrefix;
        await ImportDeclaredHistoryAsync(compiled, store, prefix, cancellationToken).ConfigureAwait(false);
        await ApplyAtFirstStartAsync(repository, store, prefix).ConfigureAwait(false);

        // Before any job measures anything: .NET meters reach /metrics only once prometheus-net listens to them.
        await FeatureServer.StartMeterExportAsync().ConfigureAwait(false);
        var jobs = new List<ISupervisedJob>();
        if (s.Jobs.Ingest.Enabled)
        {
            var metrics = IngestMetrics = new IngestMetrics();
            _owned.Add(new AsyncDisposer(metrics));
            jobs.Add(new IngestHostJob(compiled, HostJobOptions.Ingest(s, BootstrapServers, embeddedBroker: _kafka is not null), store, prefix, metrics, Loggers.CreateLogger("FeatureStore.Ingest")));
        }

        if (s.Jobs.Offline.Enabled)
        {
            jobs.Add(_offline = new OfflineHostJob(compiled, HostJobOptions.Offline(s, BootstrapServers), Loggers.CreateLogger("FeatureStore.Offline")));
        }

        if (HostJobOptions.RebuildEnabled(s))
        {
            jobs.Add(new RebuildHostJob(HostJobOptions.Rebuild(s, repository.Project), store, Loggers.CreateLogger("FeatureStore.Rebuild")));
        }

        if (s.Jobs.Serve.Enabled)
        {
            jobs.Add(_serve = await ServeJobAsync(repository, store).ConfigureAwait(false));
        }

        if (s.Jobs.Monitor.Enabled)
        {
            var metrics = MonitorMetrics = new MonitorMetrics();
            _owned.Add(new AsyncDisposer(metrics));
            var monitorOptions = HostJobOptions.Monitor(s, BootstrapServers, _extensions);
            jobs.Add(new MonitorHostJob(repository, store, prefix, monitorOptions, metrics, Loggers.CreateLogger("FeatureStore.Monitor")));
            if (PerformanceJob.Models(repository).Count > 0)
            {
                // The label join beside the drift monitor, in its own consumer group, with its own counters.
                var performance = PerformanceJobMetrics = MonitorMetrics.ForPerformance();
                _owned.Add(new AsyncDisposer(performance));
                jobs.Add(new PerformanceHostJob(repository, store, prefix, monitorOptions, performance, Loggers.CreateLogger("FeatureStore.Monitor.Performance")));
            }

            if (QualityJob.Declared(repository))
            {
                // Freshness objectives and quality thresholds, evaluated on their own period with their own counters.
                var quality = QualityJobMetrics = MonitorMetrics.ForQuality();
                _owned.Add(new AsyncDisposer(quality));
                jobs.Add(new QualityHostJob(repository, store, prefix, monitorOptions, quality, Loggers.CreateLogger("FeatureStore.Monitor.Quality")));
            }
        }

        if (s.Jobs.Backfill.Enabled)
        {
            var unknown = s.Jobs.Backfill.Views.Where(v => compiled.Views.All(x => x.Name != v)).ToList();
            if (unknown.Count > 0)
            {
                throw new HostConfigurationException($"jobs.backfill.views: no view {string.Join(", ", unknown)} in the repository");
            }

            jobs.Add(new BackfillHostJob(compiled, s.Jobs.Backfill.Views, s.Offline.Directory,
                HostSettings.Time(s.Jobs.Backfill.Interval, "jobs.backfill.interval"), Loggers.CreateLogger("FeatureStore.Backfill")));
        }

        if (s.Jobs.Compaction.Enabled)
        {
            var unknown = s.Jobs.Compaction.Sources.Where(n => compiled.Sources.All(x => x.Definition.Name != n)).ToList();
            if (unknown.Count > 0)
            {
                throw new HostConfigurationException($"jobs.compaction.sources: no source {string.Join(", ", unknown)} in the repository");
            }

            jobs.Add(new CompactionHostJob(s.Offline.Directory, new EventLogCompactionOptions
            {
                TargetRows = s.Jobs.Compaction.TargetRows,
                Grace = HostSettings.Time(s.Jobs.Compaction.Grace, "jobs.compaction.grace"),
                Sources = s.Jobs.Compaction.Sources,
            }, HostSettings.Time(s.Jobs.Compaction.Interval, "jobs.compaction.interval"), Loggers.CreateLogger("FeatureStore.Compaction")));
        }

        jobs.AddRange(extraJobs);
        Jobs = [.. jobs.Select(j => j.Name)];
        _supervisor = new JobSupervisor(jobs, new SupervisionOptions
        {
            InitialBackoff = HostSettings.Time(s.Supervision.InitialBackoff, "supervision.initialBackoff"),
            MaxBackoff = HostSettings.Time(s.Supervision.MaxBackoff, "supervision.maxBackoff"),
            ResetAfter = HostSettings.Time(s.Supervision.ResetAfter, "supervision.resetAfter"),
        }, Health, Loggers.CreateLogger("FeatureStore.Host.Supervisor"));

        if (!s.Jobs.Serve.Enabled && s.Health.Port > 0)
        {
            _owned.Add(await HealthEndpoint.StartAsync(HostSettings.Address(s.Health.Listen, "health.listen"), s.Health.Port, Health, Loggers, CancellationToken.None).ConfigureAwait(false));
        }
        else if (!s.Jobs.Serve.Enabled && s.Jobs.Ingest.Enabled && s.Jobs.Ingest.MetricsPort > 0)
        {
            var exporter = new Prometheus.MetricServer(port: s.Jobs.Ingest.MetricsPort).Start();
            _owned.Add(new AsyncDisposer(exporter));
        }
    }

    private async Task<ServeHostJob> ServeJobAsync(FeatureRepository repository, OnlineStoreConnection store)
    {
        var options = HostJobOptions.Serve(Settings, repository, BootstrapServers);
        var timeout = options.StoreTimeout;
        var client = await OnlineStoreConnection.ConnectAsync(store.Endpoint, timeout, o =>
        {
            FeatureServer.ConfigureStoreClient(o, timeout);
            o.AbortOnConnectFail = false;
        }).ConfigureAwait(false);
        _owned.Add(client);
        return new ServeHostJob(options, client, Health, Loggers, () => Jobs);
    }

    // The registry is what every job follows (ingest, rebuild and serve): the file is applied when nothing is yet,
    // and otherwise left to `featurestore apply`, so a restart with an older file never undoes an apply made since.
    private async Task ApplyAtFirstStartAsync(FeatureRepository repository, OnlineStoreConnection store, string prefix)
    {
        var registry = new RegistryStore(store.Database, prefix);
        var current = await registry.GetCurrentAsync(repository.Project).ConfigureAwait(false);
        if (current is null)
        {
            var applied = await registry.ApplyAsync(repository, await File.ReadAllTextAsync(Settings.Repository).ConfigureAwait(false)).ConfigureAwait(false);
            LogApplied(Settings.Repository, repository.Project, applied.Version);
        }
        else if (current.ContentHash != repository.ContentHash())
        {
            LogRegistryDiffers(repository.Project, current.Version, Settings.Repository);
        }
    }

    [LoggerMessage(16, LogLevel.Information, "{Repository} applied to the registry of project {Project} as version {Version} (nothing was applied yet)")]
    private partial void LogApplied(string repository, string project, long version);

    [LoggerMessage(17, LogLevel.Warning, "the registry's current version {Version} of project {Project} differs from {Repository}: the jobs follow the registry; apply the file to change it")]
    private partial void LogRegistryDiffers(string project, long version, string repository);

    [LoggerMessage(1, LogLevel.Information, "embedded Kafka (librdkafka mock cluster) at {BootstrapServers}")]
    private partial void LogEmbeddedKafka(string bootstrapServers);

    [LoggerMessage(2, LogLevel.Information, "embedded online store (Garnet) at {Endpoint}")]
    private partial void LogEmbeddedRedis(string endpoint);

    [LoggerMessage(3, LogLevel.Information, "stopping {Jobs}")]
    private partial void LogStopping(string jobs);

    [LoggerMessage(4, LogLevel.Warning, "jobs still running after the shutdown timeout of {Seconds} s: {Jobs}")]
    private partial void LogShutdownTimeout(double seconds, string jobs);

    private sealed class AsyncDisposer(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
