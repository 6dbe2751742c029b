using FeatureStore.Core.Windows;

namespace FeatureStore.Parquet.Export;

/// <summary>
/// The events of one view that a computation needs, column by column: the entity (an index into the
/// caller's entity list), event time, position in the source log, and one input per feature.
/// Grown in place; <see cref="SortByEntityAndTime"/> then orders them once.
/// </summary>
internal sealed class ViewEvents(int featureCount)
{
    private int[] _entity = new int[1024];
    private long[] _time = new long[1024];
    private long[] _sequence = new long[1024];
    private FeatureInput[] _inputs = new FeatureInput[1024 * Math.Max(1, featureCount)];

    public int FeatureCount { get; } = featureCount;

    public int Count { get; private set; }

    /// <summary>After sorting: events of entity <c>e</c> are <c>[Starts[e], Starts[e + 1])</c>.</summary>
    public int[] Starts { get; private set; } = [];

    public long Time(int i) => _time[i];

    public long Sequence(int i) => _sequence[i];

    public ReadOnlySpan<FeatureInput> Inputs(int i) => _inputs.AsSpan(i * FeatureCount, FeatureCount);

    public Span<FeatureInput> Add(int entity, long time, long sequence)
    {
        if (Count == _time.Length)
        {
            var size = Count * 2;
            Array.Resize(ref _entity, size);
            Array.Resize(ref _time, size);
            Array.Resize(ref _sequence, size);
            Array.Resize(ref _inputs, size * Math.Max(1, FeatureCount));
        }

        _entity[Count] = entity;
        _time[Count] = time;
        _sequence[Count] = sequence;
        var inputs = _inputs.AsSpan(Count * FeatureCount, FeatureCount);
        Count++;
        return inputs;
    }

    /// <summary>Counting sort by entity, then by time within each entity (ties by sequence).</summary>
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

        var next = (int[])starts.Clone();
        var order = new int[Count];
        for (var i = 0; i < Count; i++)
        {
            order[next[_entity[i]]++] = i;
        }

        var entity = new int[Count];
        var time = new long[Count];
        var sequence = new long[Count];
        var inputs = new FeatureInput[Count * FeatureCount];
        for (var to = 0; to < Count; to++)
        {
            var from = order[to];
            entity[to] = _entity[from];
            time[to] = _time[from];
            sequence[to] = _sequence[from];
            _inputs.AsSpan(from * FeatureCount, FeatureCount).CopyTo(inputs.AsSpan(to * FeatureCount));
        }

        (_entity, _time, _sequence, _inputs) = (entity, time, sequence, inputs);

        // Within an entity: by time. Events mostly arrive in time order already, so check before sorting.
        for (var e = 0; e < entities; e++)
        {
            var lo = starts[e];
            var n = starts[e + 1] - lo;
            if (n > 1 && !IsSorted(lo, n))
            {
                SortRange(lo, n);
            }
        }

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

    private void SortRange(int lo, int n)
    {
        var index = new int[n];
        for (var i = 0; i < n; i++)
        {
            index[i] = lo + i;
        }

        Array.Sort(index, (a, b) => _time[a] != _time[b] ? _time[a].CompareTo(_time[b]) : _sequence[a].CompareTo(_sequence[b]));
        var time = new long[n];
        var sequence = new long[n];
        var inputs = new FeatureInput[n * FeatureCount];
        for (var i = 0; i < n; i++)
        {
            time[i] = _time[index[i]];
            sequence[i] = _sequence[index[i]];
            _inputs.AsSpan(index[i] * FeatureCount, FeatureCount).CopyTo(inputs.AsSpan(i * FeatureCount));
        }

        time.CopyTo(_time, lo);
        sequence.CopyTo(_sequence, lo);
        inputs.CopyTo(_inputs, lo * FeatureCount);
    }
}
