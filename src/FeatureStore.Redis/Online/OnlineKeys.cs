using System.Globalization;
using FeatureStore.Core.Definitions;
using StackExchange.Redis;

namespace FeatureStore.Redis.Online;

/// <summary>
/// The online store's key layout (documented in the README):
/// <list type="bullet">
/// <item><c>PREFIX:PROJECT:fv:VIEW:SIG:ENTITY</c> — hash of one state group of the view (docs/evolution.md), one
/// field per source partition, <c>TOPIC:PARTITION</c>, holding that partition's share of the entity's windowed
/// state (tiles, recent raw entries), plus <c>history:ID</c> per history import and <c>rebuild</c> for a group
/// built from the event log; expires with the view's ttl. <c>SIG</c> is the group's signature: a view never
/// changed has one group, the short hash of all its features.</item>
/// <item><c>PREFIX:PROJECT:build:VIEW:SIG</c> — hash, the progress of a group being built: <c>state</c>,
/// <c>rows_done</c>, <c>rows_total</c>, <c>updated_ms</c>.</item>
/// <item><c>PREFIX:PROJECT:ingest:GROUP</c> — hash of checkpoints, field <c>TOPIC:PARTITION</c>,
/// value <c>NEXT_OFFSET:WATERMARK</c>, written in the same transaction as the states they cover; and, per group
/// being built, field <c>build:VIEW:SIG:TOPIC:PARTITION</c>, the offset from which ingest wrote that group (set
/// once, by the first batch that wrote it).</item>
/// <item><c>PREFIX:PROJECT:ingest:GROUP:status</c> — hash, field <c>TOPIC:PARTITION</c>, a JSON status of
/// the partition (consumer lag, newest event time, last write) that its owner refreshes every few seconds;
/// <c>PREFIX:PROJECT:ingest:groups</c> — set of the groups that published one.</item>
/// </list>
/// </summary>
public sealed class OnlineKeys(string prefix, string project)
{
    /// <summary>The prefix of every key.</summary>
    public string Prefix { get; } = prefix;

    /// <summary>The project.</summary>
    public string Project { get; } = project;

    /// <summary>The hash of one entity's state in one state group of a view.</summary>
    public RedisKey Entity(StateGroup group, string entityKey) => $"{Prefix}:{Project}:fv:{group.Name}:{group.Signature}:{entityKey}";

    /// <summary>
    /// The part of <see cref="Entity"/> before the entity's key, as UTF-8 bytes: <c>((RedisKey)entityKey).Prepend(prefix)</c>
    /// is the same key, written as these bytes and the entity's, without building a string per key (serving's lookups).
    /// </summary>
    public byte[] EntityPrefix(StateGroup group)
    {
        ArgumentNullException.ThrowIfNull(group);
        return System.Text.Encoding.UTF8.GetBytes($"{Prefix}:{Project}:fv:{group.Name}:{group.Signature}:");
    }

    /// <summary>The field of a group's state rebuilt from the event log (every event before the offsets ingest began writing the group at).</summary>
    public static RedisValue RebuildField => "rebuild";

    /// <summary>The progress of a group being built.</summary>
    public RedisKey Build(string view, string signature) => $"{Prefix}:{Project}:build:{view}:{signature}";

    /// <summary>The checkpoint hash's field holding the offset of a partition from which ingest wrote a group being built.</summary>
    public static RedisValue BuildStartField(string view, string signature, string topic, int partition) =>
        $"build:{view}:{signature}:{topic}:{partition.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The field of one source partition's share.</summary>
    public static RedisValue PartitionField(string topic, int partition) =>
        topic + ":" + partition.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The history imported into a source (<c>featurestore import</c>): hash with <c>cutover_ms</c>, the hand-over
    /// instant (history owns event times before it; ingest skips the stream's events before it), and one field
    /// <c>import:ID</c> per import, its cut-over.
    /// </summary>
    public RedisKey History(string source) => $"{Prefix}:{Project}:history:{source}";

    /// <summary>The checkpoints of an ingest consumer group.</summary>
    public RedisKey Checkpoints(string group) => $"{Prefix}:{Project}:ingest:{group}";

    /// <summary>The status hash an ingest consumer group's members publish (read by the dashboard).</summary>
    public RedisKey IngestStatus(string group) => $"{Prefix}:{Project}:ingest:{group}:status";

    /// <summary>The set of ingest consumer groups that published a status.</summary>
    public RedisKey IngestGroups => $"{Prefix}:{Project}:ingest:groups";
}
