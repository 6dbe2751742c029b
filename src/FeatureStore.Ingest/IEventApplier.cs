using Confluent.Kafka;
using FeatureStore.Core.Events;

namespace FeatureStore.Ingest;

/// <summary>
/// Turns accepted events into online state: buffers a batch, then writes it together with the partition
/// checkpoints in one atomic step. Implemented over the online store by <c>OnlineTileWriter</c>.
/// </summary>
internal interface IEventApplier
{
    /// <summary>Reads the checkpoint of a partition (null when the partition was never consumed).</summary>
    Task<PartitionCheckpoint?> LoadCheckpointAsync(TopicPartition partition, CancellationToken cancellationToken);

    /// <summary>
    /// Reads the checkpoint of a partition synchronously, inside a rebalance callback (where no await is
    /// possible); false when the store cannot be reached right now.
    /// </summary>
    bool TryLoadCheckpoint(TopicPartition partition, out PartitionCheckpoint? checkpoint);

    /// <summary>Buffers one accepted event; <paramref name="parser"/> holds it until the next parse.</summary>
    void Add(SourceBinding source, TopicPartition partition, long offset, EventParser parser);

    /// <summary>
    /// Applies the buffered events and writes the states they touched and the new checkpoints in one
    /// transaction, on condition that each partition's stored checkpoint still equals
    /// <paramref name="expected"/>. Returns the partitions whose condition failed (fenced: another member
    /// owns them now, or an earlier ambiguous write landed). Throws when the store is unreachable; the
    /// buffered batch is kept, so calling again retries the same write.
    /// </summary>
    Task<IReadOnlyList<TopicPartition>> CommitAsync(
        IReadOnlyDictionary<TopicPartition, PartitionCheckpoint?> expected,
        IReadOnlyDictionary<TopicPartition, PartitionCheckpoint> next,
        CancellationToken cancellationToken);

    /// <summary>Drops buffered events and cached state of a partition (revoked or fenced).</summary>
    void Forget(TopicPartition partition);
}
