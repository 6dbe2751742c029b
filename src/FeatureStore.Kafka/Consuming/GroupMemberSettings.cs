using Confluent.Kafka;

namespace FeatureStore.Kafka.Consuming;

/// <summary>How a <see cref="GroupMember"/> joins its consumer group.</summary>
public sealed class GroupMemberSettings
{
    /// <summary>Kafka bootstrap servers.</summary>
    public required string BootstrapServers { get; init; }

    /// <summary>The consumer group.</summary>
    public required string GroupId { get; init; }

    /// <summary>The client id the broker sees (librdkafka's default when null).</summary>
    public string? ClientId { get; init; }

    /// <summary>Kafka session timeout: how soon the group notices a member that died; heartbeats go five times as often.</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// False (the default): offsets are committed only by <see cref="GroupMember.Commit"/>, after what they cover
    /// is written. True: librdkafka commits, in the background, the offsets the job stored (StoreOffset) itself.
    /// </summary>
    public bool AutoCommitStoredOffsets { get; init; }

    /// <summary>
    /// Cooperative sticky (the default) moves only the partitions that change owner; Range is eager (every
    /// partition is revoked at each rebalance), for a job that keeps nothing across one.
    /// </summary>
    public PartitionAssignmentStrategy Assignment { get; init; } = PartitionAssignmentStrategy.CooperativeSticky;

    /// <summary>The fields librdkafka copies into each result (all when null), e.g. <c>topic</c> alone.</summary>
    public string? ConsumeResultFields { get; init; }

    /// <summary>
    /// The longest a fetch waits at the broker for data (<c>fetch.wait.max.ms</c>; librdkafka's 500 ms when null).
    /// A real broker answers as soon as data arrives; the embedded one answers an empty fetch only at the end of it.
    /// <see cref="KafkaSettings"/> naming <c>fetch.wait.max.ms</c> wins.
    /// </summary>
    public TimeSpan? FetchWait { get; init; }

    /// <summary>Extra librdkafka consumer settings (e.g. security), applied last.</summary>
    public IReadOnlyDictionary<string, string> KafkaSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>The librdkafka configuration these settings make.</summary>
    internal ConsumerConfig ToConfig()
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = BootstrapServers,
            GroupId = GroupId,
            EnableAutoCommit = AutoCommitStoredOffsets,

            // Offsets are stored by the job (auto-commit) or committed explicitly, never as soon as a message is read.
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            PartitionAssignmentStrategy = Assignment,
            SessionTimeoutMs = (int)SessionTimeout.TotalMilliseconds,
            HeartbeatIntervalMs = Math.Max(100, (int)SessionTimeout.TotalMilliseconds / 5),
        };
        if (ClientId is not null)
        {
            config.ClientId = ClientId;
        }

        if (ConsumeResultFields is not null)
        {
            config.ConsumeResultFields = ConsumeResultFields;
        }

        if (FetchWait is { } wait)
        {
            config.FetchWaitMaxMs = Math.Max(0, (int)wait.TotalMilliseconds);
        }

        foreach (var (key, value) in KafkaSettings)
        {
            config.Set(key, value);
        }

        return config;
    }
}
