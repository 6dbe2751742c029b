using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;

namespace FeatureStore.Ingest;

internal sealed partial class OnlineTileWriter
{
    private enum InputKind : byte
    {
        Number,
        NumberHash,
        TextHash,
        Text,
    }

    /// <summary>
    /// What one source's events give its views' features. Each distinct input (a field read as a number, as
    /// the hash of a number or of a text, or as text) is one column, kept once per event however many features
    /// of however many views read it; a feature reads its column, or nothing (count, or a field it cannot use).
    /// </summary>
    private sealed class InputPlan
    {
        private readonly int[] _slots;
        private readonly InputKind[] _kinds;
        // A column's place among the value columns (numbers and hashes, 8 bytes each) or among the text columns.
        private readonly int[] _positions;
        private readonly int[][] _featureColumns;

        public InputPlan(CompiledSource source)
        {
            var columns = new List<(int Slot, InputKind Kind)>();
            _featureColumns = new int[source.Views.Count][];
            for (var v = 0; v < source.Views.Count; v++)
            {
                var view = source.Views[v];
                var map = new int[view.Features.Count];
                for (var f = 0; f < map.Length; f++)
                {
                    var kind = KindOf(source.Schema, view.Features[f], view.InputSlots[f]);
                    if (kind is not { } k)
                    {
                        map[f] = -1;
                        continue;
                    }

                    var column = columns.IndexOf((view.InputSlots[f], k));
                    if (column < 0)
                    {
                        column = columns.Count;
                        columns.Add((view.InputSlots[f], k));
                    }

                    map[f] = column;
                }

                _featureColumns[v] = map;
            }

            _slots = [.. columns.Select(c => c.Slot)];
            _kinds = [.. columns.Select(c => c.Kind)];
            _positions = new int[columns.Count];
            for (var c = 0; c < columns.Count; c++)
            {
                _positions[c] = _kinds[c] == InputKind.Text ? TextCount++ : ValueCount++;
            }
        }

        /// <summary>Number and hash columns per event.</summary>
        public int ValueCount { get; }

        /// <summary>Text columns per event.</summary>
        public int TextCount { get; }

        /// <summary>Reads the parsed event's columns: values (with presence, 0 when the field was missing or null) and texts (null when missing).</summary>
        public void Read(EventParser parser, Span<ulong> values, Span<byte> present, Span<string?> texts, TextCache cache)
        {
            for (var c = 0; c < _slots.Length; c++)
            {
                var slot = _slots[c];
                var p = _positions[c];
                var kind = _kinds[c];
                if (!parser.HasValue(slot))
                {
                    if (kind == InputKind.Text)
                    {
                        texts[p] = null;
                    }
                    else
                    {
                        present[p] = 0;
                    }

                    continue;
                }

                switch (kind)
                {
                    case InputKind.Number:
                        values[p] = BitConverter.DoubleToUInt64Bits(parser.GetDouble(slot));
                        present[p] = 1;
                        break;
                    case InputKind.NumberHash:
                        values[p] = HyperLogLog.HashValue(parser.GetDouble(slot));
                        present[p] = 1;
                        break;
                    case InputKind.TextHash:
                        values[p] = HyperLogLog.HashValue(parser.GetUtf8(slot));
                        present[p] = 1;
                        break;
                    default:
                        texts[p] = cache.Get(parser.GetUtf8(slot));
                        break;
                }
            }
        }

        /// <summary>The inputs of view <paramref name="view"/>'s features, from one event's columns.</summary>
        public void Inputs(int view, ReadOnlySpan<ulong> values, ReadOnlySpan<byte> present, ReadOnlySpan<string?> texts, Span<FeatureInput> into)
        {
            var columns = _featureColumns[view];
            for (var f = 0; f < columns.Length; f++)
            {
                var c = columns[f];
                if (c < 0)
                {
                    into[f] = FeatureInput.Absent;
                    continue;
                }

                var p = _positions[c];
                into[f] = _kinds[c] switch
                {
                    InputKind.Text => texts[p] is { } text ? new FeatureInput(true, 0, 0, text) : FeatureInput.Absent,
                    _ when present[p] == 0 => FeatureInput.Absent,
                    InputKind.Number => new FeatureInput(true, BitConverter.UInt64BitsToDouble(values[p]), 0, null),
                    _ => new FeatureInput(true, 0, values[p], null),
                };
            }
        }

        private static InputKind? KindOf(EventSchema schema, WindowedFeature feature, int slot)
        {
            if (feature.Kind == AggregationKind.Count || slot < 0)
            {
                return null;
            }

            var text = schema.Fields[slot].Kind == FieldKind.String;
            return (feature.Kind, text) switch
            {
                (AggregationKind.ApproxDistinct, false) => InputKind.NumberHash,
                (AggregationKind.ApproxDistinct, true) => InputKind.TextHash,
                (AggregationKind.Last, true) => InputKind.Text,
                (_, false) => InputKind.Number,
                _ => null,
            };
        }
    }

    /// <summary>
    /// The events of one batch, flat and compact: time, offset and the source's input columns once per event
    /// (a few words, not one input per feature per view), and per view an entry chaining the event to its
    /// entity's previous one. Buffering an event allocates nothing, and a batch of 100 000 events stays a few
    /// megabytes, so building walks it mostly from cache.
    /// </summary>
    private sealed class PendingEvents
    {
        private long[] _time = new long[1024];
        private long[] _offset = new long[1024];
        private int[] _valueStart = new int[1024];
        private int[] _textStart = new int[1024];
        private ulong[] _values = new ulong[4096];
        private byte[] _present = new byte[4096];
        private string?[] _texts = new string?[1024];
        private int[] _entryEvent = new int[2048];
        private int[] _entryNext = new int[2048];
        private int _count;
        private int _valueCount;
        private int _textCount;
        private int _entryCount;

        /// <summary>Buffers the parsed event's columns; returns its index, to <see cref="Link"/> to each view's entity.</summary>
        public int Append(long time, long offset, InputPlan plan, EventParser parser, TextCache cache)
        {
            if (_count == _time.Length)
            {
                var capacity = _count * 2;
                Array.Resize(ref _time, capacity);
                Array.Resize(ref _offset, capacity);
                Array.Resize(ref _valueStart, capacity);
                Array.Resize(ref _textStart, capacity);
            }

            if (_valueCount + plan.ValueCount > _values.Length)
            {
                var capacity = Math.Max(_values.Length * 2, _valueCount + plan.ValueCount);
                Array.Resize(ref _values, capacity);
                Array.Resize(ref _present, capacity);
            }

            if (_textCount + plan.TextCount > _texts.Length)
            {
                Array.Resize(ref _texts, Math.Max(_texts.Length * 2, _textCount + plan.TextCount));
            }

            var index = _count++;
            _time[index] = time;
            _offset[index] = offset;
            _valueStart[index] = _valueCount;
            _textStart[index] = _textCount;
            plan.Read(parser, _values.AsSpan(_valueCount, plan.ValueCount), _present.AsSpan(_valueCount, plan.ValueCount), _texts.AsSpan(_textCount, plan.TextCount), cache);
            _valueCount += plan.ValueCount;
            _textCount += plan.TextCount;
            return index;
        }

        /// <summary>Chains event <paramref name="index"/> to <paramref name="owner"/>'s events of this batch.</summary>
        public void Link(CachedState owner, int side, int index)
        {
            if (_entryCount == _entryEvent.Length)
            {
                Array.Resize(ref _entryEvent, _entryCount * 2);
                Array.Resize(ref _entryNext, _entryCount * 2);
            }

            var entry = _entryCount++;
            _entryEvent[entry] = index;
            _entryNext[entry] = -1;
            if (owner.LastEvent[side] >= 0)
            {
                _entryNext[owner.LastEvent[side]] = entry;
            }
            else
            {
                owner.FirstEvent[side] = entry;
            }

            owner.LastEvent[side] = entry;
        }

        /// <summary>Adds <paramref name="owner"/>'s events of this batch to <paramref name="state"/>, through <paramref name="inputs"/> (one per feature, reused).</summary>
        public void ApplyTo(CachedState owner, int side, ViewWindowState state, FeatureInput[] inputs)
        {
            var plan = owner.Owner.Plan;
            var view = owner.ViewIndex;
            var into = inputs.AsSpan(0, owner.View.Features.Count);
            for (var entry = owner.FirstEvent[side]; entry >= 0; entry = _entryNext[entry])
            {
                var e = _entryEvent[entry];
                var values = _valueStart[e];
                plan.Inputs(view, _values.AsSpan(values, plan.ValueCount), _present.AsSpan(values, plan.ValueCount), _texts.AsSpan(_textStart[e], plan.TextCount), into);
                state.Add(_time[e], _offset[e], into);
            }
        }

        /// <summary>Drops a partition's events by unlinking them from their entities (the slots stay until Clear).</summary>
        public static void Forget(PartitionStates owner, int side)
        {
            foreach (var cached in owner.All())
            {
                cached.FirstEvent[side] = -1;
                cached.LastEvent[side] = -1;
            }
        }

        public void Clear()
        {
            _texts.AsSpan(0, _textCount).Clear(); // release texts
            _count = 0;
            _valueCount = 0;
            _textCount = 0;
            _entryCount = 0;
        }
    }
}
