using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using FeatureStore.Core.Windows.Internal;

namespace FeatureStore.Core.Windows;

// The binary form of a state in the online store, and the merge of partition shares.
// Format 5: little-endian, integers as LEB128 varints (zigzag when signed), times relative to their tile's
// start, and per aggregation only the fields it needs; a sum's zero compensation, a one-value stddev's mean
// and M2, and last's zero number are left out, as flags in the count's low bits say. Each tile column is its
// tile count, its byte length, then its tiles newest first (the newest index, then the gaps to each older
// one): a lookup reads a window's tiles and jumps over the older ones. A raw entry's input is one tag byte,
// then a value only when it is not the one the feature had in the entry before, nor the number an earlier
// feature of the same entry has (a field read by sum, mean and max is written once); a number that is a whole
// count of thousandths or coarser is written as that count, and a hash as the sketch register and rank it
// sets. Formats 4 and 3 are still read: ViewWindowState.LegacyCodec.cs. The aggregations added later
// (percentile, last_n, last_n_distinct, top_k) are new kind bytes in format 5, which no state written before
// them holds, so every stored state stays readable; their feature header also carries the parameter (p, n or
// k), and their tiles the sketch, the latest entries or the value counts.
public sealed partial class ViewWindowState
{
    private const byte FormatVersion = 5;

    // The shape the presence column is written with (a count per tile).
    private static readonly WindowedFeature PresenceFeature = new(AggregationKind.Count, new WindowSpec(0, 1));

    // Raw input tags (format 5): absent; a value follows (a double; for approx_distinct, the sketch register
    // and rank its hash sets, in 3 bytes); the value of this feature in the entry before; a decimal follows
    // (the number is m / 10^(tag - InputDecimal), m a zigzag varint; for last, then its text); and, from
    // InputAsFeature on, the number of feature (tag - InputAsFeature) of this entry.
    private const byte InputAbsent = 0;
    private const byte InputValue = 1;
    private const byte InputAsBefore = 2;
    private const byte InputDecimal = 3;
    private const int DecimalScales = 4;
    private const byte InputAsFeature = InputDecimal + DecimalScales;
    private static readonly double[] PowersOfTen = [1, 10, 100, 1000];

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _column;

    /// <summary>
    /// Writes the state in a compact binary form (leading format byte), for the online store.
    /// Only the fields each feature's aggregation needs are written.
    /// </summary>
    public void WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var w = new Writer(writer);
        w.Byte(FormatVersion);
        w.VarUInt((ulong)_features.Length);
        w.VarInt(FirstEventTime ?? long.MinValue);
        w.VarInt(LastEventTime ?? long.MinValue);
        w.VarInt(_compactedBefore);
        for (var f = 0; f < _features.Length; f++)
        {
            var kind = _features[f].Kind;
            w.Byte((byte)kind);
            w.VarUInt((ulong)_features[f].Window.HopMs);
            if (AggregationKinds.HasParameter(kind))
            {
                w.Double(_features[f].Parameter); // the aggregations added in format 5 name their parameter too
            }

            WriteAggregate(ref w, _features[f], _base[f], 0);
            WriteTiles(ref w, _tiles[f], _features[f], _features[f].Window.HopMs);
        }

        WriteTiles(ref w, _presence, PresenceFeature, _presenceHop);
        w.VarInt(_headFrom);
        w.VarUInt((ulong)_head.Count);
        long previousTime = 0, previousSequence = 0;
        for (var e = 0; e < _head.Count; e++)
        {
            var time = _head.TimeAt(e);
            var sequence = _head.SequenceAt(e);
            w.VarInt(unchecked(time - previousTime));
            w.VarInt(unchecked(sequence - previousSequence));
            (previousTime, previousSequence) = (time, sequence);
            for (var f = 0; f < _features.Length; f++)
            {
                WriteInput(ref w, e, f);
            }
        }

        w.Flush();
    }

    /// <summary>
    /// Reads what <see cref="WriteTo"/> wrote into a state for the same features; throws
    /// <see cref="InvalidDataException"/> when the bytes were written for other features (the view changed)
    /// or are damaged.
    /// </summary>
    public static ViewWindowState ReadFrom(ReadOnlySpan<byte> data, IReadOnlyList<WindowedFeature> features, long ttlMs)
    {
        var state = new ViewWindowState(features, ttlMs);
        state.LoadFrom(data);
        return state;
    }

    /// <summary>
    /// Replaces this state's content with what <see cref="WriteTo"/> wrote (same features), reusing its
    /// buffers; throws <see cref="InvalidDataException"/> like <see cref="ReadFrom"/>.
    /// </summary>
    public void LoadFrom(ReadOnlySpan<byte> data) => Load(data, long.MinValue);

    /// <summary>
    /// Like <see cref="LoadFrom"/>, for a state that will only be evaluated at <paramref name="evaluatedFrom"/>
    /// or later (a lookup): when no event is later than that instant, no tile needs cutting, so the raw
    /// entries are not decoded. Such a state must not be written back.
    /// </summary>
    public void LoadForEvaluation(ReadOnlySpan<byte> data, long evaluatedFrom) => Load(data, evaluatedFrom);

    /// <summary>
    /// The time of the newest event in a stored state, read from its header alone (null when it has none);
    /// throws <see cref="InvalidDataException"/> when the header is damaged.
    /// </summary>
    public static long? StoredLastEventTime(ReadOnlySpan<byte> data)
    {
        try
        {
            var r = new Reader(ShareStamp.Payload(data));
            if (!IsReadableFormat(r.Byte()))
            {
                throw new InvalidDataException("unknown tile format version");
            }

            r.VarUInt();
            r.VarInt();
            var last = r.VarInt();
            return last == long.MinValue ? null : last;
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException)
        {
            throw new InvalidDataException("stored state is truncated or damaged", ex);
        }
    }

    private void Load(ReadOnlySpan<byte> data, long evaluatedFrom)
    {
        Reset();
        try
        {
            Read(data, evaluatedFrom);
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException)
        {
            Reset();
            throw new InvalidDataException("stored state is truncated or damaged", ex);
        }
    }

    /// <summary>
    /// Adds everything <paramref name="other"/> holds (another partition's share of the same entity, or
    /// events of the same share not yet merged): tiles merge by index, raw entries are kept when both sides
    /// still have them.
    /// </summary>
    public void MergeFrom(ViewWindowState other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other._features.Length != _features.Length)
        {
            throw new ArgumentException("states of different views", nameof(other));
        }

        if (other.FirstEventTime is { } first)
        {
            FirstEventTime = FirstEventTime is { } mine ? Math.Min(mine, first) : first;
        }

        if (other.LastEventTime is { } last)
        {
            LastEventTime = LastEventTime is { } mine ? Math.Max(mine, last) : last;
        }

        _compactedBefore = Math.Max(_compactedBefore, other._compactedBefore);
        for (var f = 0; f < _features.Length; f++)
        {
            _base[f].Merge(_features[f], other._base[f]);
            MergeTiles(_tiles[f], other._tiles[f], _features[f]);
        }

        MergeTiles(_presence, other._presence, PresenceFeature);

        // The merged head covers what both cover: drop what only one side still has.
        _headFrom = Math.Max(_headFrom, other._headFrom);
        _head.AddRange(other._head);
        if (_headFrom != long.MinValue)
        {
            _head.RemoveOlderThan(_headFrom);
        }
    }

    private void Read(ReadOnlySpan<byte> data, long evaluatedFrom)
    {
        var r = new Reader(ShareStamp.Payload(data), _recycler);
        var version = r.Byte();
        if (!IsReadableFormat(version))
        {
            throw new InvalidDataException("unknown tile format version");
        }

        r.Format = version;

        if (r.VarUInt() != (ulong)_features.Length)
        {
            throw new InvalidDataException("stored state has another number of features");
        }

        var first = r.VarInt();
        var last = r.VarInt();
        FirstEventTime = first == long.MinValue ? null : first;
        LastEventTime = last == long.MinValue ? null : last;
        _compactedBefore = r.VarInt();
        for (var f = 0; f < _features.Length; f++)
        {
            var kind = (AggregationKind)r.Byte();
            var hop = (long)r.VarUInt();
            if (kind != _features[f].Kind || hop != _features[f].Window.HopMs)
            {
                throw new InvalidDataException($"stored feature {f} is {kind} with hop {hop}, not {_features[f].Kind} with hop {_features[f].Window.HopMs}");
            }

            if (AggregationKinds.HasParameter(kind) && r.Double() is var parameter && BitConverter.DoubleToInt64Bits(parameter) != BitConverter.DoubleToInt64Bits(_features[f].Parameter))
            {
                throw new InvalidDataException($"stored feature {f} is {kind} of {parameter}, not of {_features[f].Parameter}");
            }

            ReadAggregate(ref r, _features[f], 0, ref _base[f]);

            // Evaluated at evaluatedFrom or later, a windowed feature never reads a tile before the window's
            // first at evaluatedFrom: those are stepped over without being decoded.
            var window = _features[f].Window;
            var skipBefore = evaluatedFrom == long.MinValue || window.IsLifetime ? long.MinValue : TileMath.FirstTile(evaluatedFrom, window);
            if (version != OldestFirstFormat)
            {
                ReadTiles(ref r, _tiles[f], _features[f], hop, skipBefore);
            }
            else
            {
                ReadTilesOldestFirst(ref r, _tiles[f], kind, hop, skipBefore);
            }
        }

        if (version != OldestFirstFormat)
        {
            ReadTiles(ref r, _presence, PresenceFeature, _presenceHop, long.MinValue);
        }
        else
        {
            ReadTilesOldestFirst(ref r, _presence, AggregationKind.Count, _presenceHop, long.MinValue);
        }

        if (LastEventTime is { } newest && newest <= evaluatedFrom)
        {
            // Every tile is complete at the instants this state will be evaluated at: no raw entry is read.
            _headFrom = long.MaxValue;
            return;
        }

        _headFrom = r.VarInt();
        var headCount = checked((int)r.VarUInt());
        if (headCount > r.Remaining)
        {
            throw new InvalidDataException("stored raw entry count exceeds the data");
        }

        _head.EnsureCapacity(headCount);
        long time = 0, sequence = 0;
        for (var e = 0; e < headCount; e++)
        {
            time = unchecked(time + r.VarInt());
            sequence = unchecked(sequence + r.VarInt());
            var inputs = _head.AddUninitialized(time, sequence);
            for (var f = 0; f < _features.Length; f++)
            {
                inputs[f] = version == FormatVersion ? ReadTaggedInput(ref r, e, f, inputs) : ReadWholeInput(ref r, _features[f].Kind);
            }
        }

        if (!r.AtEnd)
        {
            throw new InvalidDataException("stored state has trailing bytes");
        }
    }

    private static void MergeTiles(TileColumn into, TileColumn from, in WindowedFeature feature)
    {
        for (var i = 0; i < from.Count; i++)
        {
            into.GetOrAdd(from.IndexAt(i)).Merge(feature, from.AggregateAt(i));
        }
    }

    private static void WriteTiles(ref Writer w, TileColumn tiles, in WindowedFeature feature, long hop)
    {
        w.VarUInt((ulong)tiles.Count);
        if (tiles.Count == 0)
        {
            return;
        }

        // The column goes to a scratch buffer first: its byte length precedes it.
        var scratch = _column ??= new ArrayBufferWriter<byte>(4096);
        scratch.ResetWrittenCount();
        var column = new Writer(scratch);
        var previous = tiles.IndexAt(tiles.Count - 1);
        column.VarInt(previous);
        for (var i = tiles.Count - 1; i >= 0; i--)
        {
            var index = tiles.IndexAt(i);
            if (i < tiles.Count - 1)
            {
                column.VarUInt(unchecked((ulong)(previous - index)));
                previous = index;
            }

            WriteAggregate(ref column, feature, tiles.AggregateAt(i), unchecked(index * hop));
        }

        column.Flush();
        w.VarUInt((ulong)scratch.WrittenCount);
        w.Bytes(scratch.WrittenSpan);
    }

    private static void ReadTiles(ref Reader r, TileColumn tiles, in WindowedFeature feature, long hop, long skipBefore)
    {
        var count = checked((int)r.VarUInt());
        if (count == 0)
        {
            return;
        }

        var length = checked((int)r.VarUInt());
        if (count > length || length > r.Remaining)
        {
            throw new InvalidDataException("stored tile column exceeds the data");
        }

        var end = r.Position + length;
        var first = tiles.Count;
        if (first > 0)
        {
            throw new InvalidOperationException("tiles are read into an empty column");
        }

        tiles.EnsureCapacity(count);
        var index = r.VarInt();
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                var gap = r.VarUInt();
                if (gap == 0 || gap > unchecked((ulong)(index - long.MinValue)))
                {
                    throw new InvalidDataException("stored tiles are out of order");
                }

                index = unchecked(index - (long)gap);
            }

            if (index < skipBefore)
            {
                // Older tiles than the first one a query can read: the rest of the column is jumped over.
                r.Position = end;
                break;
            }

            ReadAggregate(ref r, feature, unchecked(index * hop), ref tiles.AppendEmpty(index));
        }

        if (r.Position != end)
        {
            throw new InvalidDataException("stored tile column has another length");
        }

        tiles.Reverse();
    }

    // Format 5 folds flags into the count (the low bits) and leaves out what they say is zero or implied: a sum's
    // compensation when it is zero (a tile of one event, or sums that never rounded), a one-value stddev's mean
    // and M2 (its sum and 0), and last's number when it is zero (always so for last of a text).
    private static void WriteAggregate(ref Writer w, in WindowedFeature feature, in PartialAggregate a, long origin)
    {
        var kind = feature.Kind;
        var flags = WrittenFlags(kind, a);
        w.VarUInt(((ulong)a.Count << FlagBits(kind, FormatVersion)) | flags);
        w.VarInt(unchecked(a.MaxTime - origin));
        switch (kind)
        {
            case AggregationKind.Sum or AggregationKind.Mean or AggregationKind.StdDev:
                w.Double(a.Sum);
                if ((flags & 1) != 0)
                {
                    w.Double(a.SumCompensation);
                }

                if (kind == AggregationKind.StdDev && (flags & 2) == 0)
                {
                    w.Double(a.Mean);
                    w.Double(a.M2);
                }

                break;
            case AggregationKind.Min:
                w.Double(a.Min);
                break;
            case AggregationKind.Max:
                w.Double(a.Max);
                break;
            case AggregationKind.Last:
                w.VarInt(unchecked(a.LastTime - origin));
                w.VarInt(a.LastSequence);
                if ((flags & 1) != 0)
                {
                    w.Double(a.LastNumber);
                }

                w.Text(a.LastText);
                break;
            case AggregationKind.ApproxDistinct:
                w.Byte(a.Distinct is null ? (byte)0 : (byte)1);
                if (a.Distinct is not null)
                {
                    w.Sketch(a.Distinct);
                }

                break;
            case AggregationKind.Percentile:
                WriteQuantiles(ref w, a.Quantiles);
                break;
            case AggregationKind.LastN or AggregationKind.LastNDistinct:
                WriteRecent(ref w, a.Recent, origin);
                break;
            case AggregationKind.TopK:
                WriteFrequent(ref w, a.Frequent);
                break;
        }
    }

    // A percentile's sketch: its count, rank error bound and compaction parities, then each level's values.
    private static void WriteQuantiles(ref Writer w, QuantileSketch? sketch)
    {
        if (sketch is null)
        {
            w.VarUInt(0);
            return;
        }

        w.VarUInt((ulong)sketch.LevelCount + 1);
        w.VarUInt((ulong)sketch.Count);
        w.VarUInt((ulong)sketch.RankErrorBound);
        w.VarUInt(sketch.Parity);
        for (var h = 0; h < sketch.LevelCount; h++)
        {
            var level = sketch.Level(h);
            w.VarUInt((ulong)level.Length);
            foreach (var value in level)
            {
                w.Double(value);
            }
        }
    }

    private static QuantileSketch? ReadQuantiles(ref Reader r)
    {
        var levels = (long)r.VarUInt() - 1;
        if (levels < 0)
        {
            return null;
        }

        var sketch = new QuantileSketch();
        sketch.LoadHeader(checked((long)r.VarUInt()), checked((long)r.VarUInt()), r.VarUInt(), checked((int)levels));
        long weight = 0;
        for (var h = 0; h < levels; h++)
        {
            var count = checked((int)r.VarUInt());
            if (count > r.Remaining / 8)
            {
                throw new InvalidDataException("stored quantile sketch exceeds the data");
            }

            var values = sketch.LoadLevel(h, count);
            for (var i = 0; i < count; i++)
            {
                values[i] = r.Double();
            }

            weight += (long)count << h;
        }

        if (weight != sketch.Count)
        {
            throw new InvalidDataException("stored quantile sketch has another weight than its count");
        }

        return sketch;
    }

    // last_n(_distinct): the entries, oldest first, each its time (from the tile's start), log position, number and text.
    private static void WriteRecent(ref Writer w, RecentValues? recent, long origin)
    {
        w.VarUInt((ulong)(recent?.Count ?? 0));
        for (var i = 0; i < (recent?.Count ?? 0); i++)
        {
            var (time, sequence, number, text) = recent!.At(i);
            w.VarInt(unchecked(time - origin));
            w.VarInt(sequence);
            w.Double(number);
            w.Text(text);
        }
    }

    private static RecentValues? ReadRecent(ref Reader r, in WindowedFeature feature, long origin)
    {
        var count = checked((int)r.VarUInt());
        if (count == 0)
        {
            return null;
        }

        if (count > feature.Size || count > r.Remaining)
        {
            throw new InvalidDataException("stored last_n holds more than n values");
        }

        var recent = new RecentValues(feature.Size, feature.Kind == AggregationKind.LastNDistinct);
        for (var i = 0; i < count; i++)
        {
            var time = unchecked(r.VarInt() + origin);
            var sequence = r.VarInt();
            recent.Add(time, sequence, r.Double(), r.Text());
        }

        return recent;
    }

    // top_k: the undercount, then each value (its text, or a null text and the number) and its count.
    private static void WriteFrequent(ref Writer w, FrequentValues? frequent)
    {
        w.VarUInt((ulong)(frequent?.Count ?? 0));
        if (frequent is null)
        {
            return;
        }

        w.VarUInt((ulong)frequent.Undercount);
        foreach (var (key, count) in frequent)
        {
            w.Text(key.Text);
            if (key.Text is null)
            {
                w.Double(key.Number);
            }

            w.VarUInt((ulong)count);
        }
    }

    private static FrequentValues? ReadFrequent(ref Reader r, in WindowedFeature feature)
    {
        var count = checked((int)r.VarUInt());
        if (count == 0)
        {
            return null;
        }

        var frequent = new FrequentValues(FrequentValues.TileCapacity(feature.Size));
        if (count > frequent.Capacity || count > r.Remaining)
        {
            throw new InvalidDataException("stored top_k holds more values than its capacity");
        }

        var undercount = checked((long)r.VarUInt());
        for (var i = 0; i < count; i++)
        {
            var text = r.Text();
            var number = text is null ? r.Double() : 0;
            frequent.Load(new ValueKey(number, text), checked((long)r.VarUInt()), undercount);
        }

        return frequent;
    }

    // Bit 0: a sum's compensation, or last's number, is written (not zero); bit 1: a stddev holds one value (its
    // mean is its sum and its M2 zero, neither written).
    private static ulong WrittenFlags(AggregationKind kind, in PartialAggregate a)
    {
        switch (kind)
        {
            case AggregationKind.Sum or AggregationKind.Mean:
                return IsPositiveZero(a.SumCompensation) ? 0UL : 1;
            case AggregationKind.StdDev:
                var compensated = !IsPositiveZero(a.SumCompensation);
                var single = a.Count == 1 && !compensated && BitConverter.DoubleToInt64Bits(a.Mean) == BitConverter.DoubleToInt64Bits(a.Sum) && IsPositiveZero(a.M2);
                return (compensated ? 1UL : 0) | (single ? 2UL : 0);
            case AggregationKind.Last:
                return IsPositiveZero(a.LastNumber) ? 0UL : 1;
            default:
                return 0;
        }
    }

    private static bool IsPositiveZero(double value) => BitConverter.DoubleToInt64Bits(value) == 0;

    // The flags format 5 folds into an aggregate's count (0 before it).
    private static int FlagBits(AggregationKind kind, byte format) =>
        format < FormatVersion ? 0 : kind switch
        {
            AggregationKind.Sum or AggregationKind.Mean or AggregationKind.Last => 1,
            AggregationKind.StdDev => 2,
            _ => 0,
        };

    // Fills an empty aggregate (in place: a tile's aggregate is large, and copying it costs more than reading it).
    private static void ReadAggregate(ref Reader r, in WindowedFeature feature, long origin, ref PartialAggregate a)
    {
        var kind = feature.Kind;
        var bits = FlagBits(kind, r.Format);
        var head = r.VarUInt();
        var flags = head & ((1UL << bits) - 1);
        a.Count = checked((long)(head >> bits));
        a.MaxTime = unchecked(r.VarInt() + origin);
        var whole = bits == 0;
        switch (kind)
        {
            case AggregationKind.Sum or AggregationKind.Mean:
                a.Sum = r.Double();
                a.SumCompensation = whole || (flags & 1) != 0 ? r.Double() : 0;
                break;
            case AggregationKind.StdDev:
                a.Sum = r.Double();
                a.SumCompensation = whole || (flags & 1) != 0 ? r.Double() : 0;
                if (whole || (flags & 2) == 0)
                {
                    a.Mean = r.Double();
                    a.M2 = r.Double();
                }
                else if (a.Count == 1)
                {
                    (a.Mean, a.M2) = (a.Sum, 0);
                }
                else
                {
                    throw new InvalidDataException("stored stddev of one value has another count");
                }

                break;
            case AggregationKind.Min:
                a.Min = r.Double();
                break;
            case AggregationKind.Max:
                a.Max = r.Double();
                break;
            case AggregationKind.Last:
                a.LastTime = unchecked(r.VarInt() + origin);
                a.LastSequence = r.VarInt();
                a.LastNumber = whole || (flags & 1) != 0 ? r.Double() : 0;
                a.LastText = r.Text();
                break;
            case AggregationKind.ApproxDistinct:
                if (r.Byte() == 1)
                {
                    a.Distinct = r.Sketch();
                }

                break;
            case AggregationKind.Percentile:
                a.Quantiles = ReadQuantiles(ref r);
                break;
            case AggregationKind.LastN or AggregationKind.LastNDistinct:
                a.Recent = ReadRecent(ref r, feature, origin);
                break;
            case AggregationKind.TopK:
                a.Frequent = ReadFrequent(ref r, feature);
                break;
        }
    }

    // A raw entry keeps, per feature, only what its aggregation reads: nothing for count; otherwise a tag, and
    // the value (a hash for approx_distinct, number and text for last, a number for the others) unless the tag
    // points at an equal one already written.
    private void WriteInput(ref Writer w, int entry, int f)
    {
        var kind = _features[f].Kind;
        if (kind == AggregationKind.Count)
        {
            return;
        }

        ref readonly var input = ref _head.InputAt(entry, f);
        if (!input.Present)
        {
            w.Byte(InputAbsent);
            return;
        }

        if (entry > 0 && SameStoredInput(kind, input, _head.InputAt(entry - 1, f)))
        {
            w.Byte(InputAsBefore);
            return;
        }

        if (IsNumberOnly(kind, input))
        {
            var number = BitConverter.DoubleToInt64Bits(input.Number);
            for (var j = 0; j < Math.Min(f, byte.MaxValue - InputAsFeature + 1); j++)
            {
                ref readonly var earlier = ref _head.InputAt(entry, j);
                if (earlier.Present && IsNumberOnly(_features[j].Kind, earlier) && BitConverter.DoubleToInt64Bits(earlier.Number) == number)
                {
                    w.Byte((byte)(InputAsFeature + j));
                    return;
                }
            }
        }

        if (kind == AggregationKind.ApproxDistinct)
        {
            w.Byte(InputValue);
            w.SketchPosition(SketchPosition(input.Hash));
            return;
        }

        if (TryDecimal(input.Number, out var scale, out var mantissa))
        {
            w.Byte((byte)(InputDecimal + scale));
            w.VarInt(mantissa);
        }
        else
        {
            w.Byte(InputValue);
            w.Double(input.Number);
        }

        if (AggregationKinds.KeepsText(kind))
        {
            w.Text(input.Text);
        }
    }

    // A number that is a whole count of units, tenths, hundredths or thousandths (amounts, prices, counts),
    // as that count when it takes fewer bytes than the double: read back, m / 10^scale is the same double.
    private static bool TryDecimal(double value, out int scale, out long mantissa)
    {
        for (scale = 0; scale < DecimalScales; scale++)
        {
            var scaled = Math.Round(value * PowersOfTen[scale]);
            if (Math.Abs(scaled) < 1L << 41)
            {
                mantissa = (long)scaled;
                if (BitConverter.DoubleToInt64Bits(mantissa / PowersOfTen[scale]) == BitConverter.DoubleToInt64Bits(value))
                {
                    return true;
                }
            }
        }

        mantissa = 0;
        return false;
    }

    // What a sketch takes from a hash (its register and the rank it sets), as 18 bits: a raw entry keeps only
    // that, and reads back as a hash that sets the same register to the same rank.
    internal static uint SketchPosition(ulong hash)
    {
        var (index, rank) = HyperLogLog.Position(hash);
        return ((uint)index << 6) | rank;
    }

    internal static ulong HashOf(uint position)
    {
        var index = (int)(position >> 6);
        var rank = (int)(position & 63);
        if (rank is < 1 or > HyperLogLog.MaxRank || index >= HyperLogLog.RegisterCount)
        {
            throw new InvalidDataException("stored sketch position is out of range");
        }

        return HyperLogLog.HashAt(index, rank);
    }

    // An input stored as its number alone (last of a number too: its text is null).
    private static bool IsNumberOnly(AggregationKind kind, in FeatureInput input) =>
        kind is not (AggregationKind.Count or AggregationKind.ApproxDistinct) && (!AggregationKinds.KeepsText(kind) || input.Text is null);

    // Whether two present inputs of one feature store the same bytes.
    private static bool SameStoredInput(AggregationKind kind, in FeatureInput input, in FeatureInput before) =>
        before.Present && kind switch
        {
            AggregationKind.ApproxDistinct => SketchPosition(input.Hash) == SketchPosition(before.Hash),
            _ when AggregationKinds.KeepsText(kind) => BitConverter.DoubleToInt64Bits(input.Number) == BitConverter.DoubleToInt64Bits(before.Number) && string.Equals(input.Text, before.Text, StringComparison.Ordinal),
            _ => BitConverter.DoubleToInt64Bits(input.Number) == BitConverter.DoubleToInt64Bits(before.Number),
        };

    // Reads what WriteInput wrote for feature f of raw entry `entry`, whose earlier inputs are in `inputs`.
    private FeatureInput ReadTaggedInput(ref Reader r, int entry, int f, ReadOnlySpan<FeatureInput> inputs)
    {
        var kind = _features[f].Kind;
        if (kind == AggregationKind.Count)
        {
            return FeatureInput.Absent;
        }

        var tag = r.Byte();
        switch (tag)
        {
            case InputAbsent:
                return FeatureInput.Absent;
            case InputValue:
                return kind switch
                {
                    AggregationKind.ApproxDistinct => new FeatureInput(true, 0, HashOf(r.SketchPosition()), null),
                    _ when AggregationKinds.KeepsText(kind) => new FeatureInput(true, r.Double(), 0, r.Text()),
                    _ => new FeatureInput(true, r.Double(), 0, null),
                };
            case InputAsBefore:
                if (entry == 0 || !_head.InputAt(_head.Count - 2, f).Present)
                {
                    throw new InvalidDataException("stored raw input refers to a missing earlier one");
                }

                return _head.InputAt(_head.Count - 2, f);
            case < InputAsFeature:
                if (kind == AggregationKind.ApproxDistinct)
                {
                    throw new InvalidDataException("stored distinct input is a number");
                }

                var number = r.VarInt() / PowersOfTen[tag - InputDecimal];
                return new FeatureInput(true, number, 0, AggregationKinds.KeepsText(kind) ? r.Text() : null);
            default:
                var j = tag - InputAsFeature;
                if (j >= f || kind == AggregationKind.ApproxDistinct || !inputs[j].Present || !IsNumberOnly(_features[j].Kind, inputs[j]))
                {
                    throw new InvalidDataException("stored raw input refers to a missing number");
                }

                return new FeatureInput(true, inputs[j].Number, 0, null);
        }
    }

    // Writes into spans taken from the buffer writer a chunk at a time, not one per field (a state is hundreds
    // of small fields); Flush hands the written bytes over and must end every use.
    private ref struct Writer(IBufferWriter<byte> writer)
    {
        private const int Chunk = 4096;
        private readonly IBufferWriter<byte> _writer = writer;
        private Span<byte> _span;
        private int _written;

        public void Byte(byte value)
        {
            Take(1)[0] = value;
            _written++;
        }

        public void VarUInt(ulong value)
        {
            var span = Take(10);
            var n = 0;
            while (value >= 0x80)
            {
                span[n++] = (byte)(value | 0x80);
                value >>= 7;
            }

            span[n++] = (byte)value;
            _written += n;
        }

        public void VarInt(long value) => VarUInt((ulong)((value << 1) ^ (value >> 63)));

        public void SketchPosition(uint position)
        {
            var span = Take(3);
            span[0] = (byte)position;
            span[1] = (byte)(position >> 8);
            span[2] = (byte)(position >> 16);
            _written += 3;
        }

        public void Double(double value)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(Take(8), value);
            _written += 8;
        }

        public void Text(string? value)
        {
            if (value is null)
            {
                VarUInt(0);
                return;
            }

            var length = Encoding.UTF8.GetByteCount(value);
            VarUInt((ulong)length + 1);
            // Not `_written += …`: Take may hand over what was written and start again from 0.
            var written = Encoding.UTF8.GetBytes(value, Take(length));
            _written += written;
        }

        public void Sketch(HyperLogLog sketch)
        {
            Flush();
            sketch.WriteTo(_writer);
        }

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(Take(bytes.Length));
            _written += bytes.Length;
        }

        /// <summary>Advances the buffer writer past what was written.</summary>
        public void Flush()
        {
            if (_written > 0)
            {
                _writer.Advance(_written);
            }

            _span = default;
            _written = 0;
        }

        // Room for at least size bytes, from _written on.
        private Span<byte> Take(int size)
        {
            if (_span.Length - _written < size)
            {
                Flush();
                _span = _writer.GetSpan(Math.Max(size, Chunk));
            }

            return _span[_written..];
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> data, DecodeRecycler? recycler = null)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private readonly DecodeRecycler? _recycler = recycler;
        private int _position;

        /// <summary>The format version being read (the aggregates' layout depends on it).</summary>
        public byte Format { get; set; } = FormatVersion;

        public readonly bool AtEnd => _position == _data.Length;

        public int Position
        {
            readonly get => _position;
            set => _position = value;
        }

        public readonly int Remaining => _data.Length - _position;

        public byte Byte() => _data[_position++];

        public ulong VarUInt()
        {
            ulong value = 0;
            for (var shift = 0; shift < 70; shift += 7)
            {
                var b = _data[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw new InvalidDataException("varint too long");
        }

        public long VarInt()
        {
            var raw = VarUInt();
            return (long)(raw >> 1) ^ -(long)(raw & 1);
        }

        public ulong ULong()
        {
            var value = BinaryPrimitives.ReadUInt64LittleEndian(_data[_position..]);
            _position += 8;
            return value;
        }

        public uint SketchPosition()
        {
            var bytes = _data.Slice(_position, 3);
            _position += 3;
            return bytes[0] | ((uint)bytes[1] << 8) | ((uint)bytes[2] << 16);
        }

        public double Double()
        {
            var value = BinaryPrimitives.ReadDoubleLittleEndian(_data[_position..]);
            _position += 8;
            return value;
        }

        public string? Text()
        {
            var length = (long)VarUInt() - 1;
            if (length < 0)
            {
                return null;
            }

            var utf8 = _data.Slice(_position, checked((int)length));
            var text = _recycler?.Text(utf8) ?? Encoding.UTF8.GetString(utf8);
            _position += (int)length;
            return text;
        }

        public void Skip(int bytes)
        {
            if (bytes > Remaining)
            {
                throw new ArgumentOutOfRangeException(nameof(bytes), "past the end of the data");
            }

            _position += bytes;
        }

        public void SkipText()
        {
            var length = (long)VarUInt() - 1;
            if (length > 0)
            {
                Skip(checked((int)length));
            }
        }

        public void SkipSketch() => Skip(HyperLogLog.EncodedLength(_data[_position..]));

        public HyperLogLog Sketch()
        {
            var sketch = _recycler?.Rent() ?? new HyperLogLog();
            _position += sketch.ReadOver(_data[_position..]);
            return sketch;
        }
    }
}
