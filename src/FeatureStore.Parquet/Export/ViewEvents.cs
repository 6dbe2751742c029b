using FeatureStore.Core.Windows;

namespace FeatureStore.Parquet.Export;

/// <summary>
/// The events of one view that a computation needs, column by column: the entity (an index into the
/// caller's entity list), event time, position in the source log, and one value per input column. Features
/// that read the same source field share a column, numbers are kept as doubles and text as an index into
/// the distinct values seen (each hashed once), so an event costs a few dozen bytes and holds no reference
/// the collector must trace. Grown in place; <see cref="SortByEntityAndTime"/> then orders them once.
/// </summary>
internal sealed class ViewEvents
{
    // Per column and event: Absent, Number (the value is in _numbers), or FirstText + the text's index.
    private const int Absent = 0;
    private const int Number = 1;
    private const int FirstText = 2;

    private readonly int[] _columnOf;
    private readonly int[] _firstFeatureOf;
    private readonly int[][] _codes;
    private readonly double[]?[] _numbers; // null until the column holds a number (text fields never do)
    private readonly List<FeatureInput> _texts = [];
    private readonly Dictionary<string, int> _textIds = new(StringComparer.Ordinal);
    private int[] _entity;
    private long[] _time;
    private long[] _sequence;

    /// <summary>Events whose features each have an input column of their own.</summary>
    public ViewEvents(int featureCount)
        : this([.. Enumerable.Range(0, featureCount)])
    {
    }

    /// <summary>
    /// Events of features that read <paramref name="inputSlots"/> (one per feature: a source field slot,
    /// or negative for none). Features with one slot share a column; <see cref="ColumnSlots"/> lists them.
    /// </summary>
    /// <remarks>
    /// <paramref name="capacity"/> is the number of events expected (the columns grow past it when more come): sized
    /// right, the columns are allocated once, where growing would copy them and hold the old and new arrays at once.
    /// </remarks>
    public ViewEvents(IReadOnlyList<int> inputSlots, int capacity = 1024)
    {
        ArgumentNullException.ThrowIfNull(inputSlots);
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        capacity = Math.Max(capacity, 1);
        _entity = new int[capacity];
        _time = new long[capacity];
        _sequence = new long[capacity];
        var slots = new List<int>();
        var firstFeature = new List<int>();
        _columnOf = new int[inputSlots.Count];
        for (var f = 0; f < inputSlots.Count; f++)
        {
            var slot = inputSlots[f];
            var column = slot < 0 ? -1 : slots.IndexOf(slot);
            if (slot >= 0 && column < 0)
            {
                column = slots.Count;
                slots.Add(slot);
                firstFeature.Add(f);
            }

            _columnOf[f] = column;
        }

        ColumnSlots = slots;
        _firstFeatureOf = [.. firstFeature];
        _codes = [.. slots.Select(_ => new int[capacity])];
        _numbers = new double[]?[slots.Count];
    }

    /// <summary>Inputs per event (one per feature).</summary>
    public int FeatureCount => _columnOf.Length;

    /// <summary>The source field slot of each input column.</summary>
    public IReadOnlyList<int> ColumnSlots { get; }

    /// <summary>Events held.</summary>
    public int Count { get; private set; }

    /// <summary>After sorting: events of entity <c>e</c> are <c>[Starts[e], Starts[e + 1])</c>.</summary>
    public int[] Starts { get; private set; } = [];

    /// <summary>Time of event <paramref name="i"/>.</summary>
    public long Time(int i) => _time[i];

    /// <summary>Position in the source log of event <paramref name="i"/>.</summary>
    public long Sequence(int i) => _sequence[i];

    /// <summary>Writes the inputs of event <paramref name="i"/>, one per feature, into <paramref name="into"/>.</summary>
    public void Inputs(int i, Span<FeatureInput> into)
    {
        for (var f = 0; f < _columnOf.Length; f++)
        {
            var column = _columnOf[f];
            if (column < 0)
            {
                into[f] = FeatureInput.Absent;
                continue;
            }

            var first = _firstFeatureOf[column];
            if (first < f)
            {
                into[f] = into[first]; // same field as an earlier feature: convert it once
                continue;
            }

            var code = _codes[column][i];
            into[f] = code switch
            {
                Absent => FeatureInput.Absent,
                Number => FeatureInput.OfNumber(_numbers[column]![i]),
                _ => _texts[code - FirstText],
            };
        }
    }

    /// <summary>Adds an event with every input absent; returns its index (set them with the <c>Set</c> methods).</summary>
    public int Add(int entity, long time, long sequence)
    {
        if (Count == _time.Length)
        {
            Grow();
        }

        if (Starts.Length != 0)
        {
            throw new InvalidOperationException("the events are sorted: no more can be added");
        }

        _entity[Count] = entity;
        _time[Count] = time;
        _sequence[Count] = sequence;
        return Count++;
    }

    /// <summary>Adds an event with its inputs, one per feature (features that share a column must agree).</summary>
    public void Add(int entity, long time, long sequence, ReadOnlySpan<FeatureInput> inputs)
    {
        if (inputs.Length != FeatureCount)
        {
            throw new ArgumentException($"expected {FeatureCount} inputs, got {inputs.Length}", nameof(inputs));
        }

        var i = Add(entity, time, sequence);
        for (var f = 0; f < inputs.Length; f++)
        {
            if (_columnOf[f] < 0 || !inputs[f].Present)
            {
                continue;
            }

            if (inputs[f].Text is { } text)
            {
                SetText(i, _columnOf[f], text);
            }
            else
            {
                SetNumber(i, _columnOf[f], inputs[f].Number);
            }
        }
    }

    /// <summary>Sets column <paramref name="column"/> of event <paramref name="i"/> to a number.</summary>
    public void SetNumber(int i, int column, double value)
    {
        _codes[column][i] = Number;
        (_numbers[column] ??= new double[_time.Length])[i] = value;
    }

    /// <summary>Sets column <paramref name="column"/> of event <paramref name="i"/> to a text (hashed once per distinct text).</summary>
    public void SetText(int i, int column, string text) => SetTextId(i, column, TextId(text));

    /// <summary>Sets column <paramref name="column"/> of event <paramref name="i"/> to the text of <see cref="TextId"/> <paramref name="id"/>.</summary>
    public void SetTextId(int i, int column, int id) => _codes[column][i] = FirstText + id;

    /// <summary>The index of <paramref name="text"/> among the distinct texts (added, and hashed, when new).</summary>
    public int TextId(string text)
    {
        if (!_textIds.TryGetValue(text, out var id))
        {
            id = _texts.Count;
            _texts.Add(FeatureInput.OfText(text));
            _textIds[text] = id;
        }

        return id;
    }

    /// <summary>
    /// Orders the events by entity, then by time within each entity, ties by sequence and then by arrival:
    /// a counting sort moves every column into its entities' ranges (reading each column in order), then
    /// the entities whose events are not already in order are sorted in place, in parallel, each from one
    /// key array over its own range.
    /// </summary>
    public void SortByEntityAndTime(int entities)
    {
        var starts = new int[entities + 1];
        for (var i = 0; i < Count; i++)
        {
            starts[_entity[i] + 1]++;
        }

        for (var e = 0; e < entities; e++)
        {
            starts[e + 1] += starts[e];
        }

        // to[i] = where event i goes; entities are known from Starts from now on.
        var to = new int[Count];
        var next = (int[])starts.Clone();
        for (var i = 0; i < Count; i++)
        {
            to[i] = next[_entity[i]]++;
        }

        // Each column is moved through one spare array per element type, which then takes the moved column's old
        // array: the sort holds one column's worth more than the events, not a second copy of every column. (Moving
        // them all at once in parallel held both copies, which set the export's peak.)
        _entity = [];
        var spareLong = new long[Count];
        _time = Scatter(_time, to, ref spareLong);
        _sequence = Scatter(_sequence, to, ref spareLong);
        var spareInt = new int[Count];
        for (var c = 0; c < _codes.Length; c++)
        {
            _codes[c] = Scatter(_codes[c], to, ref spareInt);
        }

        var spareDouble = Array.Empty<double>();
        for (var c = 0; c < _numbers.Length; c++)
        {
            if (_numbers[c] is { } numbers)
            {
                if (spareDouble.Length < Count)
                {
                    spareDouble = new double[Count];
                }

                _numbers[c] = Scatter(numbers, to, ref spareDouble);
            }
        }

        Parallel.For(0, entities, () => new SortScratch(), (e, _, scratch) =>
        {
            var lo = starts[e];
            var n = starts[e + 1] - lo;
            if (n > 1 && !IsSorted(lo, n))
            {
                SortRange(lo, n, scratch);
            }

            return scratch;
        }, _ => { });

        Starts = starts;
    }

    private bool IsSorted(int lo, int n)
    {
        for (var i = lo + 1; i < lo + n; i++)
        {
            if (_time[i] < _time[i - 1] || (_time[i] == _time[i - 1] && _sequence[i] < _sequence[i - 1]))
            {
                return false;
            }
        }

        return true;
    }

    private void SortRange(int lo, int n, SortScratch scratch)
    {
        var times = scratch.Times(n);
        var order = MergeRuns(lo, n, scratch, out var merged) ? merged : SortByTime(lo, n, scratch);
        var unsorted = _time.AsSpan(lo, n);
        for (var k = 0; k < n; k++)
        {
            times[k] = unsorted[order[k]];
        }

        times.CopyTo(_time.AsSpan(lo, n));
        var sequences = times; // free again: the sequences move through it
        var column = _sequence.AsSpan(lo, n);
        for (var k = 0; k < n; k++)
        {
            sequences[k] = column[order[k]];
        }

        sequences.CopyTo(column);

        var codes = scratch.Codes(n);
        for (var c = 0; c < _codes.Length; c++)
        {
            var values = _codes[c].AsSpan(lo, n);
            for (var k = 0; k < n; k++)
            {
                codes[k] = values[order[k]];
            }

            codes.CopyTo(values);
            if (_numbers[c] is { } numbers)
            {
                var doubles = numbers.AsSpan(lo, n);
                var moved = scratch.Numbers(n);
                for (var k = 0; k < n; k++)
                {
                    moved[k] = doubles[order[k]];
                }

                moved.CopyTo(doubles);
            }
        }
    }

    // An entity's events usually come as a few runs already in order (one per partition of the log, read one after
    // the other): these are merged, pairwise and stably (the earlier run first on a tie, so arrival breaks ties),
    // which costs a pass or two over the events where a sort costs log2(n). Past MaxMergedRuns runs, false.
    private const int MaxMergedRuns = 16;

    private bool MergeRuns(int lo, int n, SortScratch scratch, out Span<int> order)
    {
        var time = _time.AsSpan(lo, n);
        var sequence = _sequence.AsSpan(lo, n);
        var bounds = scratch.Bounds();
        bounds.Clear();
        bounds.Add(0);
        for (var i = 1; i < n; i++)
        {
            if (time[i] < time[i - 1] || (time[i] == time[i - 1] && sequence[i] < sequence[i - 1]))
            {
                if (bounds.Count == MaxMergedRuns)
                {
                    order = default;
                    return false;
                }

                bounds.Add(i);
            }
        }

        bounds.Add(n);
        var from = scratch.Order(n);
        var to = scratch.Merged(n);
        for (var k = 0; k < n; k++)
        {
            from[k] = k;
        }

        while (bounds.Count > 2)
        {
            var next = 0;
            for (var r = 0; r + 1 < bounds.Count; r += 2)
            {
                var (a, mid) = (bounds[r], bounds[r + 1]);
                var end = r + 2 < bounds.Count ? bounds[r + 2] : mid;
                var (i, j, k) = (a, mid, a);
                while (i < mid && j < end)
                {
                    var (left, right) = (from[i], from[j]);
                    var rightFirst = time[right] < time[left] || (time[right] == time[left] && sequence[right] < sequence[left]);
                    to[k++] = rightFirst ? right : left;
                    if (rightFirst)
                    {
                        j++;
                    }
                    else
                    {
                        i++;
                    }
                }

                from[i..mid].CopyTo(to[k..]);
                k += mid - i;
                from[j..end].CopyTo(to[k..]);
                bounds[next++] = a;
            }

            bounds[next++] = n;
            bounds.RemoveRange(next, bounds.Count - next);
            var swap = from;
            from = to;
            to = swap;
        }

        order = from;
        return true;
    }

    private static Span<int> SortByTimeOrder(Span<long> times, Span<int> order, ReadOnlySpan<long> sequence)
    {
        // By time with the primitive sort (no comparer call per step), then runs of equal times by sequence and
        // arrival: the order of (time, sequence, arrival), found with far fewer calls than a comparer sort.
        var n = times.Length;
        for (var k = 0; k < n; k++)
        {
            order[k] = k;
        }

        times.Sort(order);
        for (var i = 0; i < n;)
        {
            var j = i + 1;
            while (j < n && times[j] == times[i])
            {
                j++;
            }

            if (j - i > 1)
            {
                SortTies(order[i..j], sequence);
            }

            i = j;
        }

        return order;
    }

    private Span<int> SortByTime(int lo, int n, SortScratch scratch)
    {
        var times = scratch.Times(n);
        _time.AsSpan(lo, n).CopyTo(times);
        return SortByTimeOrder(times, scratch.Order(n), _sequence.AsSpan(lo, n));
    }

    // Events of one instant (few): insertion sort by sequence, then arrival.
    private static void SortTies(Span<int> order, ReadOnlySpan<long> sequence)
    {
        for (var i = 1; i < order.Length; i++)
        {
            var item = order[i];
            var j = i - 1;
            while (j >= 0 && (sequence[order[j]] > sequence[item] || (sequence[order[j]] == sequence[item] && order[j] > item)))
            {
                order[j + 1] = order[j];
                j--;
            }

            order[j + 1] = item;
        }
    }

    // Moves the first Count values to their places in the spare array (Count long, or longer: the events only ever
    // read up to Count), returns it, and leaves the old array as the next spare.
    private T[] Scatter<T>(T[] values, int[] to, ref T[] spare)
    {
        var result = spare;
        var n = Count;
        var from = values.AsSpan(0, n);
        for (var i = 0; i < from.Length; i++)
        {
            result[to[i]] = from[i];
        }

        spare = values;
        return result;
    }

    private void Grow()
    {
        // By half again: the columns of 10M events are hundreds of MB, and doubling would leave much unused.
        var size = checked(Math.Max(1024, _time.Length + (_time.Length / 2)));
        Array.Resize(ref _entity, size);
        Array.Resize(ref _time, size);
        Array.Resize(ref _sequence, size);
        for (var c = 0; c < _codes.Length; c++)
        {
            Array.Resize(ref _codes[c], size);
            if (_numbers[c] is not null)
            {
                Array.Resize(ref _numbers[c], size);
            }
        }
    }

    /// <summary>One thread's buffers for sorting entities' ranges, grown to the largest range met.</summary>
    private sealed class SortScratch
    {
        private long[] _times = new long[64];
        private int[] _order = new int[64];
        private int[] _codes = new int[64];
        private double[] _numbers = new double[64];
        private int[] _merged = new int[64];
        private readonly List<int> _bounds = [];

        public Span<int> Merged(int n) => Fit(ref _merged, n);

        public List<int> Bounds() => _bounds;

        public Span<long> Times(int n) => Fit(ref _times, n);

        public Span<int> Order(int n) => Fit(ref _order, n);

        public Span<int> Codes(int n) => Fit(ref _codes, n);

        public Span<double> Numbers(int n) => Fit(ref _numbers, n);

        private static Span<T> Fit<T>(ref T[] buffer, int n)
        {
            if (buffer.Length < n)
            {
                buffer = new T[Math.Max(n, buffer.Length * 2)];
            }

            return buffer.AsSpan(0, n);
        }
    }
}
