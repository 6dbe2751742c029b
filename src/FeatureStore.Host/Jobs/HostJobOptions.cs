using FeatureStore.Core.Definitions;
using FeatureStore.Ingest;
using FeatureStore.Ingest.Archiving;
using FeatureStore.Ingest.Rebuild;
using FeatureStore.Monitor.Job;
using FeatureStore.Redis.Online;
using FeatureStore.Serving;

namespace FeatureStore.Host.Jobs;

/// <summary>
/// The one mapping from host settings to each job's options: the host builds its jobs with it, and the
/// single-job commands (<c>ingest</c>, <c>monitor</c>) fill a <see cref="HostSettings"/> from their flags and
/// ask it too, so a job is configured the same way whichever command starts it.
/// </summary>
public static class HostJobOptions
{
    /// <summary>
    /// The online ingest job's options (<see cref="IngestJobSettings"/>, the Kafka settings). On the embedded broker
    /// (<paramref name="embeddedBroker"/>), which answers an empty fetch only at the end of <c>fetch.wait.max.ms</c>,
    /// fetches wait 10 ms rather than librdkafka's 500 (unless the Kafka settings name it).
    /// </summary>
    /// <exception cref="HostConfigurationException">A duration is not one.</exception>
    public static IngestOptions Ingest(HostSettings settings, string bootstrapServers, bool embeddedBroker = false)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new IngestOptions
        {
            BootstrapServers = bootstrapServers,
            GroupId = settings.Jobs.Ingest.Group,
            MaxBatchEvents = Math.Max(1, settings.Jobs.Ingest.BatchEvents),
            SessionTimeout = SessionTimeout(settings),
            FetchWait = embeddedBroker ? EmbeddedFetchWait : null,
            KafkaSettings = settings.Kafka.Settings,
        };
    }

    /// <summary>How long ingest's fetches wait on the embedded broker.</summary>
    public static TimeSpan EmbeddedFetchWait { get; } = TimeSpan.FromMilliseconds(10);

    /// <summary>The offline log writer's options (<see cref="OfflineJobSettings"/>, the offline folder, the Kafka settings).</summary>
    /// <exception cref="HostConfigurationException">A duration is not one.</exception>
    public static OfflineArchiverOptions Offline(HostSettings settings, string bootstrapServers)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new OfflineArchiverOptions
        {
            BootstrapServers = bootstrapServers,
            Directory = settings.Offline.Directory,
            GroupId = settings.Jobs.Offline.Group,
            MaxBatchEvents = Math.Max(1, settings.Jobs.Offline.BatchEvents),
            MaxBatchDelay = HostSettings.Time(settings.Jobs.Offline.BatchDelay, "jobs.offline.batchDelay"),
            SessionTimeout = SessionTimeout(settings),
            KafkaSettings = settings.Kafka.Settings,
        };
    }

    /// <summary>
    /// The drift monitor's options (<see cref="MonitorJobSettings"/>, <see cref="ModelsSettings"/>), with what
    /// <paramref name="extensions"/> sets beside them.
    /// </summary>
    /// <exception cref="HostConfigurationException">A duration is not one.</exception>
    public static MonitorOptions Monitor(HostSettings settings, string bootstrapServers, HostExtensions? extensions = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var defaults = new MonitorOptions { BootstrapServers = bootstrapServers };
        return new MonitorOptions
        {
            BootstrapServers = bootstrapServers,
            GroupId = settings.Jobs.Monitor.Group,
            SessionTimeout = SessionTimeout(settings),
            UseLearnedThresholds = settings.Jobs.Monitor.LearnedThresholds,
            HistoryUrl = settings.Jobs.Monitor.HistoryUrl,
            HistoryDirectory = settings.Jobs.Monitor.HistoryDirectory,
            QualityInterval = QualityInterval(settings),
            QualityUrl = settings.Jobs.Monitor.QualityUrl,
            RetrainAfterWindows = settings.Models.RetrainAfterWindows,
            RetrainWebhook = settings.Models.RetrainWebhook,
            ModelStagePollInterval = HostSettings.Time(settings.Models.StagePollInterval, "models.stagePollInterval"),
            Secrets = extensions?.WebhookSecrets ?? defaults.Secrets,
            OutboxPollInterval = extensions?.AlertPollInterval ?? defaults.OutboxPollInterval,
        };
    }

    /// <summary>The serve job's options (<see cref="ServeJobSettings"/>, the key prefix) for <paramref name="repository"/>.</summary>
    /// <exception cref="HostConfigurationException">An API key, the listen address or a duration is wrong.</exception>
    /// <param name="settings">The host's settings.</param>
    /// <param name="repository">The repository served.</param>
    /// <param name="bootstrapServers">The Kafka cluster pushed events go to (push is off when null).</param>
    public static FeatureServerOptions Serve(HostSettings settings, FeatureRepository repository, string? bootstrapServers = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var serve = settings.Jobs.Serve;
        ApiKey[] keys;
        try
        {
            keys = [.. serve.ApiKeys.Select(ApiKey.Parse)];
        }
        catch (ArgumentException ex)
        {
            throw new HostConfigurationException($"jobs.serve.apiKeys: {ex.Message}");
        }

        // The registry's current version, as ingest and rebuild follow it (the host applies the file when nothing is).
        return new FeatureServerOptions
        {
            Project = repository.Project,
            KeyPrefix = settings.Redis.KeyPrefix,
            ListenAddress = HostSettings.Address(serve.Listen, "jobs.serve.listen"),
            GrpcPort = serve.GrpcPort,
            HttpPort = serve.HttpPort,
            MaxEntities = serve.MaxEntities,
            StoreTimeout = HostSettings.Time(serve.StoreTimeout, "jobs.serve.storeTimeout"),
            ModelStagePollInterval = HostSettings.Time(settings.Models.StagePollInterval, "models.stagePollInterval"),
            ApiKeys = keys,
            Push = bootstrapServers is null ? null : new PushOptions
            {
                BootstrapServers = bootstrapServers,
                IngestGroup = settings.Jobs.Ingest.Group,
                KafkaSettings = settings.Kafka.Settings,
            },
            ReadStrategy = serve.ReadStrategy switch
            {
                "script" => OnlineReadStrategy.Script,
                "pipeline" => OnlineReadStrategy.Pipeline,
                "transaction" => OnlineReadStrategy.Transaction,
                _ => OnlineReadStrategy.Auto,
            },
        };
    }

    /// <summary>Whether the rebuild job runs: <see cref="RebuildJobSettings.Enabled"/>, else when both ingest and the offline log writer run.</summary>
    public static bool RebuildEnabled(HostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.Jobs.Rebuild.Enabled ?? (settings.Jobs.Ingest.Enabled && settings.Jobs.Offline.Enabled);
    }

    /// <summary>
    /// The rebuild job's options (<see cref="RebuildJobSettings"/>) for <paramref name="project"/>: the offline folder's
    /// event log, the ingest group's checkpoints, the key prefix.
    /// </summary>
    /// <exception cref="HostConfigurationException">A duration is not one.</exception>
    public static RebuildJobOptions Rebuild(HostSettings settings, string project)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var rebuild = settings.Jobs.Rebuild;
        return new RebuildJobOptions
        {
            Project = project,
            KeyPrefix = settings.Redis.KeyPrefix,
            RegistryPollInterval = HostSettings.Time(rebuild.RegistryPollInterval, "jobs.rebuild.registryPollInterval"),
            Rebuild = new GroupRebuildOptions
            {
                StoreDirectory = settings.Offline.Directory,
                IngestGroup = settings.Jobs.Ingest.Group,
                PollInterval = HostSettings.Time(rebuild.PollInterval, "jobs.rebuild.pollInterval"),
                SpillDirectory = rebuild.SpillDirectory ?? Path.GetTempPath(),
            },
        };
    }

    private static TimeSpan QualityInterval(HostSettings settings) =>
        HostSettings.Time(settings.Jobs.Monitor.QualityInterval, "jobs.monitor.qualityInterval") is { Ticks: > 0 } interval ? interval
        : throw new HostConfigurationException($"jobs.monitor.qualityInterval: '{settings.Jobs.Monitor.QualityInterval}' is no period: write one such as 30s");

    private static TimeSpan SessionTimeout(HostSettings settings) => HostSettings.Time(settings.Kafka.SessionTimeout, "kafka.sessionTimeout");
}
