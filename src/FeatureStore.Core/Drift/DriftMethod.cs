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

    /// <summary>Largest reference sample kept per numeric column for KS and Wasserstein.</summary>
    public const int ReferenceSampleSize = 5000;

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

/// <summary>The outcome of one method on one window.</summary>
/// <param name="Method">The method.</param>
/// <param name="Value">What the threshold is compared with: the p-value for ks and chi2, the distance or index otherwise.</param>
/// <param name="Statistic">The test statistic (KS D, chi-squared) or, for distances, the value again.</param>
/// <param name="Threshold">The threshold used.</param>
/// <param name="Drifted">The verdict.</param>
public sealed record DriftResult(DriftMethod Method, double Value, double Statistic, double Threshold, bool Drifted);
