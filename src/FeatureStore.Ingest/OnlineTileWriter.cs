using System.Buffers;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Ingest;

/// <summary>
/// Applies accepted events to per-(view, entity, partition) window states and writes each batch to the
/// online store in one MULTI/EXEC: the changed states (one hash field per partition share, so members
/// owning different partitions never overwrite each other), their expiry, and the partition checkpoints,
/// on condition that each checkpoint is still the one this member last read or wrote (fencing).
/// States stay cached between batches (bounded; the least recently used clean ones are dropped).
/// </summary>
internal sealed class OnlineTileWriter : IEventApplier
{
    private readonly IDatabase _db;
    private readonly OnlineKeys _keys;
    private readonly string _group;
    private readonly long _allowedLatenessMs;
    private readonly int _maxCached;
    private readonly Dictionary<StateKey, CachedState> _cache = [];
    private readonly List<PendingEvent> _pending = [];
    private readonly HashSet<StateKey> _dirty = [];
    private long _useClock;

    public OnlineTileWriter(IDatabase database, OnlineKeys keys, string group, long allowedLatenessMs, int maxCachedStates)
    {
        _db = database;
        _keys = keys;
        _group = group;
        _allowedLatenessMs = allowedLatenessMs;
        _maxCached = maxCachedStates;
    }

    public async Task<PartitionCheckpoint?> LoadCheckpointAsync(TopicPartition partition, CancellationToken cancellationToken)
    {
        var value = await _db.HashGetAsync(_keys.Checkpoints(_group), OnlineKeys.PartitionField(partition.Topic, partition.Partition.Value)).ConfigureAwait(false);
        return value.IsNull ? null : PartitionCheckpoint.Parse(value.ToString());
    }

    public bool TryLoadCheckpoint(TopicPartition partition, out PartitionCheckpoint? checkpoint)
    {
        try
        {
            var value = _db.HashGet(_keys.Checkpoints(_group), OnlineKeys.PartitionField(partition.Topic, partition.Partition.Value));
            checkpoint = value.IsNull ? null : PartitionCheckpoint.Parse(value.ToString());
            return true;
        }
        catch (RedisException)
        {
            checkpoint = null;
            return false;
        }
    }

    public void Add(SourceBinding source, TopicPartition partition, long offset, EventParser parser)
    {
        var compiled = (CompiledSource)source.Tag!;
        foreach (var view in compiled.Views)
        {
            var inputs = new FeatureInput[view.Features.Count];
            for (var f = 0; f < inputs.Length; f++)
            {
                inputs[f] = Input(parser, view.InputSlots[f]);
            }

            _pending.Add(new PendingEvent(new StateKey(view, parser.KeyFor(view.KeySlots), partition), parser.EventTimeMs, offset, inputs));
        }
    }

    public async Task<IReadOnlyList<TopicPartition>> CommitAsync(
        IReadOnlyDictionary<TopicPartition, PartitionCheckpoint?> expected,
        IReadOnlyDictionary<TopicPartition, PartitionCheckpoint> next,
        CancellationToken cancellationToken)
    {
        if (_pending.Count > 0)
        {
            await LoadMissingAsync().ConfigureAwait(false);
            foreach (var e in _pending)
            {
                var cached = _cache[e.Key];
                cached.State.Add(e.Time, e.Offset, e.Inputs);
                _dirty.Add(e.Key);
            }

            _pending.Clear();
        }

        var transaction = _db.CreateTransaction();
        var checkpoints = _keys.Checkpoints(_group);
        foreach (var (tp, checkpoint) in expected)
        {
            var field = OnlineKeys.PartitionField(tp.Topic, tp.Partition.Value);
            transaction.AddCondition(checkpoint is { } cp ? Condition.HashEqual(checkpoints, field, cp.ToString()) : Condition.HashNotExists(checkpoints, field));
        }

        var buffer = new ArrayBufferWriter<byte>(4096);
        foreach (var key in _dirty)
        {
            var cached = _cache[key];
            var view = key.View;
            var last = cached.State.LastEventTime ?? 0;
            var maxHop = view.Features.Max(f => f.Window.HopMs);
            cached.State.Compact(rawBefore: last - _allowedLatenessMs - maxHop, queriesFrom: last - view.TtlMs - _allowedLatenessMs);
            buffer.ResetWrittenCount();
            cached.State.WriteTo(buffer);
            var redisKey = _keys.Entity(view, key.Entity);
            _ = transaction.HashSetAsync(redisKey, OnlineKeys.PartitionField(key.Partition.Topic, key.Partition.Partition.Value), buffer.WrittenMemory.ToArray());
            _ = transaction.KeyExpireAsync(redisKey, TimeSpan.FromMilliseconds(view.TtlMs + _allowedLatenessMs));
        }

        foreach (var (tp, checkpoint) in next)
        {
            _ = transaction.HashSetAsync(checkpoints, OnlineKeys.PartitionField(tp.Topic, tp.Partition.Value), checkpoint.ToString());
        }

        bool committed;
        try
        {
            committed = await transaction.ExecuteAsync().ConfigureAwait(false);
        }
        catch (RedisException ex)
        {
            throw new OnlineStoreWriteException("batch write failed: " + ex.Message, ex);
        }

        if (!committed)
        {
            return [.. expected.Keys];
        }

        _dirty.Clear();
        EvictIfNeeded();
        return [];
    }

    public void Forget(TopicPartition partition)
    {
        _pending.RemoveAll(e => e.Key.Partition == partition);
        foreach (var key in _cache.Keys.Where(k => k.Partition == partition).ToList())
        {
            _cache.Remove(key);
            _dirty.Remove(key);
        }
    }

    private async Task LoadMissingAsync()
    {
        var missing = _pending.Select(e => e.Key).Where(k => !_cache.ContainsKey(k)).Distinct().ToList();
        if (missing.Count > 0)
        {
            var reads = missing.Select(k => _db.HashGetAsync(_keys.Entity(k.View, k.Entity), OnlineKeys.PartitionField(k.Partition.Topic, k.Partition.Partition.Value))).ToArray();
            var values = await Task.WhenAll(reads).ConfigureAwait(false);
            for (var i = 0; i < missing.Count; i++)
            {
                var view = missing[i].View;
                var state = values[i].IsNull
                    ? new ViewWindowState(view.Features, view.TtlMs)
                    : ViewWindowState.ReadFrom((byte[])values[i]!, view.Features, view.TtlMs);
                _cache[missing[i]] = new CachedState(state);
            }
        }

        var clock = ++_useClock;
        foreach (var e in _pending)
        {
            _cache[e.Key].LastUse = clock;
        }
    }

    private void EvictIfNeeded()
    {
        if (_cache.Count <= _maxCached)
        {
            return;
        }

        foreach (var key in _cache.OrderBy(kv => kv.Value.LastUse).Take(_cache.Count - (_maxCached * 3 / 4)).Select(kv => kv.Key).ToList())
        {
            _cache.Remove(key); // all written: dropping a clean state only costs a read if it comes back
        }
    }

    private static FeatureInput Input(EventParser parser, int slot)
    {
        if (slot < 0 || !parser.HasValue(slot))
        {
            return FeatureInput.Absent;
        }

        return parser.Schema.Fields[slot].Kind == FieldKind.String
            ? FeatureInput.OfText(System.Text.Encoding.UTF8.GetString(parser.GetUtf8(slot)))
            : FeatureInput.OfNumber(parser.GetDouble(slot));
    }

    private readonly record struct StateKey(CompiledView View, string Entity, TopicPartition Partition);

    private readonly record struct PendingEvent(StateKey Key, long Time, long Offset, FeatureInput[] Inputs);

    private sealed class CachedState(ViewWindowState state)
    {
        public ViewWindowState State { get; } = state;

        public long LastUse { get; set; }
    }
}
