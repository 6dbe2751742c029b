using Confluent.Kafka;

namespace FeatureStore.Kafka.Consuming;

/// <summary>
/// What a job does when its <see cref="GroupMember"/>'s partitions change, called on the consuming thread inside
/// Consume (and Close): nothing may be thrown from here.
/// </summary>
public interface IRebalanceListener
{
    /// <summary>Partitions were assigned; returns where each starts (<see cref="Offset.Unset"/>: the committed offset).</summary>
    IEnumerable<TopicPartitionOffset> Assigned(List<TopicPartition> partitions);

    /// <summary>Partitions were revoked (given up in a rebalance; their offsets may still be committed).</summary>
    void Revoked(List<TopicPartitionOffset> partitions);

    /// <summary>Partitions were lost (the member left the group unknowingly; committing them would fail).</summary>
    void Lost(List<TopicPartitionOffset> partitions);

    /// <summary>librdkafka reported an error (it retries on its own), or committing failed.</summary>
    void Error(Error error);
}
