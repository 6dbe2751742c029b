using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;

namespace FeatureStore.Ingest;

internal sealed partial class OnlineTileWriter
{
    private enum InputKind : byte
    {
        None,
        Number,
        NumberHash,
        TextHash,
        Text,
    }

    /// <summary>Where a feature's input lies in an event row: its column, and the presence bit of that column.</summary>
    private readonly record struct FeatureColumn(InputKind Kind, int Position, int MaskWord, ulong Bit);

    /// <summary>
    /// What one source's events give its views' features, as one row of words per event: time, offset, the
    /// presence bits of the columns, then the columns. Each distinct input (a field read as a number, as the
    /// hash of a number or of a text, or as text) is one column, kept once per event however many features of
    /// however many views read it; a text column holds the text's place in the batch's text table. A feature
    /// reads its column, or nothing (count, or a field it cannot use).
    /// </summary>
    private sealed class InputPlan
    {
        private const int TimeWord = 0;
        private const int OffsetWord = 1;
        private const int MaskStart = 2;

        private readonly int[] _slots;
        private readonly InputKind[] _kinds;
        private readonly FeatureColumn[][] _featureColumns;

        public InputPlan(CompiledSource source)
        {
            var columns = new List<(int Slot, InputKind Kind)>();
            var map = new int[source.Groups.Count][];
            for (var v = 0; v < source.Groups.Count; v++)
            {
                var view = source.Groups[v];
                map[v] = new int[view.Features.Count];
                for (var f = 0; f < map[v].Length; f++)
                {
                    var kind = KindOf(source.Schema, view.Features[f], view.InputSlots[f]);
                    if (kind is not { } k)
                    {
                        map[v][f] = -1;
                        continue;
                    }

                    var column = columns.IndexOf((view.InputSlots[f], k));
                    if (column < 0)
                    {
                        column = columns.Count;
                        columns.Add((view.InputSlots[f], k));
                    }

                    map[v][f] = column;
                }
            }

            _slots = [.. columns.Select(c => c.Slot)];
            _kinds = [.. columns.Select(c => c.Kind)];
            var maskWords = Math.Max(1, (columns.Count + 63) / 64);
            Header = MaskStart + maskWords;
            Stride = Header + columns.Count;
            _featureColumns = [.. map.Select(features => features
                .Select(c => c < 0 ? default : new FeatureColumn(_kinds[c], Header + c, MaskStart + (c >> 6), 1UL << (c & 63)))
                .ToArray())];
        }

        /// <summary>Words before the columns: time, offset and the presence bits.</summary>
        public int Header { get; }

        /// <summary>Words per event.</summary>
        public int Stride { get; }

        /// <summary>Writes the parsed event's row (its texts go to <paramref name="texts"/>).</summary>
        public void Read(long time, long offset, EventParser parser, Span<ulong> row, PendingEvents texts, TextCache cache)
        {
            row[TimeWord] = (ulong)time;
            row[OffsetWord] = (ulong)offset;
            row[MaskStart..Header].Clear();
            for (var c = 0; c < _slots.Length; c++)
            {
                var slot = _slots[c];
                var at = Header + c;
                if (!parser.HasValue(slot))
                {
                    row[at] = 0;
                    continue;
                }

                row[MaskStart + (c >> 6)] |= 1UL << (c & 63);
                row[at] = _kinds[c] switch
                {
                    InputKind.Number => BitConverter.DoubleToUInt64Bits(parser.GetDouble(slot)),
                    InputKind.NumberHash => HyperLogLog.HashValue(parser.GetDouble(slot)),
                    InputKind.TextHash => HyperLogLog.HashValue(parser.GetUtf8(slot)),
                    _ => (ulong)texts.AddText(cache.Get(parser.GetUtf8(slot))),
                };
            }
        }

        public static long TimeOf(ReadOnlySpan<ulong> row) => (long)row[TimeWord];

        public static long OffsetOf(ReadOnlySpan<ulong> row) => (long)row[OffsetWord];

        /// <summary>The inputs of view <paramref name="view"/>'s features, from one event's row.</summary>
        public void Inputs(int view, ReadOnlySpan<ulong> row, string?[] texts, Span<FeatureInput> into)
        {
            var columns = _featureColumns[view].AsSpan(0, into.Length);
            for (var f = 0; f < columns.Length; f++)
            {
                var column = columns[f];
                if (column.Kind == InputKind.None || (row[column.MaskWord] & column.Bit) == 0)
                {
                    into[f] = FeatureInput.Absent;
                    continue;
                }

                var value = row[column.Position];
                into[f] = column.Kind switch
                {
                    InputKind.Number => new FeatureInput(true, BitConverter.UInt64BitsToDouble(value), 0, null),
                    InputKind.Text => new FeatureInput(true, 0, 0, texts[(int)value]),
                    _ => new FeatureInput(true, 0, value, null),
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
                (AggregationKind.Last or AggregationKind.LastN or AggregationKind.LastNDistinct or AggregationKind.TopK, true) => InputKind.Text,
                (_, false) => InputKind.Number,
                _ => null,
            };
        }
    }

    /// <summary>
    /// The events of one batch and the states they touch. Each event is one row of words in a flat arena (see
    /// <see cref="InputPlan"/>); each (event, view) adds an entry naming the row and the state. When the batch
    /// is sealed, a counting sort copies the rows into a second arena grouped by state (each state's events in
    /// the order they came), so building a state reads one contiguous run, in order, instead of rows scattered
    /// over the batch (a cache miss each). Buffering an event allocates nothing.
    /// </summary>
    private sealed class PendingEvents
    {
        private readonly List<CachedState> _states = [];
        private ulong[] _rows = new ulong[8192];
        private int _rowWords;
        private string?[] _texts = new string?[1024];
        private int _textCount;
        // Per (event, view), in the order added: the state's place in _states (high half) and the event's row.
        private long[] _entries = new long[2048];
        private int _entryCount;
        // Per state: its events while buffering; from Seal on, _starts[i].._starts[i + 1] is its run of rows in
        // _sorted, _strides[i] words each.
        private int[] _counts = new int[1024];
        private int[] _starts = new int[1025];
        private int[] _strides = new int[1025];
        private ulong[] _sorted = new ulong[16384];

        /// <summary>The states touched by this batch, in the order first touched.</summary>
        public int Count => _states.Count;

        public CachedState this[int index] => _states[index];

        /// <summary>Buffers the parsed event as a row; returns where it starts, to <see cref="Link"/> to each view's state.</summary>
        public int Append(long time, long offset, InputPlan plan, EventParser parser, TextCache cache)
        {
            var stride = plan.Stride;
            if (_rowWords + stride > _rows.Length)
            {
                Array.Resize(ref _rows, Math.Max(_rows.Length * 2, _rowWords + stride));
            }

            var row = _rowWords;
            _rowWords += stride;
            plan.Read(time, offset, parser, _rows.AsSpan(row, stride), this, cache);
            return row;
        }

        /// <summary>Keeps a text for this batch; returns its place.</summary>
        public int AddText(string text)
        {
            if (_textCount == _texts.Length)
            {
                Array.Resize(ref _texts, _textCount * 2);
            }

            _texts[_textCount] = text;
            return _textCount++;
        }

        /// <summary>
        /// Adds the event at <paramref name="row"/> to <paramref name="owner"/>'s events of batch
        /// <paramref name="batch"/>; true when it is the state's first in the batch (it joins the touched states).
        /// </summary>
        public bool Link(CachedState owner, long batch, int row)
        {
            var added = false;
            if (owner.DirtyIn != batch)
            {
                owner.DirtyIn = batch;
                owner.DirtyIndex = _states.Count;
                if (_states.Count == _counts.Length)
                {
                    Array.Resize(ref _counts, _counts.Length * 2);
                }

                _counts[_states.Count] = 0;
                _states.Add(owner);
                added = true;
            }

            if (_entryCount == _entries.Length)
            {
                Array.Resize(ref _entries, _entryCount * 2);
            }

            var index = owner.DirtyIndex;
            _entries[_entryCount++] = ((long)index << 32) | (uint)row;
            _counts[index]++;
            return added;
        }

        /// <summary>Groups the rows by state (a counting sort: prefix sums of the counts, then one stable pass).</summary>
        public void Seal()
        {
            var states = _states.Count;
            if (_starts.Length <= states)
            {
                _starts = new int[Math.Max(states + 1, _starts.Length * 2)];
                _strides = new int[_starts.Length];
            }

            var words = 0;
            for (var i = 0; i < states; i++)
            {
                var stride = _states[i].Owner.Plan.Stride;
                _strides[i] = stride;
                _starts[i] = words;
                var count = _counts[i];
                _counts[i] = words; // from here on, where the state's next row goes
                words += count * stride;
            }

            _starts[states] = words;
            if (_sorted.Length < words)
            {
                _sorted = new ulong[Math.Max(words, _sorted.Length * 2)];
            }

            var counts = _counts;
            var strides = _strides;
            var rows = _rows;
            var sorted = _sorted;
            foreach (var entry in _entries.AsSpan(0, _entryCount))
            {
                var owner = (int)(entry >> 32);
                if (owner >= 0)
                {
                    var stride = strides[owner];
                    rows.AsSpan((int)entry, stride).CopyTo(sorted.AsSpan(counts[owner], stride));
                    counts[owner] += stride;
                }
            }
        }

        /// <summary>Adds the events of touched state <paramref name="index"/> to <paramref name="state"/>, through <paramref name="inputs"/> (one per feature, reused). The batch is sealed.</summary>
        /// <summary>
        /// Applies the events of touched state <paramref name="index"/> from offset <paramref name="from"/> on (those
        /// below it the stored share holds already: a replay); returns the offset past the last one applied, or
        /// <paramref name="from"/> when none was.
        /// </summary>
        public long ApplyTo(int index, ViewWindowState state, FeatureInput[] inputs, long from)
        {
            var owner = _states[index];
            var plan = owner.Owner.Plan;
            var view = owner.ViewIndex;
            var stride = plan.Stride;
            var into = inputs.AsSpan(0, owner.View.Features.Count);
            var texts = _texts;
            var run = _sorted.AsSpan(_starts[index], _starts[index + 1] - _starts[index]);
            var next = from;
            for (var at = 0; at < run.Length; at += stride)
            {
                var row = run.Slice(at, stride);
                var offset = InputPlan.OffsetOf(row);
                if (offset < from)
                {
                    continue;
                }

                plan.Inputs(view, row, texts, into);
                state.Add(InputPlan.TimeOf(row), offset, into);
                next = Math.Max(next, offset + 1);
            }

            return next;
        }

        /// <summary>Drops a partition's states and their events from this batch (rows and texts stay until Clear).</summary>
        public void Forget(PartitionStates partition)
        {
            var places = new int[_states.Count];
            var kept = 0;
            for (var i = 0; i < _states.Count; i++)
            {
                var state = _states[i];
                if (state.Owner == partition)
                {
                    places[i] = -1;
                    continue;
                }

                places[i] = kept;
                state.DirtyIndex = kept;
                _states[kept] = state;
                _counts[kept] = _counts[i];
                kept++;
            }

            _states.RemoveRange(kept, _states.Count - kept);
            for (var e = 0; e < _entryCount; e++)
            {
                var owner = (int)(_entries[e] >> 32);
                if (owner >= 0)
                {
                    _entries[e] = ((long)places[owner] << 32) | (uint)_entries[e];
                }
            }
        }

        public void Clear()
        {
            _texts.AsSpan(0, _textCount).Clear(); // release texts
            _states.Clear();
            _rowWords = 0;
            _textCount = 0;
            _entryCount = 0;
        }
    }
}
