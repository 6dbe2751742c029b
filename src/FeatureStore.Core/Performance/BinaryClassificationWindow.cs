using System.Buffers;

namespace FeatureStore.Core.Performance;

/// <summary>
/// The (score, label) pairs of one window of a binary classifier, taken one at a time, and every metric of
/// <see cref="BinaryClassificationMetrics"/> computed when the window closes. The pairs themselves are kept
/// (9 bytes each: the ranking metrics need them all), in arrays that grow to the largest window and are
/// reused after <see cref="Reset"/>; <see cref="Compute"/> sorts them in place and allocates only its result.
/// </summary>
/// <remarks>
/// A score that is NaN, infinite or outside [0, 1] is not a probability: it is counted in
/// <see cref="Rejected"/> and left out of every metric. Windows merge (<see cref="Merge"/>), so a window can be
/// built from partitions or segments.
/// </remarks>
public sealed class BinaryClassificationWindow
{
    /// <summary>The default decision threshold: a score at or above it is a positive prediction.</summary>
    public const double DefaultThreshold = 0.5;

    /// <summary>The default number of equal-width bins of the expected calibration error.</summary>
    public const int DefaultCalibrationBins = 10;

    /// <summary>
    /// Log loss clips scores to [ε, 1 − ε] with this ε: scikit-learn's <c>log_loss(eps=1e-15)</c>, its default
    /// before 1.2. Later versions clip at machine epsilon (2.2e-16), which differs only for a score within 1e-15
    /// of the wrong label (by ln(1e-15 / 2.2e-16) ≈ 1.5 for that pair's term).
    /// </summary>
    public const double LogLossEpsilon = 1e-15;

    private const int InitialCapacity = 256;

    // Bins of the calibration error up to this many live on the stack.
    private const int MaxStackBins = 64;

    private double[] _scores = new double[InitialCapacity];
    private bool[] _labels = new bool[InitialCapacity];
    private int _count;

    /// <summary>A window with a decision threshold and a number of calibration bins.</summary>
    /// <param name="threshold">Scores at or above it are positive predictions (the model's threshold).</param>
    /// <param name="calibrationBins">Equal-width bins over [0, 1] of the expected calibration error.</param>
    public BinaryClassificationWindow(double threshold = DefaultThreshold, int calibrationBins = DefaultCalibrationBins)
    {
        CheckSettings(threshold, calibrationBins);
        Threshold = threshold;
        CalibrationBins = calibrationBins;
    }

    /// <summary>The decision threshold.</summary>
    public double Threshold { get; }

    /// <summary>The bins of the expected calibration error.</summary>
    public int CalibrationBins { get; }

    /// <summary>Pairs added since the last <see cref="Reset"/> (not counting <see cref="Rejected"/> ones).</summary>
    public int Count => _count;

    /// <summary>Pairs left out since the last <see cref="Reset"/>: the score was NaN, infinite or outside [0, 1].</summary>
    public long Rejected { get; private set; }

    /// <summary>Bytes the window's arrays take (their capacity, which only grows).</summary>
    public long MemoryBytes => (long)_scores.Length * (sizeof(double) + sizeof(bool));

    /// <summary>Adds one prediction's score and its label (true for the positive class).</summary>
    public void Add(double score, bool label)
    {
        if (!(score >= 0 && score <= 1))
        {
            Rejected++;
            return;
        }

        if (_count == _scores.Length)
        {
            Grow(_count + 1);
        }

        _scores[_count] = score;
        _labels[_count] = label;
        _count++;
    }

    /// <summary>Adds every pair of <paramref name="other"/> (which is left as it was).</summary>
    public void Merge(BinaryClassificationWindow other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (_count + other._count > _scores.Length)
        {
            Grow(_count + other._count);
        }

        Array.Copy(other._scores, 0, _scores, _count, other._count);
        Array.Copy(other._labels, 0, _labels, _count, other._count);
        _count += other._count;
        Rejected += other.Rejected;
    }

    /// <summary>Forgets every pair, keeping the arrays for the next window.</summary>
    public void Reset()
    {
        _count = 0;
        Rejected = 0;
    }

    /// <summary>Every metric over the pairs so far, at this window's threshold and bins. Never throws: undefined metrics are NaN, with <see cref="BinaryClassificationMetrics.Issues"/>.</summary>
    public BinaryClassificationMetrics Compute() =>
        ComputeMetrics(_scores.AsSpan(0, _count), _labels.AsSpan(0, _count), Threshold, CalibrationBins);

    /// <summary>
    /// Every metric over <paramref name="scores"/> and their <paramref name="labels"/>, as a window holding
    /// them would give (the same rejection of scores outside [0, 1]).
    /// </summary>
    public static BinaryClassificationMetrics Of(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels, double threshold = DefaultThreshold, int calibrationBins = DefaultCalibrationBins)
    {
        if (scores.Length != labels.Length)
        {
            throw new ArgumentException("there must be one label per score", nameof(labels));
        }

        CheckSettings(threshold, calibrationBins);
        var scoreBuffer = ArrayPool<double>.Shared.Rent(scores.Length);
        var labelBuffer = ArrayPool<bool>.Shared.Rent(scores.Length);
        try
        {
            var n = 0;
            for (var i = 0; i < scores.Length; i++)
            {
                if (scores[i] >= 0 && scores[i] <= 1)
                {
                    scoreBuffer[n] = scores[i];
                    labelBuffer[n] = labels[i];
                    n++;
                }
            }

            return ComputeMetrics(scoreBuffer.AsSpan(0, n), labelBuffer.AsSpan(0, n), threshold, calibrationBins);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(scoreBuffer);
            ArrayPool<bool>.Shared.Return(labelBuffer);
        }
    }

    // Sorts scores (and labels with them) in place.
    private static BinaryClassificationMetrics ComputeMetrics(Span<double> scores, Span<bool> labels, double threshold, int bins)
    {
        var n = scores.Length;
        if (n == 0)
        {
            return new BinaryClassificationMetrics(0, 0, threshold, double.NaN, double.NaN, double.NaN, double.NaN, default, double.NaN, BinaryMetricIssues.Empty);
        }

        Span<double> binScores = bins <= MaxStackBins ? stackalloc double[bins] : new double[bins];
        Span<long> binCounts = bins <= MaxStackBins ? stackalloc long[bins] : new long[bins];
        Span<long> binPositives = bins <= MaxStackBins ? stackalloc long[bins] : new long[bins];
        binScores.Clear();
        binCounts.Clear();
        binPositives.Clear();
        long tp = 0, fp = 0, fn = 0, tn = 0;
        var logLoss = default(CompensatedSum);
        var brier = default(CompensatedSum);
        for (var i = 0; i < n; i++)
        {
            var p = scores[i];
            var y = labels[i];
            var predicted = p >= threshold;
            if (y)
            {
                if (predicted)
                {
                    tp++;
                }
                else
                {
                    fn++;
                }
            }
            else if (predicted)
            {
                fp++;
            }
            else
            {
                tn++;
            }

            var clipped = Math.Clamp(p, LogLossEpsilon, 1 - LogLossEpsilon);
            logLoss.Add(-Math.Log(y ? clipped : 1 - clipped));
            var error = p - (y ? 1 : 0);
            brier.Add(error * error);
            var bin = Math.Min((int)(p * bins), bins - 1);
            binScores[bin] += p;
            binCounts[bin]++;
            binPositives[bin] += y ? 1 : 0;
        }

        var calibrationError = 0.0;
        for (var b = 0; b < bins; b++)
        {
            if (binCounts[b] > 0)
            {
                calibrationError += Math.Abs(binScores[b] - binPositives[b]) / n;
            }
        }

        long positives = tp + fn, negatives = fp + tn;
        var issues = BinaryMetricIssues.None;
        if (positives == 0)
        {
            issues |= BinaryMetricIssues.NoPositiveLabels;
        }

        if (negatives == 0)
        {
            issues |= BinaryMetricIssues.NoNegativeLabels;
        }

        if (tp + fp == 0)
        {
            issues |= BinaryMetricIssues.NoPositivePredictions;
        }

        double rocAuc = double.NaN, averagePrecision = double.NaN;
        if (positives > 0 && negatives > 0)
        {
            scores.Sort(labels);
            rocAuc = RocAucOfSorted(scores, labels, positives, negatives);
            averagePrecision = AveragePrecisionOfSorted(scores, labels, positives);
        }

        return new BinaryClassificationMetrics(n, positives, threshold, rocAuc, averagePrecision, logLoss.Value / n, brier.Value / n,
            new ConfusionMatrix(tp, fp, fn, tn), calibrationError, issues);
    }

    // Mann–Whitney U with half credit for ties, counted exactly: each group of equal scores contributes
    // its positives × (negatives below it + half its own negatives); 2U is an integer below n²/2.
    private static double RocAucOfSorted(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels, long positives, long negatives)
    {
        long twiceU = 0, negativesBelow = 0;
        for (var i = 0; i < scores.Length;)
        {
            long groupPositives = 0, groupNegatives = 0;
            var j = i;
            for (; j < scores.Length && scores[j] == scores[i]; j++)
            {
                if (labels[j])
                {
                    groupPositives++;
                }
                else
                {
                    groupNegatives++;
                }
            }

            twiceU += groupPositives * ((2 * negativesBelow) + groupNegatives);
            negativesBelow += groupNegatives;
            i = j;
        }

        return twiceU / (2.0 * positives * negatives);
    }

    // scikit-learn's average_precision_score: from the highest score down, one threshold per distinct
    // score; each threshold adds (its positives / all positives) × the precision at it.
    private static double AveragePrecisionOfSorted(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels, long positives)
    {
        long truePositives = 0, predicted = 0;
        var sum = default(CompensatedSum);
        for (var i = scores.Length - 1; i >= 0;)
        {
            long groupPositives = 0;
            var j = i;
            for (; j >= 0 && scores[j] == scores[i]; j--)
            {
                groupPositives += labels[j] ? 1 : 0;
            }

            truePositives += groupPositives;
            predicted += i - j;
            if (groupPositives > 0)
            {
                sum.Add(groupPositives * ((double)truePositives / predicted));
            }

            i = j;
        }

        return sum.Value / positives;
    }

    private void Grow(int needed)
    {
        var capacity = Math.Max(needed, (int)Math.Min(Array.MaxLength, 2L * _scores.Length));
        Array.Resize(ref _scores, capacity);
        Array.Resize(ref _labels, capacity);
    }

    private static void CheckSettings(double threshold, int calibrationBins)
    {
        if (!double.IsFinite(threshold))
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "the threshold must be a finite number");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(calibrationBins, 1);
    }
}
