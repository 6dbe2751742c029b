using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace FeatureStore.Core.Windows;

public sealed partial class ViewWindowState
{
    private const byte FormatVersion = 2;

    /// <summary>
    /// Writes the state in a compact little-endian binary form (leading format byte), for the online store.
    /// Only the fields each feature's aggregation needs are written.
    /// </summary>
    public void WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var w = new Writer(writer);
        w.Byte(FormatVersion);
        w.Int(_features.Length);
        w.Long(FirstEventTime ?? long.MinValue);
        w.Long(LastEventTime ?? long.MinValue);
        w.Long(_compactedBefore);
        for (var f = 0; f < _features.Length; f++)
        {
            w.Byte((byte)_features[f].Kind);
            w.Long(_features[f].Window.HopMs);
            WriteAggregate(ref w, _features[f].Kind, _base[f]);
            WriteTiles(ref w, _tiles[f], _features[f].Kind);
        }

        WriteTiles(ref w, _presence, AggregationKind.Count);
        w.Long(_headFrom);
        w.Int(_head.Count);
        foreach (var entry in _head)
        {
            w.Long(entry.Time);
            w.Long(entry.Sequence);
            foreach (var input in entry.Inputs)
            {
                w.Byte(input.Present ? (byte)1 : (byte)0);
                if (input.Present)
                {
                    w.Double(input.Number);
                    w.ULong(input.Hash);
                    w.Text(input.Text);
                }
            }
        }
    }

    /// <summary>
    /// Reads what <see cref="WriteTo"/> wrote into a state for the same features; throws
    /// <see cref="InvalidDataException"/> when the bytes were written for other features (the view changed).
    /// </summary>
    public static ViewWindowState ReadFrom(ReadOnlySpan<byte> data, IReadOnlyList<WindowedFeature> features, long ttlMs)
    {
        var state = new ViewWindowState(features, ttlMs);
        var r = new Reader(data);
        if (r.Byte() != FormatVersion)
        {
            throw new InvalidDataException("unknown tile format version");
        }

        if (r.Int() != state._features.Length)
        {
            throw new InvalidDataException("stored state has another number of features");
        }

        var first = r.Long();
        var last = r.Long();
        state.FirstEventTime = first == long.MinValue ? null : first;
        state.LastEventTime = last == long.MinValue ? null : last;
        state._compactedBefore = r.Long();
        for (var f = 0; f < state._features.Length; f++)
        {
            var kind = (AggregationKind)r.Byte();
            var hop = r.Long();
            if (kind != state._features[f].Kind || hop != state._features[f].Window.HopMs)
            {
                throw new InvalidDataException($"stored feature {f} is {kind} with hop {hop}, not {state._features[f].Kind} with hop {state._features[f].Window.HopMs}");
            }

            state._base[f] = ReadAggregate(ref r, kind);
            ReadTiles(ref r, state._tiles[f], kind);
        }

        ReadTiles(ref r, state._presence, AggregationKind.Count);
        state._headFrom = r.Long();
        var headCount = r.Int();
        state._head.Capacity = headCount;
        for (var e = 0; e < headCount; e++)
        {
            var time = r.Long();
            var sequence = r.Long();
            var inputs = new FeatureInput[state._features.Length];
            for (var f = 0; f < inputs.Length; f++)
            {
                inputs[f] = r.Byte() == 1 ? new FeatureInput(true, r.Double(), r.ULong(), r.Text()) : FeatureInput.Absent;
            }

            state._head.Add(new HeadEntry(time, sequence, inputs));
        }

        return state;
    }

    /// <summary>
    /// Adds everything <paramref name="other"/> holds (another partition's share of the same entity):
    /// tiles merge by index, raw entries are kept when both sides still have them.
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
            _base[f].Merge(_features[f].Kind, other._base[f]);
            MergeTiles(_tiles[f], other._tiles[f], _features[f].Kind);
        }

        MergeTiles(_presence, other._presence, AggregationKind.Count);

        // The merged head covers what both cover: drop what only one side still has.
        _headFrom = Math.Max(_headFrom, other._headFrom);
        _head.AddRange(other._head);
        if (_headFrom != long.MinValue)
        {
            var from = _headFrom;
            _head.RemoveAll(e => e.Time < from);
        }
    }

    private static void MergeTiles(SortedList<long, Tile> into, SortedList<long, Tile> from, AggregationKind kind)
    {
        for (var i = 0; i < from.Count; i++)
        {
            var source = from.Values[i];
            if (!into.TryGetValue(from.Keys[i], out var target))
            {
                target = new Tile();
                into.Add(from.Keys[i], target);
            }

            target.Aggregate.Merge(kind, source.Aggregate);
        }
    }

    private static void WriteTiles(ref Writer w, SortedList<long, Tile> tiles, AggregationKind kind)
    {
        w.Int(tiles.Count);
        for (var i = 0; i < tiles.Count; i++)
        {
            w.Long(tiles.Keys[i]);
            var tile = tiles.Values[i];
            WriteAggregate(ref w, kind, tile.Aggregate);
        }
    }

    private static void ReadTiles(ref Reader r, SortedList<long, Tile> tiles, AggregationKind kind)
    {
        var count = r.Int();
        for (var i = 0; i < count; i++)
        {
            var index = r.Long();
            tiles.Add(index, new Tile { Aggregate = ReadAggregate(ref r, kind) });
        }
    }

    private static void WriteAggregate(ref Writer w, AggregationKind kind, in PartialAggregate a)
    {
        w.Long(a.Count);
        w.Long(a.MaxTime);
        switch (kind)
        {
            case AggregationKind.Sum or AggregationKind.Mean:
                w.Double(a.Sum);
                w.Double(a.SumCompensation);
                break;
            case AggregationKind.StdDev:
                w.Double(a.Sum);
                w.Double(a.SumCompensation);
                w.Double(a.Mean);
                w.Double(a.M2);
                break;
            case AggregationKind.Min:
                w.Double(a.Min);
                break;
            case AggregationKind.Max:
                w.Double(a.Max);
                break;
            case AggregationKind.Last:
                w.Long(a.LastTime);
                w.Long(a.LastSequence);
                w.Double(a.LastNumber);
                w.Text(a.LastText);
                break;
            case AggregationKind.ApproxDistinct:
                w.Byte(a.Distinct is null ? (byte)0 : (byte)1);
                if (a.Distinct is not null)
                {
                    w.Sketch(a.Distinct);
                }

                break;
        }
    }

    private static PartialAggregate ReadAggregate(ref Reader r, AggregationKind kind)
    {
        var a = PartialAggregate.Empty;
        a.Count = r.Long();
        a.MaxTime = r.Long();
        switch (kind)
        {
            case AggregationKind.Sum or AggregationKind.Mean:
                a.Sum = r.Double();
                a.SumCompensation = r.Double();
                break;
            case AggregationKind.StdDev:
                a.Sum = r.Double();
                a.SumCompensation = r.Double();
                a.Mean = r.Double();
                a.M2 = r.Double();
                break;
            case AggregationKind.Min:
                a.Min = r.Double();
                break;
            case AggregationKind.Max:
                a.Max = r.Double();
                break;
            case AggregationKind.Last:
                a.LastTime = r.Long();
                a.LastSequence = r.Long();
                a.LastNumber = r.Double();
                a.LastText = r.Text();
                break;
            case AggregationKind.ApproxDistinct:
                if (r.Byte() == 1)
                {
                    a.Distinct = r.Sketch();
                }

                break;
        }

        return a;
    }

    private ref struct Writer(IBufferWriter<byte> writer)
    {
        public readonly void Byte(byte value)
        {
            writer.GetSpan(1)[0] = value;
            writer.Advance(1);
        }

        public readonly void Int(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(writer.GetSpan(4), value);
            writer.Advance(4);
        }

        public readonly void Long(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(writer.GetSpan(8), value);
            writer.Advance(8);
        }

        public readonly void ULong(ulong value)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(writer.GetSpan(8), value);
            writer.Advance(8);
        }

        public readonly void Double(double value)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(writer.GetSpan(8), value);
            writer.Advance(8);
        }

        public readonly void Text(string? value)
        {
            if (value is null)
            {
                Int(-1);
                return;
            }

            var length = Encoding.UTF8.GetByteCount(value);
            Int(length);
            Encoding.UTF8.GetBytes(value, writer.GetSpan(length));
            writer.Advance(length);
        }

        public readonly void Sketch(HyperLogLog sketch) => sketch.WriteTo(writer);
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public byte Byte() => _data[_position++];

        public int Int()
        {
            var value = BinaryPrimitives.ReadInt32LittleEndian(_data[_position..]);
            _position += 4;
            return value;
        }

        public long Long()
        {
            var value = BinaryPrimitives.ReadInt64LittleEndian(_data[_position..]);
            _position += 8;
            return value;
        }

        public ulong ULong()
        {
            var value = BinaryPrimitives.ReadUInt64LittleEndian(_data[_position..]);
            _position += 8;
            return value;
        }

        public double Double()
        {
            var value = BinaryPrimitives.ReadDoubleLittleEndian(_data[_position..]);
            _position += 8;
            return value;
        }

        public string? Text()
        {
            var length = Int();
            if (length < 0)
            {
                return null;
            }

            var text = Encoding.UTF8.GetString(_data.Slice(_position, length));
            _position += length;
            return text;
        }

        public HyperLogLog Sketch()
        {
            var sketch = HyperLogLog.ReadFrom(_data[_position..], out var consumed);
            _position += consumed;
            return sketch;
        }
    }
}
