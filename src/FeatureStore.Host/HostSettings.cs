using System.Net;
using FeatureStore.Core.Definitions;

namespace FeatureStore.Host;

/// <summary>
/// The host's configuration (<c>featurestore run -c FILE</c>): a YAML or JSON file, then environment variables
/// <c>FEATURESTORE__SECTION__KEY</c> over it. Keys are case-insensitive; durations are written as in the
/// repository file (<c>250ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>). Every key and its default: docs/host.md.
/// </summary>
public sealed class HostSettings
{
    /// <summary>The feature repository file, relative to the configuration file.</summary>
    public string Repository { get; set; } = "featurestore.yaml";

    /// <summary>The online store.</summary>
    public RedisSettings Redis { get; set; } = new();

    /// <summary>The Kafka cluster.</summary>
    public KafkaSettings Kafka { get; set; } = new();

    /// <summary>The offline store.</summary>
    public OfflineSettings Offline { get; set; } = new();

    /// <summary>Console logs.</summary>
    public LogSettings Log { get; set; } = new();

    /// <summary>The health endpoint when the serve job is not enabled.</summary>
    public HealthSettings Health { get; set; } = new();

    /// <summary>Restarts and shutdown.</summary>
    public SupervisionSettings Supervision { get; set; } = new();

    /// <summary>The jobs and their settings.</summary>
    public JobsSettings Jobs { get; set; } = new();

    /// <summary>The retraining trigger and the model registry's polling.</summary>
    public ModelsSettings Models { get; set; } = new();

    /// <summary>Reads a duration setting, or says which key is wrong.</summary>
    internal static TimeSpan Time(string? text, string key) =>
        Duration.TryParse(text, out var ms, out var hint) ? TimeSpan.FromMilliseconds(ms)
        : throw new HostConfigurationException($"{key}: '{text}' is not a duration ({hint})");

    /// <summary>Reads an address setting, or says which key is wrong.</summary>
    internal static IPAddress Address(string text, string key) =>
        IPAddress.TryParse(text, out var address) ? address : throw new HostConfigurationException($"{key}: '{text}' is not an IP address");
}

/// <summary>Online store settings.</summary>
public sealed class RedisSettings
{
    /// <summary><c>embedded</c> (Garnet in this process) or a StackExchange.Redis configuration string.</summary>
    public string Configuration { get; set; } = "embedded";

    /// <summary>Prefix of every key.</summary>
    public string KeyPrefix { get; set; } = "fs";
}

/// <summary>Kafka settings.</summary>
public sealed class KafkaSettings
{
    /// <summary><c>embedded</c> (librdkafka's mock cluster in this process) or the bootstrap servers.</summary>
    public string BootstrapServers { get; set; } = "embedded";

    /// <summary>Partitions of each topic the embedded cluster creates.</summary>
    public int EmbeddedPartitions { get; set; } = 4;

    /// <summary>How soon a consumer group notices a member that died.</summary>
    public string SessionTimeout { get; set; } = "10s";

    /// <summary>Extra librdkafka settings for every client (security, SASL…).</summary>
    public Dictionary<string, string> Settings { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Offline store settings.</summary>
public sealed class OfflineSettings
{
    /// <summary>The folder of Parquet files, relative to the configuration file.</summary>
    public string Directory { get; set; } = "offline";
}

/// <summary>Log settings.</summary>
public sealed class LogSettings
{
    /// <summary><c>simple</c> (one line per entry) or <c>json</c> (one JSON object per line, for log collectors).</summary>
    public string Format { get; set; } = "simple";

    /// <summary>Least level written: Trace, Debug, Information, Warning, Error.</summary>
    public string Level { get; set; } = "Information";
}

/// <summary>Health endpoint settings (used when the serve job is off: its ports answer otherwise).</summary>
public sealed class HealthSettings
{
    /// <summary>Address to listen on.</summary>
    public string Listen { get; set; } = "127.0.0.1";

    /// <summary>Port of <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c>; 0 for none.</summary>
    public int Port { get; set; }
}

/// <summary>Supervision settings.</summary>
public sealed class SupervisionSettings
{
    /// <summary>Delay before the first restart of a failed job.</summary>
    public string InitialBackoff { get; set; } = "1s";

    /// <summary>Longest delay between restarts (the delay doubles up to it).</summary>
    public string MaxBackoff { get; set; } = "1m";

    /// <summary>A job that ran this long since its last start gets the initial delay again when it fails.</summary>
    public string ResetAfter { get; set; } = "1m";

    /// <summary>How long a stop (SIGTERM, Ctrl-C) waits for the jobs to commit and return.</summary>
    public string ShutdownTimeout { get; set; } = "30s";
}

/// <summary>The jobs.</summary>
public sealed class JobsSettings
{
    /// <summary>The online ingest job.</summary>
    public IngestJobSettings Ingest { get; set; } = new();

    /// <summary>The offline event-log writer.</summary>
    public OfflineJobSettings Offline { get; set; } = new();

    /// <summary>The serving host.</summary>
    public ServeJobSettings Serve { get; set; } = new();

    /// <summary>The drift monitor.</summary>
    public MonitorJobSettings Monitor { get; set; } = new();

    /// <summary>Scheduled backfills of tile snapshots.</summary>
    public BackfillJobSettings Backfill { get; set; } = new();

    /// <summary>Scheduled compaction of the offline event log.</summary>
    public CompactionJobSettings Compaction { get; set; } = new();

    /// <summary>The rebuild of changed views' state groups from the event log, and their switch.</summary>
    public RebuildJobSettings Rebuild { get; set; } = new();
}

/// <summary>Ingest job settings.</summary>
public sealed class IngestJobSettings
{
    /// <summary>Run it.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Consumer group.</summary>
    public string Group { get; set; } = "featurestore-ingest";

    /// <summary>Most events per batch.</summary>
    public int BatchEvents { get; set; } = 100_000;

    /// <summary>Port of a Prometheus endpoint for the ingest meters when neither serve nor health runs; 0 for none.</summary>
    public int MetricsPort { get; set; }
}

/// <summary>Offline writer settings.</summary>
public sealed class OfflineJobSettings
{
    /// <summary>Run it.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Consumer group.</summary>
    public string Group { get; set; } = "featurestore-ingest.offline";

    /// <summary>Most events per event-log batch.</summary>
    public int BatchEvents { get; set; } = 50_000;

    /// <summary>Longest wait before a batch is written.</summary>
    public string BatchDelay { get; set; } = "1s";
}

/// <summary>Serve job settings.</summary>
public sealed class ServeJobSettings
{
    /// <summary>Run it.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Address to listen on (0.0.0.0 in a container).</summary>
    public string Listen { get; set; } = "127.0.0.1";

    /// <summary>gRPC port.</summary>
    public int GrpcPort { get; set; } = 6566;

    /// <summary>HTTP port (JSON lookups, health, metrics).</summary>
    public int HttpPort { get; set; } = 6567;

    /// <summary>API keys (<c>KEY</c> or <c>KEY:view_a,view_b</c>); none means open.</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>
    /// <c>auto</c> (pipeline on Redis Cluster, script otherwise), <c>script</c> (one EVALSHA; single server),
    /// <c>transaction</c> (one MULTI/EXEC; single server) or <c>pipeline</c> (any store).
    /// </summary>
    public string ReadStrategy { get; set; } = "auto";

    /// <summary>Most entity rows per lookup.</summary>
    public int MaxEntities { get; set; } = 1000;

    /// <summary>How long a lookup waits for the online store.</summary>
    public string StoreTimeout { get; set; } = "1s";
}

/// <summary>Monitor job settings.</summary>
public sealed class MonitorJobSettings
{
    /// <summary>Run it.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Consumer group.</summary>
    public string Group { get; set; } = "featurestore-monitor";

    /// <summary>Use thresholds learned from the training data where the monitor sets none.</summary>
    public bool LearnedThresholds { get; set; }

    /// <summary>Base of the drift-history link in alerts.</summary>
    public string HistoryUrl { get; set; } = "http://localhost:6567/v1/drift/history";

    /// <summary>Also keep the whole drift history as Parquet in this folder; null: the online store's newest windows only.</summary>
    public string? HistoryDirectory { get; set; }

    /// <summary>How often freshness objectives and data-quality thresholds are evaluated (docs/quality.md).</summary>
    public string QualityInterval { get; set; } = "30s";

    /// <summary>The link in freshness and quality alerts.</summary>
    public string QualityUrl { get; set; } = "http://localhost:6567/v1/quality";
}

/// <summary>Scheduled backfill settings.</summary>
public sealed class BackfillJobSettings
{
    /// <summary>Run it.</summary>
    public bool Enabled { get; set; }

    /// <summary>Time between two backfills (the first runs this long after start).</summary>
    public string Interval { get; set; } = "1h";

    /// <summary>Views to backfill; empty for every view.</summary>
    public List<string> Views { get; set; } = [];
}

/// <summary>Scheduled compaction settings.</summary>
public sealed class CompactionJobSettings
{
    /// <summary>Run it.</summary>
    public bool Enabled { get; set; }

    /// <summary>Time between two compactions (the first runs this long after start).</summary>
    public string Interval { get; set; } = "1h";

    /// <summary>Most rows per compacted file.</summary>
    public long TargetRows { get; set; } = 1_000_000;

    /// <summary>How long replaced files stay for readers that listed them before a compaction's switch.</summary>
    public string Grace { get; set; } = "1h";

    /// <summary>Sources to compact; empty for every source.</summary>
    public List<string> Sources { get; set; } = [];
}

/// <summary>Rebuild job settings (docs/evolution.md).</summary>
public sealed class RebuildJobSettings
{
    /// <summary>
    /// Run it; unset: on exactly when the ingest job and the offline log writer are both enabled (the rebuild
    /// reads that group's checkpoints and that log).
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>How often a rebuild looks again while it waits for ingest's start offsets or for the event log.</summary>
    public string PollInterval { get; set; } = "5s";

    /// <summary>How often the registry is read besides its change notifications.</summary>
    public string RegistryPollInterval { get; set; } = "30s";

    /// <summary>The folder sorted runs are spilled to while a rebuild sorts the log by entity; unset: the system's temporary folder.</summary>
    public string? SpillDirectory { get; set; }
}

/// <summary>Model registry and retraining settings.</summary>
public sealed class ModelsSettings
{
    /// <summary>Consecutive drifted windows that fire a retraining request; 0 for off.</summary>
    public int RetrainAfterWindows { get; set; }

    /// <summary>The webhook (a name from the repository's <c>alerts</c>) retraining requests go to.</summary>
    public string? RetrainWebhook { get; set; }

    /// <summary>How often the monitor reads the model registry besides its change notifications.</summary>
    public string StagePollInterval { get; set; } = "5s";
}

/// <summary>A configuration value is missing or wrong.</summary>
public sealed class HostConfigurationException(string message) : Exception(message);
