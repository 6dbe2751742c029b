using FeatureStore.Core.Definitions;
using FeatureStore.Host.Supervision;
using FeatureStore.Ingest;
using FeatureStore.Ingest.Archiving;
using FeatureStore.Ingest.Rebuild;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Performance;
using FeatureStore.Monitor.Quality;
using FeatureStore.Redis;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Host.Jobs;

// The jobs that are the existing job classes under supervision: each start builds a fresh instance (a restart
// begins from what the stores hold, as a new process would) and runs it until the stop.

/// <summary>
/// The online ingest job (consumer group → windowed features in the online store, exactly once), on the registry's
/// applied version of the project (the configuration's repository while nothing is applied), moving to each
/// version that changes what it writes.
/// </summary>
internal sealed class IngestHostJob(CompiledRepository repository, IngestOptions options, OnlineStoreConnection store, string keyPrefix, IngestMetrics metrics, ILogger logger) : ISupervisedJob
{
    public string Name => "ingest";

    public Task RunAsync(CancellationToken cancellationToken) =>
        new RegistryFollowingIngest(repository.Repository, options, store.Multiplexer, keyPrefix, metrics, logger).RunAsync(cancellationToken);
}

/// <summary>The offline log writer (every source's events → the Parquet event log, exactly once).</summary>
internal sealed class OfflineHostJob(CompiledRepository repository, OfflineArchiverOptions options, ILogger logger) : ISupervisedJob
{
    public string Name => "offline";

    /// <summary>The archiver of the current start (its counters), null before the first.</summary>
    public OfflineArchiver? Archiver { get; private set; }

    public Task RunAsync(CancellationToken cancellationToken) =>
        (Archiver = new OfflineArchiver(repository, options, logger)).RunAsync(cancellationToken);
}

/// <summary>The rebuild of changed views' state groups from the event log, and their switch (docs/evolution.md).</summary>
internal sealed class RebuildHostJob(RebuildJobOptions options, OnlineStoreConnection store, ILogger logger) : ISupervisedJob
{
    public string Name => "rebuild";

    public Task RunAsync(CancellationToken cancellationToken) => new RebuildJob(store.Database, options, logger).RunAsync(cancellationToken);
}

/// <summary>The drift monitor.</summary>
internal sealed class MonitorHostJob(FeatureRepository repository, OnlineStoreConnection store, string keyPrefix, MonitorOptions options, MonitorMetrics metrics, ILogger logger) : ISupervisedJob
{
    public string Name => "monitor";

    public Task RunAsync(CancellationToken cancellationToken) =>
        new MonitorJob(repository, store.Database, keyPrefix, options, metrics, logger).RunAsync(cancellationToken);
}

/// <summary>The performance monitor's label join and windows (<see cref="PerformanceJob"/>), beside the drift monitor.</summary>
internal sealed class PerformanceHostJob(FeatureRepository repository, OnlineStoreConnection store, string keyPrefix, MonitorOptions options, MonitorMetrics metrics, ILogger logger) : ISupervisedJob
{
    public string Name => "performance";

    public Task RunAsync(CancellationToken cancellationToken) =>
        new PerformanceJob(repository, store.Database, keyPrefix, options, metrics, logger).RunAsync(cancellationToken);
}

/// <summary>The freshness and data-quality evaluator (<see cref="QualityJob"/>), beside the drift monitor.</summary>
internal sealed class QualityHostJob(FeatureRepository repository, OnlineStoreConnection store, string keyPrefix, MonitorOptions options, MonitorMetrics metrics, ILogger logger) : ISupervisedJob
{
    public string Name => "quality";

    public Task RunAsync(CancellationToken cancellationToken) =>
        new QualityJob(repository, store.Database, keyPrefix, options, metrics, logger).RunAsync(cancellationToken);
}
