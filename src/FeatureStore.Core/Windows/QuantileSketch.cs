namespace FeatureStore.Core.Windows;

/// <summary>
/// A mergeable quantile sketch in the manner of KLL (Karnin, Lang, Liberty 2016) with one capacity for every
/// level and a deterministic compaction: level h holds values of weight 2^h; when it reaches its capacity K its
/// values are sorted and every other one (starting at offset 0 or 1, alternating per level) moves up with twice
/// the weight. No random numbers: the same values added in the same order always give the same sketch, so
/// online lookups and exports that see the same events give the same answer.
/// <para>
/// Rank error: a compaction at level h moves the estimated rank of any value by at most 2^h. The sketch sums
/// that over its compactions in <see cref="RankErrorBound"/> (merges add their parts), so for the value v it
/// returns for p, the true rank of v (the events below v, up to those at or below v) lies within
/// <see cref="RankErrorBound"/> of p·N. Level h is compacted at most N / (K·2^h) times, so the bound is at most
/// N·L / K with L the number of levels (⌊log2(N/K)⌋ + 1): below K values the sketch is exact, and with
/// K = 256 a tile of 10,000 events is within 2.5 % of N in the worst case (typically far less).
/// </para>
/// <para>
/// Size: at most K − 1 values per level, 8 bytes each, plus a few bytes of header: a tile of n ≤ 255 events
/// keeps its n values exactly (8n bytes); a tile of 10,000 events keeps at most 6·255 values (about 12 KB).
/// The order values arrive in can change which ones are kept (never the bound).
/// </para>
/// </summary>
public sealed class QuantileSketch
{
    /// <summary>The capacity of each level of a tile's sketch.</summary>
    public const int TileLevelCapacity = 256;

    /// <summary>The capacity of each level of the sketch a window's tiles are merged into when evaluated.</summary>
    public const int EvaluationLevelCapacity = 4096;

    private const int MaxLevels = 62;

    private double[][] _levels = [];
    private int[] _counts = [];
    private double[] _sortValues = [];
    private long[] _sortWeights = [];

    /// <summary>Creates an empty sketch whose levels hold up to <paramref name="levelCapacity"/> values.</summary>
    public QuantileSketch(int levelCapacity = TileLevelCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(levelCapacity, 2);
        LevelCapacity = levelCapacity;
    }

    /// <summary>The capacity K of each level.</summary>
    public int LevelCapacity { get; }

    /// <summary>The number of values added (the total weight).</summary>
    public long Count { get; private set; }

    /// <summary>The most the estimated rank of any value can be off by (0: the sketch is exact).</summary>
    public long RankErrorBound { get; private set; }

    /// <summary>Bit h: the offset the next compaction of level h keeps (alternates, so errors tend to cancel).</summary>
    internal ulong Parity { get; private set; }

    /// <summary>The number of levels in use.</summary>
    internal int LevelCount => _counts.Length;

    /// <summary>The values held (for memory accounting).</summary>
    public int RetainedValues
    {
        get
        {
            var total = 0;
            foreach (var count in _counts)
            {
                total += count;
            }

            return total;
        }
    }

    /// <summary>The values of level <paramref name="level"/> (weight 2^level each).</summary>
    internal ReadOnlySpan<double> Level(int level) => _levels[level].AsSpan(0, _counts[level]);

    /// <summary>Adds one value.</summary>
    public void Add(double value)
    {
        Append(0, value);
        Count++;
        if (_counts[0] >= LevelCapacity)
        {
            Compress();
        }
    }

    /// <summary>Adds everything <paramref name="other"/> summarises.</summary>
    public void Merge(QuantileSketch other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (var h = 0; h < other._counts.Length; h++)
        {
            var span = other.Level(h);
            EnsureLevel(h, _counts.Length > h ? _counts[h] + span.Length : span.Length);
            span.CopyTo(_levels[h].AsSpan(_counts[h]));
            _counts[h] += span.Length;
        }

        Count += other.Count;
        RankErrorBound += other.RankErrorBound;
        Compress();
    }

    /// <summary>Empties the sketch, keeping its buffers.</summary>
    public void Clear()
    {
        Array.Clear(_counts);
        Count = 0;
        RankErrorBound = 0;
        Parity = 0;
    }

    /// <summary>
    /// The smallest held value whose estimated rank (the weight at or below it) reaches p·N: the minimum for
    /// p = 0, the maximum for p = 1; NaN when the sketch is empty.
    /// </summary>
    public double Quantile(double p)
    {
        if (p is < 0 or > 1 || double.IsNaN(p))
        {
            throw new ArgumentOutOfRangeException(nameof(p), p, "p lies in [0, 1]");
        }

        var n = RetainedValues;
        if (n == 0)
        {
            return double.NaN;
        }

        if (_sortValues.Length < n)
        {
            _sortValues = new double[Math.Max(n, _sortValues.Length * 2)];
            _sortWeights = new long[_sortValues.Length];
        }

        var at = 0;
        for (var h = 0; h < _counts.Length; h++)
        {
            for (var i = 0; i < _counts[h]; i++)
            {
                _sortValues[at] = _levels[h][i];
                _sortWeights[at++] = 1L << h;
            }
        }

        Array.Sort(_sortValues, _sortWeights, 0, n);
        var target = p * Count;
        long cumulative = 0;
        for (var i = 0; i < n; i++)
        {
            cumulative += _sortWeights[i];
            if (cumulative >= target)
            {
                return _sortValues[i];
            }
        }

        return _sortValues[n - 1];
    }

    /// <summary>Restores a sketch's header (decoding); levels follow through <see cref="LoadLevel"/>.</summary>
    internal void LoadHeader(long count, long rankErrorBound, ulong parity, int levels)
    {
        if (levels > MaxLevels || count < 0 || rankErrorBound < 0)
        {
            throw new InvalidDataException("stored quantile sketch is out of range");
        }

        Clear();
        (Count, RankErrorBound, Parity) = (count, rankErrorBound, parity);
        if (levels > 0)
        {
            EnsureLevel(levels - 1, 0);
        }
    }

    /// <summary>The buffer to decode <paramref name="count"/> values of level <paramref name="level"/> into.</summary>
    internal Span<double> LoadLevel(int level, int count)
    {
        EnsureLevel(level, count);
        _counts[level] = count;
        return _levels[level].AsSpan(0, count);
    }

    private void Append(int level, double value)
    {
        var count = _counts.Length > level ? _counts[level] : 0;
        EnsureLevel(level, count + 1);
        _levels[level][count] = value;
        _counts[level] = count + 1;
    }

    private void EnsureLevel(int level, int size)
    {
        if (level >= _counts.Length)
        {
            if (level >= MaxLevels)
            {
                throw new InvalidOperationException("the quantile sketch has no level left");
            }

            Array.Resize(ref _levels, level + 1);
            Array.Resize(ref _counts, level + 1);
            for (var h = 0; h <= level; h++)
            {
                _levels[h] ??= [];
            }
        }

        if (_levels[level].Length < size)
        {
            Array.Resize(ref _levels[level], Math.Max(size, Math.Min(Math.Max(8, _levels[level].Length * 2), Math.Max(size, LevelCapacity))));
        }
    }

    private void Compress()
    {
        for (var h = 0; h < _counts.Length; h++)
        {
            if (_counts[h] >= LevelCapacity)
            {
                Compact(h);
            }
        }
    }

    // Sorts level h and moves every other value of its largest even-sized prefix up a level; an odd one out
    // (the largest) stays. The estimated rank of any value moves by at most 2^h.
    private void Compact(int h)
    {
        var values = _levels[h];
        var count = _counts[h];
        Array.Sort(values, 0, count);
        var pairs = count / 2;
        var offset = (int)((Parity >> h) & 1);
        Parity ^= 1UL << h;
        EnsureLevel(h + 1, (_counts.Length > h + 1 ? _counts[h + 1] : 0) + pairs);
        values = _levels[h]; // EnsureLevel may have resized the array of levels, not this level's values
        var up = _levels[h + 1];
        var upCount = _counts[h + 1];
        for (var i = 0; i < pairs; i++)
        {
            up[upCount++] = values[(2 * i) + offset];
        }

        _counts[h + 1] = upCount;
        if (count % 2 == 1)
        {
            values[0] = values[count - 1];
            _counts[h] = 1;
        }
        else
        {
            _counts[h] = 0;
        }

        RankErrorBound += 1L << h;
    }
}
