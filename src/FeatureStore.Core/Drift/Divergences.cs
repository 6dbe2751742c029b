namespace FeatureStore.Core.Drift;

/// <summary>Distances between two discrete distributions given as shares over the same bins (each summing to 1).</summary>
public static class Divergences
{
    /// <summary>
    /// Population stability index Σ (q − p) · ln(q / p), with p the reference and q the current shares;
    /// a share of 0 counts as <see cref="DriftDefaults.ZeroShare"/> (on both sides).
    /// </summary>
    public static double Psi(ReadOnlySpan<double> reference, ReadOnlySpan<double> current)
    {
        CheckLengths(reference, current);
        var sum = 0.0;
        for (var i = 0; i < reference.Length; i++)
        {
            var p = reference[i] <= 0 ? DriftDefaults.ZeroShare : reference[i];
            var q = current[i] <= 0 ? DriftDefaults.ZeroShare : current[i];
            sum += (q - p) * Math.Log(q / p);
        }

        return sum;
    }

    /// <summary>
    /// Jensen–Shannon distance with natural logarithms: √((KL(p‖m) + KL(q‖m)) / 2), m = (p + q) / 2;
    /// in [0, √ln 2]. The same as scipy's <c>jensenshannon(p, q)</c>.
    /// </summary>
    public static double JensenShannon(ReadOnlySpan<double> reference, ReadOnlySpan<double> current)
    {
        CheckLengths(reference, current);
        var sum = 0.0;
        for (var i = 0; i < reference.Length; i++)
        {
            var p = reference[i];
            var q = current[i];
            var m = (p + q) / 2;
            if (p > 0)
            {
                sum += p * Math.Log(p / m);
            }

            if (q > 0)
            {
                sum += q * Math.Log(q / m);
            }
        }

        return Math.Sqrt(Math.Max(0, sum / 2));
    }

    /// <summary>Hellinger distance √(1 − Σ √(p·q)), in [0, 1].</summary>
    public static double Hellinger(ReadOnlySpan<double> reference, ReadOnlySpan<double> current)
    {
        CheckLengths(reference, current);
        var sum = 0.0;
        for (var i = 0; i < reference.Length; i++)
        {
            var d = Math.Sqrt(reference[i]) - Math.Sqrt(current[i]);
            sum += d * d;
        }

        // (1/√2)·‖√p − √q‖₂: the same value as √(1 − Σ√pq), without its cancellation near 0.
        return Math.Min(1, Math.Sqrt(sum / 2));
    }

    /// <summary>
    /// Pearson's chi-squared goodness of fit of <paramref name="counts"/> to the expected shares
    /// <paramref name="reference"/> (a share of 0 counts as <see cref="DriftDefaults.ZeroShare"/>, then the
    /// shares are rescaled to sum to 1): the statistic and its p-value with k − 1 degrees of freedom, as
    /// scipy's <c>chisquare(counts, f_exp)</c>.
    /// </summary>
    public static (double Statistic, double PValue) ChiSquare(ReadOnlySpan<double> reference, ReadOnlySpan<long> counts)
    {
        if (reference.Length != counts.Length)
        {
            throw new ArgumentException("the shares and the counts must have the same length", nameof(counts));
        }

        long n = 0;
        var total = 0.0;
        for (var i = 0; i < counts.Length; i++)
        {
            n += counts[i];
            total += reference[i] <= 0 ? DriftDefaults.ZeroShare : reference[i];
        }

        if (n == 0 || reference.Length < 2)
        {
            return (0, 1);
        }

        var statistic = 0.0;
        for (var i = 0; i < counts.Length; i++)
        {
            var expected = (reference[i] <= 0 ? DriftDefaults.ZeroShare : reference[i]) / total * n;
            var d = counts[i] - expected;
            statistic += d * d / expected;
        }

        var p = MathNet.Numerics.SpecialFunctions.GammaUpperRegularized((reference.Length - 1) / 2.0, statistic / 2);
        return (statistic, p);
    }

    private static void CheckLengths(ReadOnlySpan<double> reference, ReadOnlySpan<double> current)
    {
        if (reference.Length != current.Length)
        {
            throw new ArgumentException("both distributions must have the same bins", nameof(current));
        }
    }
}
