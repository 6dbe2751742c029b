using Confluent.Kafka;
using FeatureStore.Redis.Online;

namespace FeatureStore.Ingest;

/// <summary>A batch's write, built by <see cref="OnlineTileWriter.PrepareAsync"/>, then sent and completed.</summary>
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

    /// <summary>Once sent, whether it landed (true) or a check refused it (false).</summary>
    public Task<bool>? Execution { get; set; }
}
