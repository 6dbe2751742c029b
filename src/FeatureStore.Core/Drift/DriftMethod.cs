namespace FeatureStore.Core.Drift;

/// <summary>The drift methods of DESIGN.md §7.</summary>
public enum DriftMethod
{
    /// <summary>Population stability index over the baseline's bins; drift at PSI ≥ threshold (default 0.2).</summary>
    Psi,

    /// <summary>Two-sample Kolmogorov–Smirnov test; drift at p &lt; threshold (default 0.05) and D ≥ <see cref="DriftDefaults.KsMinimumEffect"/>.</summary>
    Ks,

    /// <summary>Jensen–Shannon distance (natural log) over the baseline's bins; drift at ≥ threshold (default 0.1).</summary>
    Js,

    /// <summary>Wasserstein-1 distance divided by the reference's standard deviation; drift at ≥ threshold (default 0.1).</summary>
    Wasserstein,

    /// <summary>Pearson chi-squared goodness of fit to the baseline's shares; drift at p &lt; threshold (default 0.05).</summary>
    Chi2,

    /// <summary>Hellinger distance over the baseline's bins; drift at ≥ threshold (default 0.1).</summary>
    Hellinger,
}

/// <summary>Documented defaults of the drift methods (docs/drift.md).</summary>
public static class DriftDefaults
{
    /// <summary>A share of 0 in PSI (and in chi-squared's expected shares) counts as this.</summary>
    public const double ZeroShare = 1e-4;

    /// <summary>KS flags drift only when D is at least this, so huge windows do not alarm on noise.</summary>
    public const double KsMinimumEffect = 0.1;

    /// <summary>The share of a model version's monitored columns that must drift for the version to drift.</summary>
    public const double DriftedColumnShare = 0.5;

    /// <summary>Quantile bins of a numeric baseline.</summary>
    public const int Bins = 10;

    /// <summary>
    /// Most distinct values a numeric baseline keeps as its reference for KS and Wasserstein: up to this, the
    /// whole training column (its distinct values and their counts); beyond, this many evenly spaced order
    /// statistics (a sample, said in every report).
    /// </summary>
    public const int MaxReferenceValues = 50_000;

    /// <summary>
    /// Fewest values a window needs for a verdict (a monitor's <c>min_samples</c> when it writes none, or its
    /// count window's size when smaller): with 10 bins, a window of n values from the training distribution
    /// has PSI ≈ χ²₉ / n, so below 100 PSI ≥ 0.2 becomes likely without any drift.
    /// </summary>
    public const int MinSamples = 100;

    /// <summary>Most categories a categorical baseline keeps; rarer ones go to "other".</summary>
    public const int MaxCategories = 100;

    /// <summary>The default threshold of <paramref name="method"/>.</summary>
    public static double Threshold(DriftMethod method) => method switch
    {
        DriftMethod.Psi => 0.2,
        DriftMethod.Ks => 0.05,
        DriftMethod.Chi2 => 0.05,
        _ => 0.1,
    };

    /// <summary>True when the method's value is a p-value (drift below the threshold), false when it is a distance (drift at or above).</summary>
    public static bool IsPValue(DriftMethod method) => method is DriftMethod.Ks or DriftMethod.Chi2;

    /// <summary>Parses a method name as written in the repository file (<c>psi</c>, <c>ks</c>, …).</summary>
    public static DriftMethod Parse(string name) => name switch
    {
        "psi" => DriftMethod.Psi,
        "ks" => DriftMethod.Ks,
        "js" => DriftMethod.Js,
        "wasserstein" => DriftMethod.Wasserstein,
        "chi2" => DriftMethod.Chi2,
        "hellinger" => DriftMethod.Hellinger,
        _ => throw new ArgumentException($"unknown drift method '{name}'", nameof(name)),
    };

    /// <summary>The name of <paramref name="method"/> as written in the repository file.</summary>
    public static string Name(DriftMethod method) => method.ToString().ToLowerInvariant();
}

/// <summary>The verdict of one column's window, or of a model version over its columns.</summary>
public enum DriftVerdict
{
    /// <summary>Enough values and no method drifted.</summary>
    NoDrift,

    /// <summary>At least one method drifted (a column), or the share of drifted columns reached its threshold (a version).</summary>
    Drifted,

    /// <summary>Fewer values than the monitor's <c>min_samples</c>: no method is judged and nothing alerts.</summary>
    InsufficientData,
}

/// <summary>The non-finite values of a numeric column, counted and left out of every statistic.</summary>
/// <param name="Nan">NaN values.</param>
/// <param name="PositiveInfinity">+∞ values.</param>
/// <param name="NegativeInfinity">−∞ values.</param>
public sealed record NonFiniteCounts(long Nan, long PositiveInfinity, long NegativeInfinity)
{
    /// <summary>None.</summary>
    public static NonFiniteCounts None { get; } = new(0, 0, 0);

    /// <summary>Their total.</summary>
    public long Total() => Nan + PositiveInfinity + NegativeInfinity;

    /// <summary>The non-finite values among <paramref name="values"/>.</summary>
    public static NonFiniteCounts Of(ReadOnlySpan<double> values)
    {
        long nan = 0, positive = 0, negative = 0;
        foreach (var v in values)
        {
            if (double.IsNaN(v))
            {
                nan++;
            }
            else if (double.IsPositiveInfinity(v))
            {
                positive++;
            }
            else if (double.IsNegativeInfinity(v))
            {
                negative++;
            }
        }

        return new NonFiniteCounts(nan, positive, negative);
    }
}

/// <summary>The outcome of one method on one window.</summary>
/// <param name="Method">The method.</param>
/// <param name="Value">What the threshold is compared with: the p-value for ks and chi2, the distance or index otherwise.</param>
/// <param name="Statistic">The test statistic (KS D, chi-squared) or, for distances, the value again.</param>
/// <param name="Threshold">The threshold used.</param>
/// <param name="Drifted">The verdict.</param>
public sealed record DriftResult(DriftMethod Method, double Value, double Statistic, double Threshold, bool Drifted);
