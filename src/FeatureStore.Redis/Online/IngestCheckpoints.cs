using System.Globalization;
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

    /// <summary>Where ingest began writing a building group for a partition (its mark), or null when it has not yet.</summary>
    public async Task<long?> ReadBuildStartAsync(string view, string signature, string topic, int partition)
    {
        var value = await database.HashGetAsync(_key, OnlineKeys.BuildStartField(view, signature, topic, partition)).ConfigureAwait(false);
        return value.IsNull ? null : (long)value;
    }

    /// <summary>
    /// Starts a batch's <paramref name="script"/> on these checkpoints: the checks (each partition's expected
    /// checkpoint, null when it must be absent), the moves (each partition's new one) and the marks (where the
    /// batch begins writing a group being built, kept only by the first batch that records it).
    /// </summary>
    public void Start(
        BatchWriteScript script,
        IEnumerable<(string Topic, int Partition, string? Expected)> checks,
        IEnumerable<(string Topic, int Partition, string Value)> moves,
        IEnumerable<BuildStartMark>? marks = null)
    {
        ArgumentNullException.ThrowIfNull(script);
        script.Start(
            _key,
            [.. checks.Select(c => (OnlineKeys.PartitionField(c.Topic, c.Partition), c.Expected))],
            [.. moves.Select(m => (OnlineKeys.PartitionField(m.Topic, m.Partition), m.Value))],
            marks is null ? null : [.. marks.Select(m => (OnlineKeys.BuildStartField(m.View, m.Signature, m.Topic, m.Partition), m.Offset.ToString(CultureInfo.InvariantCulture)))]);
    }
}

/// <summary>
/// A batch's record of where ingest began writing a building group for one partition (O_p in docs/evolution.md):
/// field <see cref="OnlineKeys.BuildStartField"/> of the checkpoint hash, set only when absent.
/// </summary>
/// <param name="View">The view.</param>
/// <param name="Signature">The building group's signature.</param>
/// <param name="Topic">The source topic.</param>
/// <param name="Partition">The partition.</param>
/// <param name="Offset">The offset the batch starts at for the partition (its expected checkpoint's next offset, 0 without one).</param>
public readonly record struct BuildStartMark(string View, string Signature, string Topic, int Partition, long Offset);
