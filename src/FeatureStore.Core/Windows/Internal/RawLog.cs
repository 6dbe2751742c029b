namespace FeatureStore.Core.Windows.Internal;

/// <summary>
/// The raw entries of recent events of one entity (time, source-log sequence, one input per feature), in
/// arrival order, stored flat: one array of times, one of sequences, and one of inputs with a fixed stride.
/// Entries leave mostly from the front (the oldest arrived first), so the live range starts at an offset
/// and dropping a prefix moves nothing.
/// </summary>
internal sealed class RawLog(int width)
{
    private long[] _time = [];
    private long[] _sequence = [];
    private FeatureInput[] _inputs = [];
    private int _start;

    public int Count { get; private set; }

    public int Width { get; } = width;

    public long TimeAt(int entry) => _time[_start + entry];

    public long SequenceAt(int entry) => _sequence[_start + entry];

    public ref readonly FeatureInput InputAt(int entry, int feature) => ref _inputs[((_start + entry) * Width) + feature];

    public void Add(long time, long sequence, ReadOnlySpan<FeatureInput> inputs) =>
        inputs.CopyTo(Append(time, sequence));

    /// <summary>Makes room for an entry and returns its input slots to fill (decoding).</summary>
    public Span<FeatureInput> AddUninitialized(long time, long sequence)
    {
        var slots = Append(time, sequence);
        slots.Clear();
        return slots;
    }

    private Span<FeatureInput> Append(long time, long sequence)
    {
        if (_start + Count == _time.Length)
        {
            MakeRoom(Count + 1);
        }

        var at = _start + Count;
        _time[at] = time;
        _sequence[at] = sequence;
        Count++;
        return _inputs.AsSpan(at * Width, Width);
    }

    public void EnsureCapacity(int count)
    {
        if (_start + count > _time.Length)
        {
            MakeRoom(count);
        }
    }

    /// <summary>
    /// The time from which on at most <paramref name="count"/> entries remain (ties may keep a few more):
    /// the <paramref name="count"/>-th greatest time, or past the greatest when <paramref name="count"/> is 0.
    /// </summary>
    public long TimeOfNewest(int count)
    {
        var times = System.Buffers.ArrayPool<long>.Shared.Rent(Count);
        try
        {
            var span = times.AsSpan(0, Count);
            _time.AsSpan(_start, Count).CopyTo(span);
            span.Sort();
            return count == 0 ? span[^1] + 1 : span[Count - count];
        }
        finally
        {
            System.Buffers.ArrayPool<long>.Shared.Return(times);
        }
    }

    /// <summary>Drops every entry, keeping the buffers.</summary>
    public void Clear()
    {
        _inputs.AsSpan(_start * Width, Count * Width).Clear();
        _start = 0;
        Count = 0;
    }

    /// <summary>Drops the entries older than <paramref name="time"/>, keeping the others in order.</summary>
    public void RemoveOlderThan(long time)
    {
        // The usual case: a prefix of old entries.
        while (Count > 0 && _time[_start] < time)
        {
            _inputs.AsSpan(_start * Width, Width).Clear();
            _start++;
            Count--;
        }

        var end = _start + Count;
        var kept = _start;
        for (var i = _start; i < end; i++)
        {
            if (_time[i] < time)
            {
                continue; // arrived out of order
            }

            if (kept != i)
            {
                _time[kept] = _time[i];
                _sequence[kept] = _sequence[i];
                _inputs.AsSpan(i * Width, Width).CopyTo(_inputs.AsSpan(kept * Width, Width));
            }

            kept++;
        }

        _inputs.AsSpan(kept * Width, (end - kept) * Width).Clear();
        Count = kept - _start;
        if (Count == 0)
        {
            _start = 0;
        }
    }

    public void AddRange(RawLog other)
    {
        EnsureCapacity(Count + other.Count);
        for (var i = 0; i < other.Count; i++)
        {
            var at = other._start + i;
            Add(other._time[at], other._sequence[at], other._inputs.AsSpan(at * Width, Width));
        }
    }

    private void MakeRoom(int needed)
    {
        if (_start > 0 && needed <= _time.Length && _start >= _time.Length / 4)
        {
            // Enough room once the live range moves to the front.
            Array.Copy(_time, _start, _time, 0, Count);
            Array.Copy(_sequence, _start, _sequence, 0, Count);
            Array.Copy(_inputs, _start * Width, _inputs, 0, Count * Width);
            _inputs.AsSpan(Count * Width, _start * Width).Clear();
            _start = 0;
            return;
        }

        var capacity = Math.Max(needed, _time.Length * 2);
        var time = new long[capacity];
        var sequence = new long[capacity];
        var inputs = new FeatureInput[capacity * Width];
        Array.Copy(_time, _start, time, 0, Count);
        Array.Copy(_sequence, _start, sequence, 0, Count);
        Array.Copy(_inputs, _start * Width, inputs, 0, Count * Width);
        (_time, _sequence, _inputs, _start) = (time, sequence, inputs, 0);
    }
}
