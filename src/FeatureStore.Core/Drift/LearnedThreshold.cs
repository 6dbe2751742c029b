namespace FeatureStore.Core.Drift;

/// <summary>
/// A threshold learned from the reference itself: the training values cut into consecutive chunks of a
/// window's size, each chunk evaluated against the whole baseline, and the threshold set at the mean plus
/// three (sample) standard deviations of those values. For the distance methods only (psi, js,
/// wasserstein, hellinger; on categorical columns psi, js and hellinger); the p-value methods keep their
/// significance level.
/// </summary>
public static class LearnedThreshold
{
    /// <summary>The learned threshold of a numeric column, or null when the method is a test or there are fewer than two whole chunks.</summary>
    public static double? Compute(ReadOnlySpan<double> values, NumericBaseline baseline, int chunkSize, DriftMethod method)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        if (DriftDefaults.IsPValue(method) || values.Length / chunkSize < 2)
        {
            return null;
        }

        var window = new NumericWindow(baseline);
        var results = new List<double>();
        for (var start = 0; start + chunkSize <= values.Length; start += chunkSize)
        {
            window.Reset();
            foreach (var v in values.Slice(start, chunkSize))
            {
                window.Add(v);
            }

            results.Add(window.Evaluate(method, double.PositiveInfinity)!.Value);
        }

        return MeanPlusThreeSigma(results);
    }

    /// <summary>
    /// The learned threshold of a categorical column, or null when the method is a test, does not apply to
    /// categories (ks, wasserstein), or there are fewer than two whole chunks.
    /// </summary>
    public static double? Compute(IReadOnlyList<string> values, CategoricalBaseline baseline, int chunkSize, DriftMethod method)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        if (DriftDefaults.IsPValue(method) || method is DriftMethod.Ks or DriftMethod.Wasserstein || values.Count / chunkSize < 2)
        {
            return null;
        }

        var window = new CategoricalWindow(baseline);
        var results = new List<double>();
        for (var start = 0; start + chunkSize <= values.Count; start += chunkSize)
        {
            window.Reset();
            for (var i = start; i < start + chunkSize; i++)
            {
                window.Add(values[i]);
            }

            results.Add(window.Evaluate(method, double.PositiveInfinity)!.Value);
        }

        return MeanPlusThreeSigma(results);
    }

    private static double MeanPlusThreeSigma(List<double> results)
    {
        var mean = results.Average();
        var variance = results.Sum(r => (r - mean) * (r - mean)) / (results.Count - 1);
        return mean + (3 * Math.Sqrt(variance));
    }
}
