using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Redis;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Ingest;

/// <summary>What building one batch took: states built, states read from the store first (not those known to be absent), bytes encoded, the time of each step (the build's from the seal to its last state), and the bytes allocated (by the whole process) while building.</summary>
internal sealed record BatchBuild(int States, int Loaded, long EncodedBytes, TimeSpan LoadTime, TimeSpan BuildTime, long AllocatedBytes);

/// <summary>
/// Applies accepted events to per-(view, entity, partition) window states and writes each batch to the
/// online store in one atomic script call (<see cref="BatchWriteScript"/>): the changed states (one hash field
/// per partition share, so members owning different partitions never overwrite each other), their expiry, and
/// the partition checkpoints, on condition that each checkpoint is still the one this member last read or
/// wrote (fencing).
/// <para>
/// Memory: states are cached between batches in their stored (encoded) form, one byte array per entity,
/// which the garbage collector never has to scan. An event's inputs are appended once to a flat batch buffer
/// and chained to its entity in each view (looked up from the event's UTF-8 key bytes, without building a
/// string). When a batch is sealed, each touched entity is decoded into one reusable state per view, its events
/// applied, compacted and encoded into an arena that the script's arguments read from (see BuildRun). Two event
/// buffers and dirty lists alternate, so the build may run in the background while the next batch is buffered
/// (<see cref="BuildInBackground"/>). States not in memory are read first, all in one pipelined round trip.
/// A key's expiry is refreshed at most once per slack period and set that much longer, which saves a PEXPIRE
/// per state per batch. The cache is bounded; the least recently used clean entities are dropped.
/// </para>
/// </summary>
internal sealed partial class OnlineTileWriter
{
    private const int MaxStackKeyChars = 256;
    private const int MaxStackKeyBytes = 256;

    // Raw entries kept per entity share, whatever its rate: bounds a hot entity's state; as_of lookups in
    // its recent past that would need older entries are reported inexact instead.
    private const int MaxRawEntriesPerShare = 1024;

    // How long a batch waits for a replica of each master to hold its shares before its checkpoints move.
    private static readonly TimeSpan ReplicaTimeout = TimeSpan.FromSeconds(2);

    private readonly IDatabase _db;

    // On a Redis Cluster a batch is written slot by slot, then its checkpoints (BatchWriteScript.WriteBySlotAsync).
    private readonly bool _clustered;
    private readonly OnlineKeys _keys;
    private readonly IngestCheckpoints _checkpoints;
    private readonly long _allowedLatenessMs;
    private readonly int _maxCached;
    private readonly Dictionary<TopicPartition, PartitionStates> _partitions = [];
    private readonly List<CachedState> _toLoad = [];
    // Below this many touched states a batch is built on one thread.
    private const int ParallelBuildMinimum = 2048;
    private const int BuildSlice = 256;

    // Arenas per buffer side: a batch's script arguments read from its side's arenas until its reply arrives,
    // which is before the batch after next (the same side) is built.
    private readonly ArrayBufferWriter<byte>[][] _arenas = [NewArenas(), NewArenas()];
    private readonly TextCache _texts = new(capacity: 4096);
    private readonly Dictionary<StateGroup, ViewWindowState>[] _scratch = [.. Enumerable.Range(0, Participants).Select(_ => new Dictionary<StateGroup, ViewWindowState>())];
    private readonly PendingEvents[] _events = [new(), new()];
    private readonly BatchWriteScript[] _scripts = [new(), new()];
    private readonly BatchWriteScript _markScript = new();
    // Partitions whose building groups' start marks are surely stored (a batch or a mark-only write landed).
    private readonly HashSet<TopicPartition> _marked = [];
    private readonly FeatureInput[][] _inputs = [.. Enumerable.Range(0, Participants).Select(_ => new FeatureInput[8])];
    private readonly Dictionary<CompiledSource, InputPlan> _plans = [];
    private PartitionStates? _lastPartition;

    // The batch being buffered (its number, which also indexes _events by parity), and the build of
    // the batch sealed before it.
    private long _batch;
    private BuildRun? _building;
    // The last batch whose write landed (batches land in the order they are numbered).
    private long _landed = -1;
    private int _cachedCount;

    /// <summary>Whether a sealed batch is built while the next one is buffered, by one worker per core but one (<see cref="IngestOptions.BuildInBackground"/>).</summary>
    public bool BuildInBackground { get; init; }

    /// <summary>
    /// Per source topic, the groups being built among those its events are written to (view, signature); null
    /// or empty when none is: then a batch records no mark (<see cref="BuildingGroupsByTopic"/>).
    /// </summary>
    public IReadOnlyDictionary<string, (string View, string Signature)[]>? Building { get; init; }

    /// <summary>The groups being built of each source topic of <paramref name="repository"/>, or null when it has none.</summary>
    public static IReadOnlyDictionary<string, (string View, string Signature)[]>? BuildingGroupsByTopic(CompiledRepository repository)
    {
        var building = repository.Sources
            .Select(s => (s.Definition.Topic, Groups: s.Groups.Where(g => g.Building).Select(g => (g.Name, g.Signature)).ToArray()))
            .Where(s => s.Groups.Length > 0)
            .ToDictionary(s => s.Topic, s => s.Groups, StringComparer.Ordinal);
        return building.Count == 0 ? null : building;
    }

    public OnlineTileWriter(IDatabase database, OnlineKeys keys, string group, long allowedLatenessMs, int maxCachedStates)
    {
        _db = database;
        _clustered = OnlineStoreConnection.IsClusterOf(database.Multiplexer);
        _keys = keys;
        _checkpoints = new IngestCheckpoints(database, keys, group);
        _allowedLatenessMs = allowedLatenessMs;
        _maxCached = maxCachedStates;
    }

    /// <summary>States held in memory (all partitions and views).</summary>
    public int CachedStates => _cachedCount;

    /// <summary>Reads the checkpoint of a partition (null when the partition was never consumed).</summary>
    public async Task<PartitionCheckpoint?> LoadCheckpointAsync(TopicPartition partition, CancellationToken cancellationToken)
    {
        _ = cancellationToken; // the store's client takes no token: a read in flight completes or times out on its own
        var value = await _checkpoints.ReadAsync(partition.Topic, partition.Partition.Value).ConfigureAwait(false);
        return value is null ? null : PartitionCheckpoint.Parse(value);
    }

    /// <summary>
    /// Reads the checkpoint of a partition synchronously, inside a rebalance callback (where no await is
    /// possible); false when the store cannot be reached right now.
    /// </summary>
    public bool TryLoadCheckpoint(TopicPartition partition, out PartitionCheckpoint? checkpoint)
    {
        var reached = _checkpoints.TryRead(partition.Topic, partition.Partition.Value, out var value);
        checkpoint = value is null ? null : PartitionCheckpoint.Parse(value);
        return reached;
    }

    /// <summary>Buffers one accepted event; <paramref name="parser"/> holds it until the next parse.</summary>
    public void Add(SourceBinding source, TopicPartition partition, long offset, EventParser parser)
    {
        var states = PartitionFor(partition, source.Compiled);
        var events = _events[(int)(_batch & 1)];
        var row = events.Append(parser.EventTimeMs, offset, states.Plan, parser, _texts);
        for (var v = 0; v < states.ViewCount; v++)
        {
            var cached = states.Get(v, parser, this);
            if (events.Link(cached, _batch, row) && !cached.Loaded)
            {
                _toLoad.Add(cached);
            }
        }
    }

    /// <summary>
    /// Seals the buffered events as a batch and starts building, in the background, the write of the states
    /// they touched and the new checkpoints: one atomic script on condition that each partition's stored
    /// checkpoint still equals <paramref name="expected"/>. Nothing is sent yet (<see cref="PreparedWrite.Built"/>
    /// completes when it can be); events added from now on belong to the next batch, which builds on this
    /// one's states as if they were written. Reads the states not in memory first, so it throws when the store
    /// is unreachable; no write of this member that is not landed holds them, so the reads may go before the
    /// batch built earlier is sent (and do not wait behind its write). Finishes building that batch first.
    /// </summary>
    public async Task<PreparedWrite> PrepareAsync(
        IReadOnlyDictionary<TopicPartition, PartitionCheckpoint?> expected,
        IReadOnlyDictionary<TopicPartition, PartitionCheckpoint> next,
        CancellationToken cancellationToken)
    {
        _ = cancellationToken; // as for checkpoints: the store's reads take no token
        var loadStarted = Stopwatch.GetTimestamp();
        var loads = await LoadMissingAsync(expected).ConfigureAwait(false);
        var loadTime = Stopwatch.GetElapsedTime(loadStarted);

        // This batch builds on the states of the one before: its build must be over (the caller finished it to
        // send it; this only matters when it did not).
        if (_building is { } previous)
        {
            await previous.FinishAsync().ConfigureAwait(false);
        }

        // Seal: events added from now on go to the other buffer, while this batch is built (at once, or in the
        // background) into its side's script arguments.
        var number = _batch++;
        var side = (int)(number & 1);
        var script = _scripts[side];
        _checkpoints.Start(
            script,
            expected.Select(e => (e.Key.Topic, e.Key.Partition.Value, e.Value?.ToString())),
            next.Select(n => (n.Key.Topic, n.Key.Partition.Value, n.Value.ToString())),
            Building is { Count: > 0 } building ? Marks(expected, building) : null);
        var run = new BuildRun(this, number, side, script, [.. expected.Keys], loads, loadTime);
        _building = run;
        if (BuildInBackground)
        {
            run.StartInBackground();
        }
        else
        {
            run.RunHere();
        }

        return run.Write;
    }

    /// <summary>
    /// Records where the groups being built begin on a partition that gets no event: a write of the marks alone, on
    /// condition that the partition's checkpoint is still <paramref name="stored"/> (fenced like a batch), so a
    /// rebuild does not wait for an event that may never come. A partition marked before is skipped. The caller
    /// calls it only for a partition it has read nothing of past its checkpoint for a while (so no write of a
    /// previous owner is still in flight).
    /// </summary>
    public async Task MarkIdleAsync(TopicPartition partition, PartitionCheckpoint stored)
    {
        if (Building is not { } building || !building.ContainsKey(partition.Topic) || _marked.Contains(partition))
        {
            return;
        }

        var expected = new Dictionary<TopicPartition, PartitionCheckpoint?> { [partition] = stored };
        _checkpoints.Start(_markScript, [(partition.Topic, partition.Partition.Value, stored.ToString())], [], Marks(expected, building));
        using var reply = await _markScript.SendAsync(_db).ConfigureAwait(false);
        if (BatchWriteScript.Written(reply))
        {
            _marked.Add(partition);
        }
    }

    /// <summary>
    /// Where this batch begins writing each group being built, per partition it moves: the offset its events start
    /// at, the expected checkpoint's (0 when the partition has none). The script keeps only the first one recorded,
    /// so the mark says where the group's share of the partition begins (docs/evolution.md: O_p).
    /// </summary>
    private static List<BuildStartMark> Marks(IReadOnlyDictionary<TopicPartition, PartitionCheckpoint?> expected, IReadOnlyDictionary<string, (string View, string Signature)[]> building)
    {
        var marks = new List<BuildStartMark>();
        foreach (var (tp, checkpoint) in expected)
        {
            if (building.TryGetValue(tp.Topic, out var groups))
            {
                foreach (var (view, signature) in groups)
                {
                    marks.Add(new BuildStartMark(view, signature, tp.Topic, tp.Partition.Value, checkpoint?.NextOffset ?? 0));
                }
            }
        }

        return marks;
    }

    /// <summary>Builds touched states <paramref name="from"/> to <paramref name="to"/> (excluded) of the sealed batch of buffer <paramref name="side"/>, as worker <paramref name="worker"/> (its scratch state and arena).</summary>
    // Called once per slice of hundreds of states: compiled optimized at once, not left to tiering (which would
    // take many batches to reach it).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Build(int side, int from, int to, int worker, ArrayBufferWriter<byte> arena)
    {
        var scratch = _scratch[worker];
        var dirty = _events[side];
        for (var i = from; i < to; i++)
        {
            var cached = dirty[i];
            var view = cached.View;
            if (!scratch.TryGetValue(view, out var state))
            {
                state = new ViewWindowState(view.Features, view.TtlMs);
                scratch.Add(view, state);
            }

            // A share's stamp says which of its partition's events it holds: a replay from an older checkpoint (a
            // batch whose shares landed but whose checkpoint did not, on a cluster) skips them.
            var stored = cached.StoredSpan;
            var heldBelow = ShareStamp.Read(stored) ?? long.MinValue;
            if (stored.Length > 0)
            {
                state.LoadFrom(stored);
            }
            else
            {
                state.Reset();
            }

            var inputs = _inputs[worker];
            if (inputs.Length < view.Features.Count)
            {
                _inputs[worker] = inputs = new FeatureInput[view.Features.Count];
            }

            var next = dirty.ApplyTo(i, state, inputs, heldBelow);
            var last = state.LastEventTime ?? 0;
            state.Compact(rawBefore: last - _allowedLatenessMs - view.MaxHopMs, queriesFrom: last - view.TtlMs - _allowedLatenessMs, MaxRawEntriesPerShare);
            cached.EncodedArena = worker;
            cached.EncodedStart = arena.WrittenCount;
            ShareStamp.Write(arena, next);
            state.WriteTo(arena);
            cached.EncodedLength = arena.WrittenCount - cached.EncodedStart;

            // The next batch builds on this state before the write is confirmed; if the write fails, every
            // cached state is dropped and read again from the store.
            cached.Keep(arena.WrittenSpan[cached.EncodedStart..]);
        }
    }

    /// <summary>Sends a built write (after the previous one completed), without waiting for its reply.</summary>
    public void Send(PreparedWrite write)
    {
        if (!write.Built.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("the write is not built yet");
        }

        write.Execution = _clustered
            ? write.Script.WriteBySlotAsync(_db.Multiplexer, _db, ReplicaTimeout)
            : write.Script.WriteAsync(_db);
    }

    /// <summary>
    /// Waits for a sent write. Returns the partitions of a write whose condition failed (fenced: another
    /// member owns one of them now; nothing of the write landed), or none. Throws when the store is
    /// unreachable (the write may or may not have landed). After either failure the caller calls
    /// <see cref="Reset"/> and resumes every partition from its stored checkpoint.
    /// </summary>
    public async Task<IReadOnlyList<TopicPartition>> CompleteAsync(PreparedWrite write)
    {
        var execution = write.Execution ?? throw new InvalidOperationException("the write was not sent");
        bool committed;
        try
        {
            committed = await execution.ConfigureAwait(false);
        }
        catch (RedisException ex)
        {
            throw new OnlineStoreWriteException("batch write failed: " + ex.Message, ex);
        }

        if (!committed)
        {
            return write.Partitions;
        }

        _landed = write.Batch;
        if (Building is not null)
        {
            _marked.UnionWith(write.Partitions);
        }

        EvictIfNeeded();
        return [];
    }

    /// <summary>Drops every buffered event and cached state (after a failed write: the store is the truth).</summary>
    public void Reset()
    {
        // The store is the truth after a failed or refused write: forget every state and buffered event, so
        // what is needed next is read again (after the caller has rewound its partitions to their checkpoints).
        // A build still running is let finish first (it is CPU work, and its failure no longer matters).
        if (_building is { } run)
        {
            run.Help();
            try
            {
                run.Completion.Wait();
            }
            catch (AggregateException)
            {
                // dropped with everything else
            }
        }

        _building = null;
        _partitions.Clear();
        _lastPartition = null;
        _cachedCount = 0;
        foreach (var events in _events)
        {
            events.Clear();
        }

        _toLoad.Clear();
        _batch += 2; // no cached state survives, but a new batch number keeps dirty marks unambiguous
    }

    /// <summary>Drops buffered events and cached state of a partition (revoked or fenced).</summary>
    public void Forget(TopicPartition partition)
    {
        if (_partitions.Remove(partition, out var states))
        {
            _cachedCount -= states.Count;
            _lastPartition = null;
            // Only the batch being buffered is dropped: a sealed one is built and written as it is, its
            // checkpoint condition fencing it if another member took the partition over in between.
            _events[(int)(_batch & 1)].Forget(states);
            _toLoad.RemoveAll(c => c.Owner == states);
        }
    }

    private static int Workers => Math.Clamp(Environment.ProcessorCount, 1, 4);

    private static ArrayBufferWriter<byte>[] NewArenas() => [.. Enumerable.Range(0, Participants).Select(_ => new ArrayBufferWriter<byte>(1 << 20))];

    private static long ExpirySlackMs(StateGroup view) => Math.Clamp(view.TtlMs / 10, 60_000, 3_600_000);

    private PartitionStates PartitionFor(TopicPartition partition, CompiledSource source)
    {
        if (_lastPartition is { } last && last.Partition.Partition == partition.Partition && last.Partition.Topic == partition.Topic)
        {
            return last;
        }

        if (!_partitions.TryGetValue(partition, out var states))
        {
            if (!_plans.TryGetValue(source, out var plan))
            {
                plan = new InputPlan(source);
                _plans.Add(source, plan);
            }

            states = new PartitionStates(partition, source, plan);
            _partitions.Add(partition, states);
        }

        _lastPartition = states;
        return states;
    }

    /// <summary>Reads the shares of the batch's states not in memory, except those that cannot be stored (see below); returns how many it read.</summary>
    private async Task<int> LoadMissingAsync(IReadOnlyDictionary<TopicPartition, PartitionCheckpoint?> expected)
    {
        // A share (field = its partition) is written by a batch's script only, in the step that also writes
        // that partition's checkpoint (a partition with buffered events is always among the moves) and is
        // conditioned on the checkpoints the batch expects; nothing deletes a checkpoint field. So when the
        // batch expects no checkpoint for a partition, none of that partition's shares is stored (the entity's
        // key may exist, holding other partitions' fields): they start empty, unread. Should the checkpoint
        // appear meanwhile (another member took the partition over and wrote), the condition refuses this
        // write and everything is read again. Not so on a cluster, where a batch's shares land before its
        // checkpoint: a batch that died in between left shares of a partition that has no checkpoint yet.
        var toRead = 0;
        PartitionStates? owner = null;
        var unwritten = false;
        for (var i = 0; i < _toLoad.Count; i++)
        {
            var cached = _toLoad[i];
            if (cached.Owner != owner)
            {
                owner = cached.Owner;
                unwritten = !_clustered && expected.TryGetValue(owner.Partition, out var checkpoint) && checkpoint is null;
            }

            if (unwritten)
            {
                cached.Keep([]);
                cached.Loaded = true;
            }
            else
            {
                _toLoad[toRead++] = cached;
            }
        }

        _toLoad.RemoveRange(toRead, _toLoad.Count - toRead);
        if (toRead == 0)
        {
            return 0;
        }

        var reads = new Task<RedisValue>[_toLoad.Count];
        for (var i = 0; i < reads.Length; i++)
        {
            reads[i] = _db.HashGetAsync(_toLoad[i].Key, _toLoad[i].Field);
        }

        RedisValue[] values;
        try
        {
            values = await Task.WhenAll(reads).ConfigureAwait(false);
        }
        catch (RedisException ex)
        {
            throw new OnlineStoreWriteException("reading stored states failed: " + ex.Message, ex);
        }

        for (var i = 0; i < values.Length; i++)
        {
            if (values[i].IsNull)
            {
                _toLoad[i].Keep([]);
            }
            else
            {
                _toLoad[i].Keep(((ReadOnlyMemory<byte>)values[i]).Span);
            }

            _toLoad[i].Loaded = true;
        }

        _toLoad.Clear();
        return toRead;
    }

    private void EvictIfNeeded()
    {
        if (_cachedCount <= _maxCached)
        {
            return;
        }

        // Only states whose last write has landed are dropped (not those of a batch being buffered, built, or
        // written): dropping one costs a read if it comes back, and that read sees its newest version even when
        // it is sent before a batch built earlier (which cannot hold it).
        var all = _partitions.Values.SelectMany(p => p.All()).Where(c => c.DirtyIn <= _landed).OrderBy(c => c.DirtyIn)
            .Take(_cachedCount - (_maxCached * 3 / 4)).ToList();
        foreach (var cached in all)
        {
            cached.Owner.Remove(cached);
            _cachedCount--;
        }
    }

    private CachedState Create(PartitionStates owner, int viewIndex, StateGroup view, byte[] entityUtf8)
    {
        _cachedCount++;
        return new CachedState(owner, viewIndex, view, _keys.Entity(view, System.Text.Encoding.UTF8.GetString(entityUtf8)), owner.Field, entityUtf8);
    }

    /// <summary>The states of one source partition, one dictionary per view of the source.</summary>
    private sealed class PartitionStates
    {
        private readonly CompiledSource _source;
        private readonly Dictionary<byte[], CachedState>[] _byView;
        // Per view: the dictionary looked up from the event's bytes (made once: making it checks the comparer),
        // and the key's one string field, or -1 when the key is written from several fields or a number.
        private readonly Dictionary<byte[], CachedState>.AlternateLookup<ReadOnlySpan<byte>>[] _lookups;
        private readonly int[] _textKeySlot;
        private readonly IReadOnlyList<int>[] _keySlots;

        public PartitionStates(TopicPartition partition, CompiledSource source, InputPlan plan)
        {
            Partition = partition;
            Plan = plan;
            Field = OnlineKeys.PartitionField(partition.Topic, partition.Partition.Value);
            _source = source;
            _byView = [.. source.Groups.Select(_ => new Dictionary<byte[], CachedState>(Utf8KeyComparer.Instance))];
            _lookups = [.. _byView.Select(d => d.GetAlternateLookup<ReadOnlySpan<byte>>())];
            _keySlots = [.. source.Groups.Select(v => v.KeySlots)];
            _textKeySlot = [.. _keySlots.Select(slots => slots.Count == 1 && source.Schema.Fields[slots[0]].Kind == FieldKind.String ? slots[0] : -1)];
        }

        public TopicPartition Partition { get; }

        public RedisValue Field { get; }

        /// <summary>How the source's events feed its views.</summary>
        public InputPlan Plan { get; }

        public int ViewCount => _byView.Length;

        public int Count => _byView.Sum(d => d.Count);

        public IEnumerable<CachedState> All() => _byView.SelectMany(d => d.Values);

        public void Remove(CachedState cached) => _byView[cached.ViewIndex].Remove(cached.EntityUtf8);

        public CachedState Get(int viewIndex, EventParser parser, OnlineTileWriter writer)
        {
            var textSlot = _textKeySlot[viewIndex];
            if (textSlot >= 0)
            {
                // Looked up from the event's bytes: a string and a key array are built only for a new entity.
                var utf8 = parser.GetUtf8(textSlot);
                return _lookups[viewIndex].TryGetValue(utf8, out var found) ? found : Add(viewIndex, utf8, writer);
            }

            return GetComposite(viewIndex, parser, writer);
        }

        private CachedState GetComposite(int viewIndex, EventParser parser, OnlineTileWriter writer)
        {
            var slots = _keySlots[viewIndex];
            Span<byte> buffer = stackalloc byte[MaxStackKeyBytes];
            scoped ReadOnlySpan<byte> key;
            if (parser.TryWriteKeyUtf8(slots, buffer, out var written))
            {
                key = buffer[..written];
            }
            else
            {
                key = System.Text.Encoding.UTF8.GetBytes(parser.KeyFor(slots));
            }

            return _lookups[viewIndex].TryGetValue(key, out var found) ? found : Add(viewIndex, key, writer);
        }

        private CachedState Add(int viewIndex, ReadOnlySpan<byte> key, OnlineTileWriter writer)
        {
            var utf8 = key.ToArray();
            var cached = writer.Create(this, viewIndex, _source.Groups[viewIndex], utf8);
            _byView[viewIndex].Add(utf8, cached);
            return cached;
        }
    }

    private sealed class CachedState(PartitionStates owner, int viewIndex, StateGroup view, RedisKey key, RedisValue field, byte[] entityUtf8)
    {
        public PartitionStates Owner { get; } = owner;

        /// <summary>The view's place among its source's views.</summary>
        public int ViewIndex { get; } = viewIndex;

        public StateGroup View { get; } = view;

        public RedisKey Key { get; } = key;

        public RedisValue Field { get; } = field;

        /// <summary>The entity's key, UTF-8 (as in the events).</summary>
        public byte[] EntityUtf8 { get; } = entityUtf8;

        private byte[] _stored = [];

        /// <summary>The share as stored or as last written (empty when there is none); valid once <see cref="Loaded"/>.</summary>
        public ReadOnlySpan<byte> StoredSpan => _stored.AsSpan(0, StoredLength);

        public int StoredLength { get; private set; }

        /// <summary>True once <see cref="StoredSpan"/> reflects the store (or a write of ours sent after it).</summary>
        public bool Loaded { get; set; }

        /// <summary>The last batch with events of this entity (its least recent use, for eviction).</summary>
        public long DirtyIn { get; set; } = -1;

        /// <summary>The entity's place among the states touched by batch <see cref="DirtyIn"/> (while it is buffered).</summary>
        public int DirtyIndex { get; set; }

        public long ExpirySetAt { get; set; } = long.MinValue / 2;

        /// <summary>Where this batch's encoding lies: which arena, from where, how long.</summary>
        public int EncodedArena { get; set; }

        public int EncodedStart { get; set; }

        public int EncodedLength { get; set; }

        /// <summary>Keeps an encoded share, reusing the buffer when it fits (states grow and shrink a little per batch).</summary>
        public void Keep(ReadOnlySpan<byte> encoded)
        {
            if (encoded.Length > _stored.Length)
            {
                // Not zeroed: only the copied bytes are ever read.
                _stored = GC.AllocateUninitializedArray<byte>(encoded.Length + (encoded.Length / 4));
            }

            encoded.CopyTo(_stored);
            StoredLength = encoded.Length;
        }
    }

    /// <summary>
    /// Entity keys compared as UTF-8 bytes and looked up from a span: XxHash3 with a per-process seed, so
    /// chosen keys cannot be made to collide.
    /// </summary>
    private sealed class Utf8KeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly Utf8KeyComparer Instance = new();

        private static readonly long Seed = Random.Shared.NextInt64();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate) => (int)System.IO.Hashing.XxHash3.HashToUInt64(alternate, Seed);

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }

    /// <summary>Strings of repeated text values (countries, currencies), so `last` of a text field allocates once per distinct value.</summary>
    private sealed class TextCache(int capacity)
    {
        private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);

        public string Get(ReadOnlySpan<byte> utf8)
        {
            if (utf8.Length <= MaxStackKeyChars)
            {
                Span<char> chars = stackalloc char[MaxStackKeyChars];
                var length = System.Text.Encoding.UTF8.GetChars(utf8, chars);
                if (_strings.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(chars[..length], out var known))
                {
                    return known;
                }

                var text = new string(chars[..length]);
                if (_strings.Count < capacity)
                {
                    _strings.Add(text, text);
                }

                return text;
            }

            return System.Text.Encoding.UTF8.GetString(utf8);
        }
    }
}
