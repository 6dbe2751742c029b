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
    /// Seals the buffered events as a batch and starts building, in the background, the write of the states
    /// they touched and the new checkpoints: one atomic script on condition that each partition's stored
    /// checkpoint still equals <paramref name="expected"/>. Nothing is sent yet (<see cref="PreparedWrite.Built"/>
    /// completes when it can be); events added from now on belong to the next batch, which builds on this
    /// one's states as if they were written. Reads the states not in memory first, so it throws when the store
    /// is unreachable; no write of this member that is not landed holds them, so the reads may go before the
    /// batch built earlier is sent (and do not wait behind its write). Finishes building that batch first.
    /// </summary>
    Task<PreparedWrite> PrepareAsync(
        IReadOnlyDictionary<TopicPartition, PartitionCheckpoint?> expected,
        IReadOnlyDictionary<TopicPartition, PartitionCheckpoint> next,
        CancellationToken cancellationToken);

    /// <summary>Sends a built write (after the previous one completed), without waiting for its reply.</summary>
    void Send(PreparedWrite write);

    /// <summary>
    /// Waits for a sent write. Returns the partitions of a write whose condition failed (fenced: another
    /// member owns one of them now; nothing of the write landed), or none. Throws when the store is
    /// unreachable (the write may or may not have landed). After either failure the caller calls
    /// <see cref="Reset"/> and resumes every partition from its stored checkpoint.
    /// </summary>
    Task<IReadOnlyList<TopicPartition>> CompleteAsync(PreparedWrite write);

    /// <summary>Drops every buffered event and cached state (after a failed write: the store is the truth).</summary>
    void Reset();

    /// <summary>Drops buffered events and cached state of a partition (revoked or fenced).</summary>
    void Forget(TopicPartition partition);
}

/// <summary>A batch's write, built by <see cref="IEventApplier.PrepareAsync"/>, then sent and completed.</summary>
internal sealed class PreparedWrite(BatchWriteScript script, IReadOnlyList<TopicPartition> partitions, Task built, Action help)
{
    public BatchWriteScript Script { get; } = script;

    /// <summary>Completes when the script's arguments hold every state (faults when building failed).</summary>
    public Task Built { get; } = built;

    /// <summary>Takes part in the build on the calling thread until nothing is left to take, then waits for the rest (built by others).</summary>
    public Task FinishBuildAsync()
    {
        help();
        return Built;
    }

    /// <summary>The partitions whose checkpoints the write moves.</summary>
    public IReadOnlyList<TopicPartition> Partitions { get; } = partitions;

    /// <summary>The batch's number (batches are numbered in the order they are sealed).</summary>
    public long Batch { get; init; }

    /// <summary>What building it took, once it is built.</summary>
    public BatchBuild? Figures { get; set; }

    /// <summary>The script's reply, once sent.</summary>
    public Task<StackExchange.Redis.RespResult>? Execution { get; set; }
}
