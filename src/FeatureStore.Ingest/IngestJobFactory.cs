using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Quality;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Ingest;

/// <summary>Builds an ingest job for a compiled repository over an online store.</summary>
public static class IngestJobFactory
{
    /// <summary>
    /// A job consuming every source of <paramref name="repository"/> that feeds a view, writing to
    /// <paramref name="database"/> under <paramref name="keyPrefix"/>. Lateness and future skew come from the
    /// repository's settings.
    /// </summary>
    public static IngestJob Create(
        CompiledRepository repository,
        IngestOptions options,
        IDatabase database,
        string keyPrefix,
        IngestMetrics metrics,
        ILogger logger,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(options);
        Kafka.SchemaRegistry.SchemaRegistryResolvers.Attach(repository);
        var settings = repository.Repository.Settings;
        var effective = new IngestOptions
        {
            BootstrapServers = options.BootstrapServers,
            GroupId = options.GroupId,
            MaxBatchEvents = options.MaxBatchEvents,
            MaxBatchDelay = options.MaxBatchDelay,
            FetchWait = options.FetchWait,
            AllowedLateness = TimeSpan.FromMilliseconds(settings.AllowedLatenessMs),
            MaxFutureSkew = TimeSpan.FromMilliseconds(settings.MaxFutureSkewMs),
            MaxCachedStates = options.MaxCachedStates,
            BuildInBackground = options.BuildInBackground,
            RetryInitialDelay = options.RetryInitialDelay,
            RetryMaxDelay = options.RetryMaxDelay,
            SessionTimeout = options.SessionTimeout,
            StatusInterval = options.StatusInterval,
            KafkaSettings = options.KafkaSettings,
        };
        var keys = new OnlineKeys(keyPrefix, repository.Repository.Project);
        var writer = new OnlineTileWriter(database, keys, effective.GroupId, settings.AllowedLatenessMs, effective.MaxCachedStates)
        {
            BuildInBackground = effective.BuildInBackground,
            Building = OnlineTileWriter.BuildingGroupsByTopic(repository),
        };
        var sources = repository.Sources.Select(s => new SourceBinding(s.Definition.Name, s.Definition.Topic, s.Definition.DeadLetterTopic, s.Schema, s)
        {
            HistoryBeforeMs = History.HistoryOnlineWriter.StoredCutover(database, keys, s.Definition.Name),
        }).ToList();
        var quality = new QualityCounts(database, new QualityKeys(keyPrefix, repository.Repository.Project));
        var status = new IngestStatusWriter(new IngestStatusStore(database, keys, effective.GroupId), effective.StatusInterval, metrics.Quality, quality);
        return new IngestJob(effective, sources, writer, metrics, logger, timeProvider, status);
    }
}
