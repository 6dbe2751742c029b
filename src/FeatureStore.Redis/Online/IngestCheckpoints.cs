using StackExchange.Redis;

namespace FeatureStore.Redis.Online;

/// <summary>
/// The checkpoints of one ingest consumer group in the online store: a hash, field <c>TOPIC:PARTITION</c>
/// (<see cref="OnlineKeys.Checkpoints"/>). They are read here, and written only by a batch's
/// <see cref="BatchWriteScript"/>, on condition that each is still the one the batch expects. The value's form is
/// the ingest job's; this type stores it as text.
/// </summary>
public sealed class IngestCheckpoints(IDatabase database, OnlineKeys keys, string group)
{
    private readonly RedisKey _key = keys.Checkpoints(group);

    /// <summary>A partition's checkpoint (null when the partition was never written).</summary>
    public async Task<string?> ReadAsync(string topic, int partition)
    {
        var value = await database.HashGetAsync(_key, OnlineKeys.PartitionField(topic, partition)).ConfigureAwait(false);
        return value.IsNull ? null : value.ToString();
    }

    /// <summary>
    /// Reads a partition's checkpoint synchronously (inside a rebalance callback, where no await is possible);
    /// false when the store cannot be reached right now.
    /// </summary>
    public bool TryRead(string topic, int partition, out string? checkpoint)
    {
        try
        {
            var value = database.HashGet(_key, OnlineKeys.PartitionField(topic, partition));
            checkpoint = value.IsNull ? null : value.ToString();
            return true;
        }
        catch (RedisException)
        {
            checkpoint = null;
            return false;
        }
    }

    /// <summary>
    /// Starts a batch's <paramref name="script"/> on these checkpoints: the checks (each partition's expected
    /// checkpoint, null when it must be absent) and the moves (each partition's new one).
    /// </summary>
    public void Start(
        BatchWriteScript script,
        IEnumerable<(string Topic, int Partition, string? Expected)> checks,
        IEnumerable<(string Topic, int Partition, string Value)> moves)
    {
        ArgumentNullException.ThrowIfNull(script);
        script.Start(
            _key,
            [.. checks.Select(c => (OnlineKeys.PartitionField(c.Topic, c.Partition), c.Expected))],
            [.. moves.Select(m => (OnlineKeys.PartitionField(m.Topic, m.Partition), m.Value))]);
    }
}
