namespace FeatureStore.Core.Windows;

/// <summary>
/// The most frequent values of a tile or window with their counts, for top_k: exact counts while at most
/// <see cref="Capacity"/> distinct values are held; beyond, a Misra–Gries summary (mergeable as in Agarwal et
/// al., "Mergeable summaries", 2012): when more than <see cref="Capacity"/> values are held, the count of the
/// (C/2 + 1)-th most frequent is taken from every count and those left at zero or below are dropped. Each such
/// reduction takes that amount from at least C/2 + 1 counts, so every count is low by at most
/// <see cref="Undercount"/> ≤ N / (C/2 + 1) (N the events summarised), and a value more frequent than that is
/// never lost. Memory stays within C values whatever comes in. No randomness: the same values in the same
/// order give the same summary (the order can change which values survive a reduction, never the bound).
/// </summary>
public sealed class FrequentValues
{
    /// <summary>The least capacity of a tile's summary.</summary>
    public const int MinTileCapacity = 128;

    /// <summary>The least capacity of the summary a window's tiles are merged into when evaluated.</summary>
    public const int MinEvaluationCapacity = 32_768;

    private readonly Dictionary<ValueKey, long> _counts = [];
    private long[] _scratch = [];

    /// <summary>Creates an empty summary of at most <paramref name="capacity"/> values.</summary>
    public FrequentValues(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        Capacity = capacity;
    }

    /// <summary>The most values held (C).</summary>
    public int Capacity { get; }

    /// <summary>The most any count may be below the true one (0: every count is exact).</summary>
    public long Undercount { get; private set; }

    /// <summary>The values held.</summary>
    public int Count => _counts.Count;

    /// <summary>The capacity of a tile's summary for top_k(<paramref name="k"/>): 8k, at least 128.</summary>
    public static int TileCapacity(int k) => Math.Max(MinTileCapacity, 8 * k);

    /// <summary>The capacity of the summary a window is evaluated with for top_k(<paramref name="k"/>).</summary>
    public static int EvaluationCapacity(int k) => Math.Max(MinEvaluationCapacity, TileCapacity(k));

    /// <summary>The values and their counts, in no particular order.</summary>
    public Dictionary<ValueKey, long>.Enumerator GetEnumerator() => _counts.GetEnumerator();

    /// <summary>Counts one event's value.</summary>
    public void Add(double number, string? text) => Add(new ValueKey(text is null ? number : 0, text), 1);

    /// <summary>Adds everything <paramref name="other"/> counts.</summary>
    public void Merge(FrequentValues other)
    {
        ArgumentNullException.ThrowIfNull(other);
        foreach (var (key, count) in other._counts)
        {
            Add(key, count);
        }

        Undercount += other.Undercount;
    }

    /// <summary>Restores one counted value (decoding).</summary>
    internal void Load(ValueKey key, long count, long undercount)
    {
        if (count <= 0 || !_counts.TryAdd(key, count) || _counts.Count > Capacity)
        {
            throw new InvalidDataException("stored top_k counts are damaged");
        }

        Undercount = undercount;
    }

    /// <summary>Empties the summary.</summary>
    public void Clear()
    {
        _counts.Clear();
        Undercount = 0;
    }

    /// <summary>The <paramref name="k"/> most frequent values, by count (greatest first), then value (smallest first).</summary>
    public ValueCount[] Top(int k)
    {
        var all = new List<KeyValuePair<ValueKey, long>>(_counts);
        all.Sort(static (a, b) => b.Value != a.Value ? b.Value.CompareTo(a.Value) : a.Key.CompareTo(b.Key));
        var result = new ValueCount[Math.Min(k, all.Count)];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = new ValueCount(all[i].Key.ToText(), all[i].Value);
        }

        return result;
    }

    private void Add(ValueKey key, long count)
    {
        ref var held = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_counts, key, out _);
        held += count;
        if (_counts.Count > Capacity)
        {
            Reduce();
        }
    }

    // Takes the count of the (C/2 + 1)-th most frequent value from every count; at most C/2 remain.
    private void Reduce()
    {
        var n = _counts.Count;
        if (_scratch.Length < n)
        {
            _scratch = new long[n * 2];
        }

        var at = 0;
        foreach (var count in _counts.Values)
        {
            _scratch[at++] = count;
        }

        Array.Sort(_scratch, 0, n);
        var cut = _scratch[n - 1 - (Capacity / 2)];
        List<ValueKey>? gone = null;
        foreach (var key in _counts.Keys)
        {
            ref var count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_counts, key);
            count -= cut;
            if (count <= 0)
            {
                (gone ??= []).Add(key);
            }
        }

        foreach (var key in gone ?? [])
        {
            _counts.Remove(key);
        }

        Undercount += cut;
    }
}

/// <summary>One value of top_k (a number as its shortest round-trip text) and how many events had it.</summary>
/// <param name="Value">The value.</param>
/// <param name="Count">Its count.</param>
public readonly record struct ValueCount(string Value, long Count);

/// <summary>A value counted by top_k: a text, or a number when <see cref="Text"/> is null.</summary>
/// <param name="Number">The number (0 for a text).</param>
/// <param name="Text">The text, or null for a number.</param>
public readonly record struct ValueKey(double Number, string? Text) : IComparable<ValueKey>
{
    /// <summary>Texts ordinally, numbers by value.</summary>
    public int CompareTo(ValueKey other) =>
        Text is not null || other.Text is not null ? string.CompareOrdinal(Text, other.Text) : Number.CompareTo(other.Number);

    /// <summary>The value as text (a number in its shortest round-trip form).</summary>
    public string ToText() => Text ?? Number.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}
