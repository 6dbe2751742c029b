using System.Buffers;

namespace FeatureStore.Core.Performance;

/// <summary>
/// A monotone map from a model's scores to probabilities, fitted by isotonic regression on a labelled
/// reference and kept as its breakpoints, small enough to store with a model version's reference. Between
/// two breakpoints the probability is interpolated linearly; below the first and above the last it is the
/// end value (scikit-learn's <c>IsotonicRegression(out_of_bounds="clip")</c>, which NannyML's CBPE uses).
/// </summary>
/// <param name="Scores">Breakpoint scores, strictly increasing (at least one).</param>
/// <param name="Probabilities">The probability at each breakpoint, non-decreasing, in [0, 1].</param>
public sealed record IsotonicCalibration(double[] Scores, double[] Probabilities)
{
    /// <summary>The identity on [0, 1]: for scores that are calibrated already.</summary>
    public static IsotonicCalibration Identity { get; } = new([0, 1], [0, 1]);

    /// <summary>
    /// Fits the calibration on reference scores and their labels with the pool-adjacent-violators
    /// algorithm: the non-decreasing step function closest to the labels in squared error. Scores that are
    /// NaN or infinite are left out.
    /// </summary>
    /// <exception cref="ArgumentException">No finite score, or not one label per score.</exception>
    public static IsotonicCalibration Fit(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels)
    {
        if (scores.Length != labels.Length)
        {
            throw new ArgumentException("there must be one label per score", nameof(labels));
        }

        var targets = ArrayPool<double>.Shared.Rent(labels.Length);
        try
        {
            for (var i = 0; i < labels.Length; i++)
            {
                targets[i] = labels[i] ? 1 : 0;
            }

            return Fit(scores, targets.AsSpan(0, labels.Length));
        }
        finally
        {
            ArrayPool<double>.Shared.Return(targets);
        }
    }

    /// <summary>
    /// Isotonic regression of <paramref name="targets"/> on <paramref name="scores"/> (equal weights), as
    /// scikit-learn's <c>IsotonicRegression</c> fits it: equal scores pooled first, then adjacent blocks that
    /// violate the order (a mean at or above the next) pooled until none does; each block kept as its first
    /// and last score at the block's mean.
    /// </summary>
    internal static IsotonicCalibration Fit(ReadOnlySpan<double> scores, ReadOnlySpan<double> targets)
    {
        if (scores.Length != targets.Length)
        {
            throw new ArgumentException("there must be one target per score", nameof(targets));
        }

        var x = new double[scores.Length];
        var y = new double[scores.Length];
        var n = 0;
        for (var i = 0; i < scores.Length; i++)
        {
            if (double.IsFinite(scores[i]))
            {
                x[n] = scores[i];
                y[n] = targets[i];
                n++;
            }
        }

        if (n == 0)
        {
            throw new ArgumentException("calibration needs at least one finite score", nameof(scores));
        }

        x.AsSpan(0, n).Sort(y.AsSpan(0, n));

        // Blocks on a stack: their first and last distinct score, weight and target sum. Pushing a point
        // and merging backwards while the previous block's mean is not below the new one's is the
        // classical one-pass PAV; every point is merged at most once, so O(n) after the sort.
        var first = new double[n];
        var last = new double[n];
        var weight = new double[n];
        var sum = new double[n];
        var blocks = 0;
        for (var i = 0; i < n;)
        {
            var j = i;
            var s = 0.0;
            for (; j < n && x[j] == x[i]; j++)
            {
                s += y[j];
            }

            first[blocks] = last[blocks] = x[i];
            weight[blocks] = j - i;
            sum[blocks] = s;
            blocks++;
            while (blocks > 1 && sum[blocks - 2] / weight[blocks - 2] >= sum[blocks - 1] / weight[blocks - 1])
            {
                last[blocks - 2] = last[blocks - 1];
                weight[blocks - 2] += weight[blocks - 1];
                sum[blocks - 2] += sum[blocks - 1];
                blocks--;
            }

            i = j;
        }

        var breakpoints = new List<double>(2 * blocks);
        var probabilities = new List<double>(2 * blocks);
        for (var b = 0; b < blocks; b++)
        {
            var mean = sum[b] / weight[b];
            breakpoints.Add(first[b]);
            probabilities.Add(mean);
            if (last[b] > first[b])
            {
                breakpoints.Add(last[b]);
                probabilities.Add(mean);
            }
        }

        return new IsotonicCalibration([.. breakpoints], [.. probabilities]);
    }

    /// <summary>The calibrated probability of <paramref name="score"/> (NaN for NaN).</summary>
    public double Apply(double score)
    {
        var xs = Scores;
        if (double.IsNaN(score))
        {
            return double.NaN;
        }

        if (score <= xs[0])
        {
            return Probabilities[0];
        }

        if (score >= xs[^1])
        {
            return Probabilities[^1];
        }

        // xs[lo] ≤ score < xs[lo + 1]
        int lo = 0, hi = xs.Length - 1;
        while (hi - lo > 1)
        {
            var mid = (lo + hi) >>> 1;
            if (xs[mid] <= score)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        var t = (score - xs[lo]) / (xs[hi] - xs[lo]);
        return Probabilities[lo] + (t * (Probabilities[hi] - Probabilities[lo]));
    }
}
