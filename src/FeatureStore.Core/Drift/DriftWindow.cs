namespace FeatureStore.Core.Drift;

/// <summary>
/// The values of one column in one window, kept in memory bounded by the baseline (never by the window's
/// size), and the drift methods evaluated against that baseline.
/// </summary>
public abstract class DriftWindow
{
    /// <summary>Values added since the last <see cref="Reset"/>.</summary>
    public long Count { get; protected set; }

    /// <summary>Bytes this window keeps, whatever its size.</summary>
    public abstract long MemoryBytes { get; }

    /// <summary>Forgets every value: the next window starts.</summary>
    public abstract void Reset();

    /// <summary>
    /// The result of <paramref name="method"/> with <paramref name="threshold"/> on the values so far, or null when
    /// the method does not apply to this kind of column (ks and wasserstein on categories) or there are none.
    /// </summary>
    public abstract DriftResult? Evaluate(DriftMethod method, double threshold);

    /// <summary>The verdict of a method's value against its threshold (p-values drift below it, distances at or above).</summary>
    protected static DriftResult Verdict(DriftMethod method, double value, double statistic, double threshold) =>
        new(method, value, statistic, threshold, method switch
        {
            DriftMethod.Ks => value < threshold && statistic >= DriftDefaults.KsMinimumEffect,
            DriftMethod.Chi2 => value < threshold,
            _ => value >= threshold,
        });

    /// <summary>The bin-based methods, shared by numeric and categorical columns.</summary>
    protected static DriftResult? EvaluateBins(DriftMethod method, double threshold, double[] referenceShares, long[] counts, long total)
    {
        if (total == 0)
        {
            return null;
        }

        if (method == DriftMethod.Chi2)
        {
            var (statistic, p) = Divergences.ChiSquare(referenceShares, counts);
            return Verdict(method, p, statistic, threshold);
        }

        var current = new double[counts.Length];
        for (var i = 0; i < counts.Length; i++)
        {
            current[i] = (double)counts[i] / total;
        }

        double? value = method switch
        {
            DriftMethod.Psi => Divergences.Psi(referenceShares, current),
            DriftMethod.Js => Divergences.JensenShannon(referenceShares, current),
            DriftMethod.Hellinger => Divergences.Hellinger(referenceShares, current),
            _ => null,
        };
        return value is { } v ? Verdict(method, v, v, threshold) : null;
    }
}

/// <summary>
/// A numeric column's window: counts per baseline bin (PSI, JS, Hellinger, chi-squared) and, against the
/// reference's distinct values u₀ &lt; u₁ &lt; …, the count of values equal to each and the count and sum of
/// values strictly between neighbours. That gives the exact KS statistic of the reference against every value
/// of the window, and the Wasserstein distance exactly except where the two CDFs cross inside one gap of the
/// reference (there it is a lower bound). NaN and infinities are counted apart and left out of every method.
/// </summary>
public sealed class NumericWindow : DriftWindow
{
    private readonly NumericBaseline _baseline;
    private readonly double[] _points;
    private readonly long[] _referenceAtOrBelow;
    private readonly long _referenceSize;
    private readonly long[] _equal;
    private readonly long[] _between;
    private readonly double[] _betweenSum;
    private readonly long[] _bins;
    private long _nan;
    private long _positiveInfinity;
    private long _negativeInfinity;

    /// <summary>A window against <paramref name="baseline"/>.</summary>
    public NumericWindow(NumericBaseline baseline)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        _baseline = baseline;
        _points = baseline.ReferenceValues;
        _referenceAtOrBelow = new long[_points.Length];
        long cumulative = 0;
        for (var i = 0; i < _points.Length; i++)
        {
            cumulative += baseline.ReferenceCounts[i];
            _referenceAtOrBelow[i] = cumulative;
        }

        _referenceSize = cumulative;
        _equal = new long[_points.Length];
        _between = new long[_points.Length + 1];
        _betweenSum = new double[_points.Length + 1];
        _bins = new long[baseline.Shares.Length];
    }

    /// <summary>Values in the reference KS and Wasserstein compare with (the training count unless it was sampled).</summary>
    public long ReferenceSize => _referenceSize;

    /// <summary>True when the reference is a sample of the training column.</summary>
    public bool ReferenceSampled => _baseline.ReferenceSampled;

    /// <summary>The NaN and infinite values added since the last <see cref="Reset"/> (not in <see cref="DriftWindow.Count"/>).</summary>
    public NonFiniteCounts NonFinite => new(_nan, _positiveInfinity, _negativeInfinity);

    /// <inheritdoc />
    public override long MemoryBytes => 8L * ((_points.Length * 3) + ((_points.Length + 1) * 2) + _bins.Length);

    /// <summary>Adds one value (NaN and infinities are only counted, in <see cref="NonFinite"/>).</summary>
    public void Add(double value)
    {
        if (!double.IsFinite(value))
        {
            if (double.IsNaN(value))
            {
                _nan++;
            }
            else if (value > 0)
            {
                _positiveInfinity++;
            }
            else
            {
                _negativeInfinity++;
            }

            return;
        }

        Count++;
        _bins[_baseline.BinOf(value)]++;
        var i = Array.BinarySearch(_points, value);
        if (i >= 0)
        {
            _equal[i]++;
        }
        else
        {
            i = ~i;
            _between[i]++;
            _betweenSum[i] += value;
        }
    }

    /// <inheritdoc />
    public override void Reset()
    {
        Count = 0;
        _nan = _positiveInfinity = _negativeInfinity = 0;
        Array.Clear(_equal);
        Array.Clear(_between);
        Array.Clear(_betweenSum);
        Array.Clear(_bins);
    }

    /// <inheritdoc />
    public override DriftResult? Evaluate(DriftMethod method, double threshold)
    {
        if (Count == 0)
        {
            return null;
        }

        switch (method)
        {
            case DriftMethod.Ks:
                var d = KsStatistic();
                var p = KolmogorovSmirnov.PValue(d, _referenceSize, Count);
                return Verdict(method, p, d, threshold);
            case DriftMethod.Wasserstein:
                var w = WassersteinDistance() / (_baseline.StdDev > 0 ? _baseline.StdDev : 1);
                return Verdict(method, w, w, threshold);
            default:
                return EvaluateBins(method, threshold, _baseline.Shares, _bins, Count);
        }
    }

    /// <summary>sup |F_ref − F_window|, the same as scipy's <c>ks_2samp(reference, window).statistic</c>.</summary>
    public double KsStatistic()
    {
        double n = Count, nRef = _referenceSize, d = 0;
        long atOrBelow = 0;
        for (var j = 0; j < _points.Length; j++)
        {
            var below = atOrBelow + _between[j];
            if (_between[j] > 0)
            {
                var reference = j == 0 ? 0 : _referenceAtOrBelow[j - 1] / nRef;
                d = Math.Max(d, Math.Abs(reference - (below / n)));
            }

            atOrBelow = below + _equal[j];
            d = Math.Max(d, Math.Abs((_referenceAtOrBelow[j] / nRef) - (atOrBelow / n)));
        }

        return d;
    }

    /// <summary>∫ |F_ref − F_window| dx (before dividing by the reference's standard deviation).</summary>
    public double WassersteinDistance()
    {
        double n = Count, nRef = _referenceSize;
        var last = _points.Length - 1;
        var sum = ((_between[0] * _points[0]) - _betweenSum[0]) / n;
        sum += (_betweenSum[last + 1] - (_between[last + 1] * _points[last])) / n;
        long atOrBelow = _between[0] + _equal[0];
        for (var j = 1; j <= last; j++)
        {
            var width = _points[j] - _points[j - 1];
            var reference = _referenceAtOrBelow[j - 1] / nRef;
            var start = atOrBelow / n;
            var end = (atOrBelow + _between[j]) / n;
            var underCurrent = (start * width) + (((_between[j] * _points[j]) - _betweenSum[j]) / n);
            var underReference = reference * width;
            sum += start >= reference ? underCurrent - underReference
                : end <= reference ? underReference - underCurrent
                : Math.Abs(underCurrent - underReference);
            atOrBelow += _between[j] + _equal[j];
        }

        return sum;
    }
}

/// <summary>A categorical column's window: counts per baseline category and "other".</summary>
/// <param name="baseline">The column's baseline.</param>
public sealed class CategoricalWindow(CategoricalBaseline baseline) : DriftWindow
{
    private readonly CategoricalBaseline _baseline = baseline ?? throw new ArgumentNullException(nameof(baseline));
    private readonly long[] _counts = new long[baseline.Shares.Length];

    /// <inheritdoc />
    public override long MemoryBytes => 8L * _counts.Length;

    /// <summary>Adds one value.</summary>
    public void Add(string value)
    {
        Count++;
        _counts[_baseline.BucketOf(value)]++;
    }

    /// <inheritdoc />
    public override void Reset()
    {
        Count = 0;
        Array.Clear(_counts);
    }

    /// <inheritdoc />
    public override DriftResult? Evaluate(DriftMethod method, double threshold) =>
        method is DriftMethod.Ks or DriftMethod.Wasserstein ? null : EvaluateBins(method, threshold, _baseline.Shares, _counts, Count);
}
