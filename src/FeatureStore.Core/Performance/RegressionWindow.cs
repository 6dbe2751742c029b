namespace FeatureStore.Core.Performance;

/// <summary>
/// The realized performance of a regression model over one window (docs/performance.md):
/// <list type="bullet">
/// <item><see cref="Mae"/> = mean |ŷ − y|, <see cref="Rmse"/> = √mean (ŷ − y)²;</item>
/// <item><see cref="Mape"/> = mean |ŷ − y| / |y| as a fraction (0.05 is 5 %, as scikit-learn), over the pairs whose
/// target is not 0; those are counted in <see cref="ZeroTargets"/> and left out (scikit-learn divides by
/// max(|y|, ε) instead, which turns one zero target into a value near 10¹⁵); NaN when every target is 0;</item>
/// <item><see cref="R2"/> = 1 − Σ(ŷ − y)² / Σ(y − ȳ)²; NaN when the targets do not vary (scikit-learn's
/// <c>force_finite</c> would say 1 or 0 there, neither of which is a measurement).</item>
/// </list>
/// Every metric is NaN for an empty window.
/// </summary>
/// <param name="Count">Pairs in the window.</param>
/// <param name="Mae">Mean absolute error.</param>
/// <param name="Rmse">Root mean squared error.</param>
/// <param name="Mape">Mean absolute percentage error (a fraction) over non-zero targets.</param>
/// <param name="ZeroTargets">Pairs whose target is 0, left out of <see cref="Mape"/> only.</param>
/// <param name="R2">Coefficient of determination.</param>
public sealed record RegressionMetrics(long Count, double Mae, double Rmse, double Mape, long ZeroTargets, double R2);

/// <summary>
/// One window of (prediction, target) pairs of a regression model in O(1) memory: compensated sums of the
/// absolute, squared and relative errors, and Welford's mean and sum of squared deviations of the targets.
/// Windows merge exactly in count and up to rounding in the sums (Chan's formula for the deviations), so
/// partitions or segments can be combined. A pair with a NaN or infinite value is counted in
/// <see cref="Rejected"/> and left out.
/// </summary>
public struct RegressionWindow
{
    private CompensatedSum _absoluteErrors;
    private CompensatedSum _squaredErrors;
    private CompensatedSum _relativeErrors;
    private double _targetMean;
    private double _targetDeviations;

    /// <summary>Pairs added since the last <see cref="Reset"/> (not counting <see cref="Rejected"/> ones).</summary>
    public long Count { readonly get; private set; }

    /// <summary>Pairs whose target is 0 (left out of MAPE only).</summary>
    public long ZeroTargets { readonly get; private set; }

    /// <summary>Pairs left out because the prediction or the target was NaN or infinite.</summary>
    public long Rejected { readonly get; private set; }

    /// <summary>Adds one prediction and its target.</summary>
    public void Add(double prediction, double target)
    {
        if (!double.IsFinite(prediction) || !double.IsFinite(target))
        {
            Rejected++;
            return;
        }

        var error = prediction - target;
        _absoluteErrors.Add(Math.Abs(error));
        _squaredErrors.Add(error * error);
        if (target == 0)
        {
            ZeroTargets++;
        }
        else
        {
            _relativeErrors.Add(Math.Abs(error / target));
        }

        Count++;
        var delta = target - _targetMean;
        _targetMean += delta / Count;
        _targetDeviations += delta * (target - _targetMean);
    }

    /// <summary>Adds every pair of <paramref name="other"/>.</summary>
    public void Merge(in RegressionWindow other)
    {
        if (other.Count > 0)
        {
            var count = Count + other.Count;
            var delta = other._targetMean - _targetMean;
            _targetDeviations += other._targetDeviations + (delta * delta * ((double)Count * other.Count / count));
            _targetMean += delta * other.Count / count;
            Count = count;
            _absoluteErrors.Add(other._absoluteErrors);
            _squaredErrors.Add(other._squaredErrors);
            _relativeErrors.Add(other._relativeErrors);
            ZeroTargets += other.ZeroTargets;
        }

        Rejected += other.Rejected;
    }

    /// <summary>Forgets every pair: the next window starts.</summary>
    public void Reset() => this = default;

    /// <summary>The metrics of the pairs so far; never throws (NaN where undefined).</summary>
    public readonly RegressionMetrics Compute()
    {
        if (Count == 0)
        {
            return new RegressionMetrics(0, double.NaN, double.NaN, double.NaN, 0, double.NaN);
        }

        var squared = _squaredErrors.Value;
        var nonZero = Count - ZeroTargets;
        return new RegressionMetrics(
            Count,
            _absoluteErrors.Value / Count,
            Math.Sqrt(squared / Count),
            nonZero > 0 ? _relativeErrors.Value / nonZero : double.NaN,
            ZeroTargets,
            _targetDeviations > 0 ? 1 - (squared / _targetDeviations) : double.NaN);
    }
}
