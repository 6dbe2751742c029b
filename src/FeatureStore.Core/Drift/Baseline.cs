namespace FeatureStore.Core.Drift;

/// <summary>
/// The training distribution of one numeric column: quantile bins (edges strictly increasing; bin i holds
/// edges[i−1] ≤ x &lt; edges[i], the outer bins open-ended), their shares, and the reference for KS and
/// Wasserstein as sorted distinct values with their counts: the whole training column when it has at most
/// <see cref="DriftDefaults.MaxReferenceValues"/> distinct values, otherwise that many evenly spaced order
/// statistics (<paramref name="ReferenceSampled"/>).
/// </summary>
/// <param name="Count">Finite values in the training data.</param>
/// <param name="Mean">Their mean.</param>
/// <param name="StdDev">Their population standard deviation (divides Wasserstein).</param>
/// <param name="Edges">Inner bin edges, strictly increasing (bins = edges + 1).</param>
/// <param name="Shares">Share of the training values in each bin.</param>
/// <param name="ReferenceValues">The reference's distinct values, increasing.</param>
/// <param name="ReferenceCounts">How many times each occurs in the reference.</param>
/// <param name="ReferenceSampled">True when the reference is a sample of the training column rather than all of it.</param>
public sealed record NumericBaseline(long Count, double Mean, double StdDev, double[] Edges, double[] Shares, double[] ReferenceValues, long[] ReferenceCounts, bool ReferenceSampled)
{
    /// <summary>Values in the reference (the sum of <see cref="ReferenceCounts"/>): the training count unless sampled.</summary>
    public long ReferenceSize() => ReferenceCounts.Sum();

    /// <summary>The bin of <paramref name="value"/>: the number of edges at or below it.</summary>
    public int BinOf(double value)
    {
        int lo = 0, hi = Edges.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (Edges[mid] <= value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}

/// <summary>
/// The training distribution of one categorical column: the most frequent categories (at most
/// <see cref="DriftDefaults.MaxCategories"/>) and their shares; the last share is "other" (every rarer
/// category in training, and later every category training never saw).
/// </summary>
/// <param name="Count">Values in the training data.</param>
/// <param name="Categories">The categories kept, most frequent first.</param>
/// <param name="Shares">One share per category, then the share of "other".</param>
public sealed record CategoricalBaseline(long Count, string[] Categories, double[] Shares)
{
    /// <summary>The bucket of <paramref name="value"/>: its category's index, or the "other" bucket.</summary>
    public int BucketOf(string value)
    {
        var i = Array.IndexOf(Categories, value);
        return i < 0 ? Categories.Length : i;
    }
}

/// <summary>Computes baselines from training values.</summary>
public static class BaselineBuilder
{
    /// <summary>A numeric baseline with <paramref name="bins"/> quantile bins (numpy's linear quantiles, duplicates merged) of finite values.</summary>
    public static NumericBaseline Numeric(ReadOnlySpan<double> values, int bins = DriftDefaults.Bins, int maxReferenceValues = DriftDefaults.MaxReferenceValues)
    {
        if (values.IsEmpty)
        {
            throw new ArgumentException("a baseline needs at least one value", nameof(values));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxReferenceValues, 1);
        var sorted = values.ToArray();
        Array.Sort(sorted);
        var mean = 0.0;
        for (var i = 0; i < sorted.Length; i++)
        {
            mean += (sorted[i] - mean) / (i + 1);
        }

        var squares = 0.0;
        foreach (var v in sorted)
        {
            squares += (v - mean) * (v - mean);
        }

        var edges = new List<double>();
        for (var b = 1; b < bins; b++)
        {
            var q = Quantile(sorted, (double)b / bins);
            if (edges.Count == 0 || q > edges[^1])
            {
                edges.Add(q);
            }
        }

        var (referenceValues, referenceCounts) = Distinct(sorted);
        var sampled = referenceValues.Length > maxReferenceValues;
        if (sampled)
        {
            (referenceValues, referenceCounts) = Distinct(Sample(sorted, maxReferenceValues));
        }

        var baseline = new NumericBaseline(sorted.Length, mean, Math.Sqrt(squares / sorted.Length), [.. edges], new double[edges.Count + 1], referenceValues, referenceCounts, sampled);
        var counts = new long[baseline.Shares.Length];
        foreach (var v in sorted)
        {
            counts[baseline.BinOf(v)]++;
        }

        for (var i = 0; i < counts.Length; i++)
        {
            baseline.Shares[i] = (double)counts[i] / sorted.Length;
        }

        return baseline;
    }

    /// <summary>A categorical baseline keeping the <paramref name="maxCategories"/> most frequent categories (ties by name).</summary>
    public static CategoricalBaseline Categorical(IEnumerable<string> values, int maxCategories = DriftDefaults.MaxCategories)
    {
        ArgumentNullException.ThrowIfNull(values);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        foreach (var v in values)
        {
            counts[v] = counts.GetValueOrDefault(v) + 1;
            total++;
        }

        if (total == 0)
        {
            throw new ArgumentException("a baseline needs at least one value", nameof(values));
        }

        var kept = counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal).Take(maxCategories).ToArray();
        var shares = new double[kept.Length + 1];
        for (var i = 0; i < kept.Length; i++)
        {
            shares[i] = (double)kept[i].Value / total;
        }

        shares[^1] = (double)(total - kept.Sum(k => k.Value)) / total;
        return new CategoricalBaseline(total, [.. kept.Select(k => k.Key)], shares);
    }

    /// <summary>numpy's default (linear) quantile of sorted values.</summary>
    public static double Quantile(ReadOnlySpan<double> sorted, double p)
    {
        var h = (sorted.Length - 1) * p;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }

    /// <summary>The distinct values of sorted <paramref name="sorted"/> and how many times each occurs.</summary>
    public static (double[] Values, long[] Counts) Distinct(ReadOnlySpan<double> sorted)
    {
        var values = new List<double>();
        var counts = new List<long>();
        foreach (var v in sorted)
        {
            if (values.Count > 0 && values[^1] == v)
            {
                counts[^1]++;
            }
            else
            {
                values.Add(v);
                counts.Add(1);
            }
        }

        return ([.. values], [.. counts]);
    }

    // Evenly spaced order statistics: the empirical CDF stays within 1/size of the data's.
    private static double[] Sample(double[] sorted, int size)
    {
        var sample = new double[size];
        for (var j = 0; j < size; j++)
        {
            sample[j] = sorted[(int)(((j + 0.5) * sorted.Length) / size)];
        }

        return sample;
    }
}
