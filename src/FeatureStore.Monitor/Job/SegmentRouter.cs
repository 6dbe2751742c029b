using System.Runtime.InteropServices;
using System.Text.Json;
using FeatureStore.Monitor.Internal;

namespace FeatureStore.Monitor.Job;

// Which segment window a prediction of a segmented drift monitor (segment_by) goes to. The cap is "top N by
// volume": values are counted per monitor, and a value gets a window of its own while fewer than N values have
// one (at first sight), or when a whole-column window closes and its count passes the smallest kept one (which
// then goes to `other`). Counts are bounded (a Space-Saving table), so 10 000 distinct values cost no more than
// ten. Exactly once: a prediction read again after a restart must go to the window it went to before, so each
// change of routing is recorded with the offsets, per partition, from which it applies, and the whole state is
// persisted with the evaluated offsets of the monitor's windows (in the same transaction).

/// <summary>
/// The segment routing of one drift monitor (model version and column): which values have windows of their
/// own, since which offsets, and how often each value was seen.
/// </summary>
internal sealed class SegmentRouter
{
    /// <summary>The segment of values without a window of their own.</summary>
    public const string Other = "other";

    /// <summary>The segment of predictions without the segment field (or with null in it).</summary>
    public const string Missing = "(missing)";

    private readonly int _cap;
    private readonly int _capacity;

    // Kept value → per partition, the first offset routed to its window (a partition without an entry gets one at
    // its first prediction of the value: before that, none of its predictions of the value went anywhere else).
    private readonly Dictionary<string, Dictionary<PartitionKey, long>> _kept = new(StringComparer.Ordinal);

    // Values evicted, newest last: per partition, the first offset routed to `other` instead (the latest max(16, cap)).
    private readonly List<(string Value, Dictionary<PartitionKey, long> Until)> _evicted = [];

    // Counts of the values in closed whole-column windows (persisted), and in the open one (read again after a restart).
    private readonly Dictionary<string, long> _totals = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _pending = new(StringComparer.Ordinal);

    /// <summary>A router keeping at most <paramref name="cap"/> values apart.</summary>
    public SegmentRouter(int cap)
    {
        _cap = Math.Max(1, cap);
        _capacity = Math.Max(64, 4 * _cap);
    }

    /// <summary>The values with a window of their own.</summary>
    public IReadOnlyCollection<string> Kept => _kept.Keys;

    /// <summary>Values counted (bounded: at most the larger of 64 and 4 × the cap in each of the two tables).</summary>
    public int Tracked => _totals.Count + _pending.Count;

    /// <summary>The count of <paramref name="value"/> over the closed whole-column windows (an estimate once more values than the table holds were seen).</summary>
    public long Total(string value) => _totals.GetValueOrDefault(value);

    /// <summary>
    /// The segment of a prediction whose segment field holds <paramref name="value"/> (null when absent), read at
    /// <paramref name="offset"/> of <paramref name="partition"/>; <paramref name="lastRead"/> (per partition, the
    /// last offset read) dates an admission in the other partitions.
    /// </summary>
    public string Route(string? value, PartitionKey partition, long offset, IReadOnlyDictionary<PartitionKey, long>? lastRead = null)
    {
        if (value is null)
        {
            return Missing;
        }

        if (value is Other or Missing)
        {
            return value;
        }

        if (_kept.TryGetValue(value, out var from))
        {
            ref var first = ref CollectionsMarshal.GetValueRefOrAddDefault(from, partition, out var exists);
            if (!exists)
            {
                first = offset;
            }

            if (offset >= first)
            {
                return value;
            }
        }
        else if (_kept.Count < _cap && !Evicted(value, out _))
        {
            // From here on in every partition read so far (in those, none of the value's predictions went elsewhere
            // unless the cap was lowered or raised since: then its earlier ones, read again, still go to other).
            var admitted = new Dictionary<PartitionKey, long>();
            foreach (var (read, last) in lastRead ?? new Dictionary<PartitionKey, long>())
            {
                admitted[read] = last + 1;
            }

            admitted[partition] = offset;
            _kept[value] = admitted;
            return value;
        }

        // Read again after a restart: a prediction from before the value's eviction goes to its old window.
        return Evicted(value, out var until) && until.TryGetValue(partition, out var end) && offset < end ? value : Other;
    }

    /// <summary>Counts a prediction of the open whole-column window.</summary>
    public void Count(string? value)
    {
        if (value is not null and not Other and not Missing)
        {
            Add(_pending, value, 1);
        }
    }

    /// <summary>
    /// The whole-column window closed: its counts join the totals, and a value whose total passes the smallest
    /// kept one takes that one's place. <paramref name="nextOffsets"/> gives, per partition read, the first offset
    /// the change applies to. Returns the values that lost their window.
    /// </summary>
    public List<string> WindowClosed(IReadOnlyDictionary<PartitionKey, long> nextOffsets)
    {
        foreach (var (value, count) in _pending)
        {
            Add(_totals, value, count);
        }

        _pending.Clear();
        var evicted = new List<string>();
        while (true)
        {
            string? best = null;
            foreach (var (value, count) in _totals)
            {
                if (!_kept.ContainsKey(value) && (best is null || count > _totals[best] || (count == _totals[best] && string.CompareOrdinal(value, best) < 0)))
                {
                    best = value;
                }
            }

            string? smallest = null;
            foreach (var value in _kept.Keys)
            {
                if (smallest is null || Total(value) < Total(smallest) || (Total(value) == Total(smallest) && string.CompareOrdinal(value, smallest) > 0))
                {
                    smallest = value;
                }
            }

            // More kept than the cap (lowered since the routing was stored): the smallest go, one by one.
            var over = _kept.Count > _cap;
            if (!over && (best is null || (_kept.Count >= _cap && _totals[best] <= Total(smallest!))))
            {
                break;
            }

            if (_kept.Count >= _cap)
            {
                _kept.Remove(smallest!);
                _evicted.RemoveAll(e => e.Value == smallest);
                _evicted.Add((smallest!, new Dictionary<PartitionKey, long>(nextOffsets)));
                if (_evicted.Count > Math.Max(16, _cap))
                {
                    _evicted.RemoveAt(0);
                }

                evicted.Add(smallest!);
            }

            if (over)
            {
                continue;
            }

            _kept[best!] = new Dictionary<PartitionKey, long>(nextOffsets);
        }

        return evicted;
    }

    /// <summary>The state to persist with the monitor's evaluated offsets, as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(
        new RoutingState(
            _kept.ToDictionary(k => k.Key, k => Fields(k.Value), StringComparer.Ordinal),
            [.. _evicted.Select(e => new EvictedSegment(e.Value, Fields(e.Until)))],
            new Dictionary<string, long>(_totals, StringComparer.Ordinal)),
        DriftJson.Options);

    /// <summary>A router in the persisted state <paramref name="json"/> (null: a fresh one).</summary>
    public static SegmentRouter FromJson(int cap, string? json)
    {
        var router = new SegmentRouter(cap);
        if (json is null || JsonSerializer.Deserialize<RoutingState>(json, DriftJson.Options) is not { } state)
        {
            return router;
        }

        foreach (var (value, from) in state.Kept ?? [])
        {
            router._kept[value] = Partitions(from);
        }

        foreach (var evicted in state.Evicted ?? [])
        {
            router._evicted.Add((evicted.Value, Partitions(evicted.Until)));
        }

        foreach (var (value, count) in state.Counts ?? [])
        {
            router._totals[value] = count;
        }

        return router;
    }

    private bool Evicted(string value, out Dictionary<PartitionKey, long> until)
    {
        for (var i = _evicted.Count - 1; i >= 0; i--)
        {
            if (_evicted[i].Value == value)
            {
                until = _evicted[i].Until;
                return true;
            }
        }

        until = null!;
        return false;
    }

    // Space-Saving: a value not in a full table takes the place of the least counted one, and inherits its count
    // (so a value's count is never under its true count, and any value seen more than 1/capacity of the time is kept).
    private void Add(Dictionary<string, long> table, string value, long count)
    {
        ref var slot = ref CollectionsMarshal.GetValueRefOrNullRef(table, value);
        if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot))
        {
            slot += count;
            return;
        }

        var floor = 0L;
        if (table.Count >= _capacity)
        {
            string? least = null;
            foreach (var (candidate, n) in table)
            {
                if (least is null || n < floor)
                {
                    least = candidate;
                    floor = n;
                }
            }

            table.Remove(least!);
        }

        table[value] = floor + count;
    }

    private static Dictionary<string, long> Fields(Dictionary<PartitionKey, long> offsets) => offsets.ToDictionary(o => o.Key.Field, o => o.Value, StringComparer.Ordinal);

    private static Dictionary<PartitionKey, long> Partitions(Dictionary<string, long>? fields)
    {
        var offsets = new Dictionary<PartitionKey, long>();
        foreach (var (field, offset) in fields ?? [])
        {
            if (PartitionKey.TryParseField(field, out var partition))
            {
                offsets[partition] = offset;
            }
        }

        return offsets;
    }

    private sealed record RoutingState(Dictionary<string, Dictionary<string, long>>? Kept, List<EvictedSegment>? Evicted, Dictionary<string, long>? Counts);

    private sealed record EvictedSegment(string Value, Dictionary<string, long>? Until);
}
