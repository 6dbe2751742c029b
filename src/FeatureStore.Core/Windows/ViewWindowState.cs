using FeatureStore.Core.Windows.Internal;

namespace FeatureStore.Core.Windows;

/// <summary>One feature of a view, compiled for evaluation.</summary>
/// <param name="Kind">The aggregation.</param>
/// <param name="Window">Window and hop.</param>
/// <param name="TextValued">True for <c>last</c>, <c>last_n</c>, <c>last_n_distinct</c> and <c>top_k</c> of a string field (the values are text).</param>
/// <param name="Parameter">p of percentile, n of last_n and last_n_distinct, k of top_k; 0 for the others.</param>
/// <param name="IntValued">True for <c>last_n</c> and <c>last_n_distinct</c> of an int field (the list holds integers).</param>
public readonly record struct WindowedFeature(AggregationKind Kind, WindowSpec Window, bool TextValued = false, double Parameter = 0, bool IntValued = false)
{
    /// <summary>n or k as a count of items.</summary>
    public int Size => (int)Parameter;
}

/// <summary>
/// The windowed state of one entity in one feature view: per feature, tiles of partial aggregates, and,
/// for recent tiles, the raw entries that let a query cut a tile at any instant. This is the single
/// implementation of DESIGN.md §4 that online lookups, backfills and exports all call; the caller gives
/// the evaluation time, nothing here reads a clock.
/// <para>
/// Exactness: a query at <c>T</c> reads the complete tiles of <c>[S(T), T]</c> and the tile containing
/// <c>T</c>. That tile is exact when none of its events is later than <c>T</c> (always so when events are
/// added in time order up to <c>T</c>, as exports do) or when its raw entries are still retained
/// (one list per state, shared by all features; <see cref="Compact"/> drops those older than the retention
/// it is given). Otherwise the result
/// is flagged inexact.
/// </para>
/// </summary>
public sealed partial class ViewWindowState
{
    private readonly WindowedFeature[] _features;
    private readonly TileColumn[] _tiles;
    private readonly TileColumn _presence = new();
    private readonly long _presenceHop;
    private readonly PartialAggregate[] _base;
    private readonly RawLog _head;
    private long _compactedBefore = long.MinValue;
    private HyperLogLog? _distinctScratch;
    private object?[]? _scratch;
    private readonly DecodeRecycler _recycler = new();

    // Every event at or after this time is in _head (one entry per event, shared by all features).
    private long _headFrom = long.MinValue;

    /// <summary>Creates an empty state for a view with <paramref name="features"/> and <paramref name="ttlMs"/>.</summary>
    public ViewWindowState(IReadOnlyList<WindowedFeature> features, long ttlMs)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ttlMs);
        _features = [.. features];
        TtlMs = ttlMs;
        _tiles = [.. _features.Select(_ => new TileColumn())];
        _head = new RawLog(_features.Length);
        _base = [.. _features.Select(_ => PartialAggregate.Empty)];
        // Presence (the newest event at or before T, for the ttl) is tiled by the largest hop: raw entries cover
        // the open tile of that size, and the entity keeps few presence tiles over its ttl.
        _presenceHop = _features.Length == 0 ? 3_600_000 : _features.Max(f => f.Window.HopMs);
    }

    /// <summary>The view's ttl.</summary>
    public long TtlMs { get; }

    /// <summary>The features, in order.</summary>
    public IReadOnlyList<WindowedFeature> Features => _features;

    /// <summary>Time of the entity's earliest event, or null before any.</summary>
    public long? FirstEventTime { get; private set; }

    /// <summary>Time of the entity's latest event, or null before any.</summary>
    public long? LastEventTime { get; private set; }

    /// <summary>Total tiles held (all features), for memory accounting.</summary>
    public int TileCount => _tiles.Sum(t => t.Count) + _presence.Count;

    /// <summary>Raw entries held (see <see cref="Compact"/>), for memory accounting.</summary>
    public int RawEntryCount => _head.Count;

    /// <summary>Adds one event: its time, its position in the source log, and one input per feature.</summary>
    public void Add(long time, long sequence, ReadOnlySpan<FeatureInput> inputs)
    {
        if (inputs.Length != _features.Length)
        {
            throw new ArgumentException($"expected {_features.Length} inputs, got {inputs.Length}", nameof(inputs));
        }

        FirstEventTime = FirstEventTime is { } first ? Math.Min(first, time) : time;
        LastEventTime = LastEventTime is { } last ? Math.Max(last, time) : time;
        for (var f = 0; f < _features.Length; f++)
        {
            var feature = _features[f];
            _tiles[f].GetOrAddContaining(time, feature.Window.HopMs).Add(feature, time, sequence, inputs[f]);
        }

        _presence.GetOrAddContaining(time, _presenceHop).Add(AggregationKind.Count, time, sequence, FeatureInput.Absent);
        if (time >= _headFrom)
        {
            _head.Add(time, sequence, inputs);
        }
    }

    /// <summary>
    /// Evaluates every feature at <paramref name="t"/> into <paramref name="values"/> (one per feature). A
    /// feature whose tile containing <paramref name="t"/> could not be cut exactly there (see the class
    /// remarks) reads <see cref="ValueStatus.Inexact"/> with no value; returns false when any did.
    /// </summary>
    public bool Evaluate(long t, Span<FeatureValue> values)
    {
        if (values.Length < _features.Length)
        {
            throw new ArgumentException("one value per feature is needed", nameof(values));
        }

        var (newest, newestExact) = NewestAtOrBefore(t);
        if (t < _compactedBefore || !newestExact)
        {
            // Tiles before the compaction point are gone, or whether the entity has an event in its ttl at t is
            // not known exactly: nothing at t can be told.
            for (var f = 0; f < _features.Length; f++)
            {
                values[f] = FeatureValue.Null(ValueStatus.Inexact);
            }

            return false;
        }

        if (newest is null || newest < t - TtlMs)
        {
            var status = FirstEventTime is { } first && first <= t ? ValueStatus.OutsideTtl : ValueStatus.NotFound;
            for (var f = 0; f < _features.Length; f++)
            {
                values[f] = Empty(_features[f], status);
            }

            return true;
        }

        var exact = true;
        for (var f = 0; f < _features.Length; f++)
        {
            var feature = _features[f];
            var acc = PartialAggregate.Empty;
            if (feature.Kind == AggregationKind.ApproxDistinct)
            {
                // The window's union is only estimated, never kept: one sketch serves every evaluation.
                _distinctScratch ??= HyperLogLog.ForUnion();
                _distinctScratch.Clear();
                acc.Distinct = _distinctScratch;
            }
            else if (AggregationKinds.HasParameter(feature.Kind))
            {
                PrepareScratch(f, ref acc);
            }

            if (feature.Window.IsLifetime)
            {
                acc.Merge(feature, _base[f]);
            }

            if (!Accumulate(f, TileMath.FirstTile(t, feature.Window), t, ref acc))
            {
                values[f] = FeatureValue.Null(ValueStatus.Inexact);
                exact = false;
                continue;
            }

            var eventTime = acc.MaxTime == long.MinValue ? (long?)null : acc.MaxTime;
            values[f] = acc.Result(feature, eventTime);
        }

        return exact;
    }

    /// <summary>
    /// The start of the state's retained span: every evaluation at or after this instant is exact, whatever
    /// order the events came in (<see cref="long.MinValue"/> while nothing was compacted). Before it, a feature
    /// whose tile containing the instant also holds later events reads <see cref="ValueStatus.Inexact"/>.
    /// </summary>
    public long ExactFrom
    {
        get
        {
            var from = _compactedBefore;
            if (_headFrom == long.MinValue)
            {
                return from;
            }

            if (_headFrom == long.MaxValue)
            {
                return long.MaxValue; // raw entries are not kept: only time-ordered evaluation is exact
            }

            // The tile containing t must start at or after _headFrom for every hop (the features' and presence's).
            from = Math.Max(from, CeilToHop(_headFrom, _presenceHop));
            foreach (var feature in _features)
            {
                from = Math.Max(from, CeilToHop(_headFrom, feature.Window.HopMs));
            }

            return from;
        }
    }

    /// <summary>
    /// Frees memory: raw entries older than <paramref name="rawBefore"/> are dropped, and the oldest beyond
    /// <paramref name="maxRawEntries"/> (queries that would need them become inexact); tiles no window can
    /// reach from <paramref name="queriesFrom"/> on are removed, and lifetime tiles before it are folded into
    /// one base aggregate.
    /// </summary>
    public void Compact(long rawBefore, long queriesFrom, int maxRawEntries = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRawEntries);
        if (_head.Count > maxRawEntries)
        {
            rawBefore = Math.Max(rawBefore, _head.TimeOfNewest(maxRawEntries));
        }

        for (var f = 0; f < _features.Length; f++)
        {
            var feature = _features[f];
            var tiles = _tiles[f];
            var hop = feature.Window.HopMs;
            var oldestNeeded = feature.Window.IsLifetime ? TileMath.TileIndex(queriesFrom, hop) : TileMath.FirstTile(queriesFrom, feature.Window);
            var drop = tiles.LowerBound(oldestNeeded);
            if (feature.Window.IsLifetime)
            {
                for (var i = 0; i < drop; i++)
                {
                    _base[f].Merge(feature, tiles.AggregateAt(i));
                }
            }

            tiles.RemoveFirst(drop, _recycler);
        }

        var ttlStart = TileMath.TileIndex(queriesFrom - TtlMs, _presenceHop);
        _presence.RemoveFirst(Math.Min(_presence.Count - 1, _presence.LowerBound(ttlStart)));

        if (rawBefore > _headFrom)
        {
            _head.RemoveOlderThan(rawBefore);
            _headFrom = rawBefore;
        }

        _compactedBefore = Math.Max(_compactedBefore, queriesFrom);
    }

    /// <summary>
    /// Empties the state, keeping its buffers for reuse (a long-running job decodes, updates and encodes
    /// many entities' states through one instance instead of holding one object graph per entity).
    /// </summary>
    public void Reset()
    {
        for (var f = 0; f < _features.Length; f++)
        {
            _tiles[f].Clear(_recycler);
            _recycler.Return(_base[f].Distinct);
            _base[f] = PartialAggregate.Empty;
        }

        _presence.Clear();
        _head.Clear();
        _headFrom = long.MinValue;
        _compactedBefore = long.MinValue;
        FirstEventTime = null;
        LastEventTime = null;
    }

    /// <summary>
    /// Keeps each event's raw entry until <see cref="Compact"/> drops it (on by default). Set it before the
    /// first event; off suits replays in time order, which never need to cut a tile.
    /// </summary>
    public bool RetainRaw
    {
        get => _headFrom != long.MaxValue;
        set => _headFrom = value ? long.MinValue : long.MaxValue;
    }

    private bool Accumulate(int f, long firstTile, long t, ref PartialAggregate acc)
    {
        var tiles = _tiles[f];
        ref readonly var feature = ref _features[f];
        var window = feature.Window;
        var lastTile = TileMath.TileIndex(t, window.HopMs);
        for (var i = tiles.LowerBound(firstTile); i < tiles.Count; i++)
        {
            var index = tiles.IndexAt(i);
            if (index > lastTile)
            {
                break;
            }

            ref var tile = ref tiles.AggregateAt(i);
            if (index < lastTile || tile.MaxTime <= t)
            {
                acc.Merge(feature, tile);
            }
            else if (TileMath.TileStart(index, window.HopMs) >= _headFrom)
            {
                // Cut the tile at t from the raw entries, which hold every event of it.
                var from = TileMath.TileStart(index, window.HopMs);
                for (var e = 0; e < _head.Count; e++)
                {
                    var time = _head.TimeAt(e);
                    if (time >= from && time <= t)
                    {
                        acc.Add(feature, time, _head.SequenceAt(e), _head.InputAt(e, f));
                    }
                }
            }
            else
            {
                return false; // compacted to its aggregate, which also holds events after t
            }
        }

        return true;
    }

    // A window's tiles are merged into one scratch summary per feature, larger than a tile's, so that merging
    // adds no error while the window holds few values (percentile, top_k), and nothing is allocated per lookup
    // but the value itself.
    private void PrepareScratch(int f, ref PartialAggregate acc)
    {
        _scratch ??= new object?[_features.Length];
        ref readonly var feature = ref _features[f];
        switch (feature.Kind)
        {
            case AggregationKind.Percentile:
                var sketch = (QuantileSketch)(_scratch[f] ??= new QuantileSketch(QuantileSketch.EvaluationLevelCapacity));
                sketch.Clear();
                acc.Quantiles = sketch;
                break;
            case AggregationKind.LastN or AggregationKind.LastNDistinct:
                var recent = (RecentValues)(_scratch[f] ??= new RecentValues(feature.Size, feature.Kind == AggregationKind.LastNDistinct));
                recent.Clear();
                acc.Recent = recent;
                break;
            case AggregationKind.TopK:
                var frequent = (FrequentValues)(_scratch[f] ??= new FrequentValues(FrequentValues.EvaluationCapacity(feature.Size)));
                frequent.Clear();
                acc.Frequent = frequent;
                break;
        }
    }

    private (long? Newest, bool Exact) NewestAtOrBefore(long t)
    {
        // Scan back from the tile containing t; older than the ttl reads as outside it anyway.
        var lowest = TileMath.TileIndex(t - TtlMs, _presenceHop) - 1;
        var lastTile = TileMath.TileIndex(t, _presenceHop);
        var i = _presence.LowerBound(lastTile == long.MaxValue ? lastTile : lastTile + 1) - 1;
        for (; i >= 0 && _presence.IndexAt(i) >= lowest; i--)
        {
            var maxTime = _presence.AggregateAt(i).MaxTime;
            if (_presence.IndexAt(i) < lastTile || maxTime <= t)
            {
                return (maxTime, true);
            }

            var from = TileMath.TileStart(_presence.IndexAt(i), _presenceHop);
            if (from >= _headFrom)
            {
                var newest = long.MinValue;
                for (var e = 0; e < _head.Count; e++)
                {
                    var time = _head.TimeAt(e);
                    if (time >= from && time <= t && time > newest)
                    {
                        newest = time;
                    }
                }

                if (newest != long.MinValue)
                {
                    return (newest, true);
                }
            }
            else
            {
                return (t, false); // events at and after t in one tile: present, but not exactly known
            }
        }

        return (null, true);
    }

    private static long CeilToHop(long time, long hop)
    {
        var index = TileMath.TileIndex(time, hop);
        if (time % hop == 0)
        {
            return time;
        }

        // The next tile's start; past the range of long no instant qualifies.
        return index >= (long.MaxValue / hop) - 1 ? long.MaxValue : TileMath.TileStart(index + 1, hop);
    }

    private static FeatureValue Empty(WindowedFeature feature, ValueStatus status) => feature.Kind switch
    {
        AggregationKind.Count => new FeatureValue(status, ValueKind.Int64, 0, 0, null, null),
        AggregationKind.Sum => new FeatureValue(status, ValueKind.Double, 0, 0, null, null),
        _ => FeatureValue.Null(status),
    };
}
