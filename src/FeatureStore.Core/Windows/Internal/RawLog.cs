namespace FeatureStore.Core.Windows.Internal;

/// <summary>
/// The raw entries of recent events of one entity (time, source-log sequence, one input per feature), in
/// arrival order, stored flat: one array of times, one of sequences, and one of inputs with a fixed stride.
/// </summary>
internal sealed class RawLog(int width)
{
    private long[] _time = [];
    private long[] _sequence = [];
    private FeatureInput[] _inputs = [];

    public int Count { get; private set; }

    public int Width { get; } = width;

    public long TimeAt(int entry) => _time[entry];

    public long SequenceAt(int entry) => _sequence[entry];

    public ref readonly FeatureInput InputAt(int entry, int feature) => ref _inputs[(entry * Width) + feature];

    public void Add(long time, long sequence, ReadOnlySpan<FeatureInput> inputs)
    {
        if (Count == _time.Length)
        {
            Grow(Count + 1);
        }

        _time[Count] = time;
        _sequence[Count] = sequence;
        inputs.CopyTo(_inputs.AsSpan(Count * Width, Width));
        Count++;
    }

    /// <summary>Makes room for an entry and returns its input slots to fill (decoding).</summary>
    public Span<FeatureInput> AddUninitialized(long time, long sequence)
    {
        if (Count == _time.Length)
        {
            Grow(Count + 1);
        }

        _time[Count] = time;
        _sequence[Count] = sequence;
        var slots = _inputs.AsSpan(Count * Width, Width);
        slots.Clear();
        Count++;
        return slots;
    }

    public void EnsureCapacity(int count)
    {
        if (count > _time.Length)
        {
            Grow(count);
        }
    }

    /// <summary>Drops every entry, keeping the buffers.</summary>
    public void Clear()
    {
        _inputs.AsSpan(0, Count * Width).Clear();
        Count = 0;
    }

    /// <summary>Drops the entries older than <paramref name="time"/>, keeping the others in order.</summary>
    public void RemoveOlderThan(long time)
    {
        var kept = 0;
        for (var i = 0; i < Count; i++)
        {
            if (_time[i] < time)
            {
                continue;
            }

            if (kept != i)
            {
                _time[kept] = _time[i];
                _sequence[kept] = _sequence[i];
                _inputs.AsSpan(i * Width, Width).CopyTo(_inputs.AsSpan(kept * Width, Width));
            }

            kept++;
        }

        _inputs.AsSpan(kept * Width, (Count - kept) * Width).Clear();
        Count = kept;
    }

    public void AddRange(RawLog other)
    {
        EnsureCapacity(Count + other.Count);
        for (var i = 0; i < other.Count; i++)
        {
            Add(other._time[i], other._sequence[i], other._inputs.AsSpan(i * Width, Width));
        }
    }

    private void Grow(int needed)
    {
        var capacity = Math.Max(needed, _time.Length * 2);
        Array.Resize(ref _time, capacity);
        Array.Resize(ref _sequence, capacity);
        Array.Resize(ref _inputs, capacity * Width);
    }
}
