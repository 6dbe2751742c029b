namespace FeatureStore.Core.Windows;

/// <summary>
/// The values of the latest events (last_n), or the latest distinct values (last_n_distinct), at most n of
/// them, oldest first: an event is later than another when its time is greater, then its position in the
/// source log (equal positions, from two partitions, order by value so that any merge order gives one
/// answer). Exact and mergeable: the n latest of a union are among the n latest of each part, and a value's
/// latest event in a union is its latest in the part that holds it. At most n entries (n ≤ 1000).
/// </summary>
public sealed class RecentValues
{
    private long[] _times = [];
    private long[] _sequences = [];
    private double[] _numbers = [];
    private string?[] _texts = [];

    /// <summary>Creates an empty list of at most <paramref name="capacity"/> values.</summary>
    public RecentValues(int capacity, bool distinct)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
        Distinct = distinct;
    }

    /// <summary>n: the most values kept.</summary>
    public int Capacity { get; }

    /// <summary>Whether each value is kept once, at its latest event.</summary>
    public bool Distinct { get; }

    /// <summary>The values held.</summary>
    public int Count { get; private set; }

    /// <summary>Entry <paramref name="i"/>, oldest first.</summary>
    public (long Time, long Sequence, double Number, string? Text) At(int i) => (_times[i], _sequences[i], _numbers[i], _texts[i]);

    /// <summary>Adds one event's value.</summary>
    public void Add(long time, long sequence, double number, string? text)
    {
        if (Distinct)
        {
            for (var i = 0; i < Count; i++)
            {
                if (SameValue(i, number, text))
                {
                    if (!IsLater(time, sequence, number, text, i))
                    {
                        return;
                    }

                    RemoveAt(i);
                    break;
                }
            }
        }

        if (Count == Capacity)
        {
            if (!IsLater(time, sequence, number, text, 0))
            {
                return;
            }

            RemoveAt(0);
        }

        var at = Count;
        while (at > 0 && Later(_times[at - 1], _sequences[at - 1], _numbers[at - 1], _texts[at - 1], time, sequence, number, text))
        {
            at--;
        }

        Insert(at, time, sequence, number, text);
    }

    /// <summary>Adds everything <paramref name="other"/> holds.</summary>
    public void Merge(RecentValues other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (var i = 0; i < other.Count; i++)
        {
            Add(other._times[i], other._sequences[i], other._numbers[i], other._texts[i]);
        }
    }

    /// <summary>Empties the list, keeping its buffers.</summary>
    public void Clear()
    {
        Array.Clear(_texts, 0, Count);
        Count = 0;
    }

    /// <summary>The texts, newest first.</summary>
    public string[] TextsNewestFirst()
    {
        var result = new string[Count];
        for (var i = 0; i < Count; i++)
        {
            result[i] = _texts[Count - 1 - i] ?? string.Empty;
        }

        return result;
    }

    /// <summary>The numbers, newest first.</summary>
    public double[] NumbersNewestFirst()
    {
        var result = new double[Count];
        for (var i = 0; i < Count; i++)
        {
            result[i] = _numbers[Count - 1 - i];
        }

        return result;
    }

    /// <summary>
    /// The numbers as integers, newest first (an int field's values: held as doubles, so exact within ±2^53;
    /// a fraction, which an int field never gives, is truncated toward zero).
    /// </summary>
    public long[] IntegersNewestFirst()
    {
        var result = new long[Count];
        for (var i = 0; i < Count; i++)
        {
            result[i] = ToInt64(_numbers[Count - 1 - i]);
        }

        return result;
    }

    /// <summary>An int field's value held as a double, as the integer it is (saturating beyond the range of long; NaN as 0).</summary>
    public static long ToInt64(double number) => double.IsNaN(number) ? 0 : number >= 9.2233720368547758E+18 ? long.MaxValue : number <= -9.2233720368547758E+18 ? long.MinValue : (long)number;

    private bool SameValue(int i, double number, string? text) =>
        text is not null || _texts[i] is not null ? string.Equals(_texts[i], text, StringComparison.Ordinal) : _numbers[i].Equals(number);

    // Whether (time, sequence, value) is later than entry i.
    private bool IsLater(long time, long sequence, double number, string? text, int i) =>
        Later(time, sequence, number, text, _times[i], _sequences[i], _numbers[i], _texts[i]);

    private static bool Later(long time, long sequence, double number, string? text, long otherTime, long otherSequence, double otherNumber, string? otherText)
    {
        if (time != otherTime)
        {
            return time > otherTime;
        }

        if (sequence != otherSequence)
        {
            return sequence > otherSequence;
        }

        var byText = string.CompareOrdinal(text, otherText);
        return byText != 0 ? byText > 0 : number.CompareTo(otherNumber) > 0;
    }

    private void RemoveAt(int i)
    {
        var after = Count - i - 1;
        Array.Copy(_times, i + 1, _times, i, after);
        Array.Copy(_sequences, i + 1, _sequences, i, after);
        Array.Copy(_numbers, i + 1, _numbers, i, after);
        Array.Copy(_texts, i + 1, _texts, i, after);
        Count--;
        _texts[Count] = null;
    }

    private void Insert(int at, long time, long sequence, double number, string? text)
    {
        if (Count == _times.Length)
        {
            var size = Math.Min(Capacity, Math.Max(4, Count * 2));
            Array.Resize(ref _times, size);
            Array.Resize(ref _sequences, size);
            Array.Resize(ref _numbers, size);
            Array.Resize(ref _texts, size);
        }

        var after = Count - at;
        Array.Copy(_times, at, _times, at + 1, after);
        Array.Copy(_sequences, at, _sequences, at + 1, after);
        Array.Copy(_numbers, at, _numbers, at + 1, after);
        Array.Copy(_texts, at, _texts, at + 1, after);
        (_times[at], _sequences[at], _numbers[at], _texts[at]) = (time, sequence, number, text);
        Count++;
    }
}
