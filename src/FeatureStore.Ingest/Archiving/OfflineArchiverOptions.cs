namespace FeatureStore.Ingest.Archiving;

/// <summary>Settings of the offline archiver (the consumer that appends source events to the Parquet event log).</summary>
public sealed class OfflineArchiverOptions
{
    /// <summary>Kafka bootstrap servers.</summary>
    public required string BootstrapServers { get; init; }

    /// <summary>The offline store's root folder.</summary>
    public required string Directory { get; init; }

    /// <summary>Consumer group of the archiver (its own: the online job's group with <c>.offline</c> appended).</summary>
    public string GroupId { get; init; } = "featurestore-ingest.offline";

    /// <summary>Most events per committed batch (one file per partition and event date).</summary>
    public int MaxBatchEvents { get; init; } = 50_000;

    /// <summary>Longest time a batch collects events before it is written.</summary>
    public TimeSpan MaxBatchDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Kafka session timeout.</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Extra librdkafka consumer settings (e.g. security).</summary>
    public IReadOnlyDictionary<string, string> KafkaSettings { get; init; } = new Dictionary<string, string>();
}
