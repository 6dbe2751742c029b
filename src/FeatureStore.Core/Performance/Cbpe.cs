// Confidence-based performance estimation (CBPE), the method of NannyML's CBPE for binary classifiers:
// calibrate the scores on a labelled reference, then treat each calibrated score p as the probability
// that the prediction's label is positive. The confusion matrix a window is expected to have, and from it
// precision, recall, F1 and accuracy, follow without a single label; ROC AUC follows from the ranking of
// the scores with each prediction counted p positive and 1 − p negative. It holds only while
// p(label | score) stays what the reference showed (no concept drift); docs/performance.md.
using System.Buffers;

namespace FeatureStore.Core.Performance;

/// <summary>How <see cref="CbpeReference.Fit"/> calibrates the scores.</summary>
public enum CalibrationMode
{
    /// <summary>Isotonic when it lowers the calibration error in cross-validation on the reference (NannyML's rule), otherwise none.</summary>
    Auto,

    /// <summary>Always isotonic.</summary>
    Isotonic,

    /// <summary>None: the scores are taken as probabilities.</summary>
    None,
}

/// <summary>An estimated metric and its band, <see cref="Value"/> ± 3σ clipped to [0, 1].</summary>
/// <param name="Value">The estimate.</param>
/// <param name="Lower">The band's lower end (NaN without a learned σ).</param>
/// <param name="Upper">The band's upper end (NaN without a learned σ).</param>
public readonly record struct EstimatedMetric(double Value, double Lower, double Upper)
{
    /// <summary>True when <paramref name="realized"/> lies in the band (ends included).</summary>
    public bool Contains(double realized) => realized >= Lower && realized <= Upper;

    internal static EstimatedMetric Of(double value, double sigma) =>
        new(value, Math.Max(0, value - (CbpeReference.BandWidth * sigma)), Math.Min(1, value + (CbpeReference.BandWidth * sigma)));
}

/// <summary>
/// The spread (sample standard deviation) of each realized metric over the reference's chunks: the band's σ.
/// The realized metric's, not the estimate's: the band must hold the chance of which predictions turn out
/// positive, which the estimate, a function of the scores alone, does not see (measured in docs/performance.md:
/// the estimate's spread is about a third of it). NaN for a metric fewer than two chunks define (ROC AUC of
/// chunks with one class only); to store such a value as JSON, allow named floating-point literals.
/// </summary>
/// <param name="RocAuc">ROC AUC.</param>
/// <param name="Precision">Precision at the threshold.</param>
/// <param name="Recall">Recall at the threshold.</param>
/// <param name="F1">F1 at the threshold.</param>
/// <param name="Accuracy">Accuracy at the threshold.</param>
public sealed record CbpeSpread(double RocAuc, double Precision, double Recall, double F1, double Accuracy);

/// <summary>The estimated performance of one window of unlabelled predictions.</summary>
/// <param name="Count">Predictions in the window.</param>
/// <param name="ExpectedConfusion">E[TP] = Σ_{ŷ=1} pᵢ, E[FP] = Σ_{ŷ=1} (1 − pᵢ), E[FN] = Σ_{ŷ=0} pᵢ, E[TN] = Σ_{ŷ=0} (1 − pᵢ).</param>
/// <param name="RocAuc">Estimated ROC AUC (NaN when the window is empty or every pᵢ is 0, or every pᵢ is 1).</param>
/// <param name="Precision">Estimated precision.</param>
/// <param name="Recall">Estimated recall.</param>
/// <param name="F1">Estimated F1.</param>
/// <param name="Accuracy">Estimated accuracy.</param>
public sealed record CbpeEstimate(long Count, ConfusionMatrix ExpectedConfusion, EstimatedMetric RocAuc, EstimatedMetric Precision, EstimatedMetric Recall, EstimatedMetric F1, EstimatedMetric Accuracy);

/// <summary>
/// What CBPE keeps of a model version's labelled reference: the calibration, the decision threshold, the
/// window size the bands were learned for, and the spread of each metric over reference chunks of that
/// size. Small and serializable, to be stored with the version's baseline.
/// </summary>
/// <param name="Calibration">Maps raw scores to probabilities (the identity when the scores are calibrated already).</param>
/// <param name="Threshold">The model's decision threshold on raw scores (ŷ = 1 when score ≥ threshold).</param>
/// <param name="ChunkSize">Predictions per reference chunk: the monitor's window size.</param>
/// <param name="Chunks">Whole reference chunks the spreads come from.</param>
/// <param name="Spread">The band's σ per metric; null with fewer than two whole chunks (estimates then have no band).</param>
public sealed record CbpeReference(IsotonicCalibration Calibration, double Threshold, int ChunkSize, int Chunks, CbpeSpread? Spread)
{
    /// <summary>The band is the estimate ± this many σ (NannyML's <c>SAMPLING_ERROR_RANGE</c>).</summary>
    public const double BandWidth = 3;

    /// <summary>
    /// Learns CBPE's reference from labelled predictions, in the order they were made: the calibration (as
    /// <paramref name="mode"/> says) on all of them, then the spread of each metric over consecutive chunks of
    /// <paramref name="chunkSize"/> (a trailing partial chunk is left out).
    /// </summary>
    /// <exception cref="ArgumentException">No finite score to calibrate on, or not one label per score.</exception>
    public static CbpeReference Fit(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels, int chunkSize, double threshold = BinaryClassificationWindow.DefaultThreshold, CalibrationMode mode = CalibrationMode.Auto)
    {
        if (scores.Length != labels.Length)
        {
            throw new ArgumentException("there must be one label per score", nameof(labels));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        if (!double.IsFinite(threshold))
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "the threshold must be a finite number");
        }

        var calibrate = mode switch
        {
            CalibrationMode.Isotonic => true,
            CalibrationMode.None => false,
            _ => CalibrationCheck.Improves(scores, labels),
        };
        var calibration = calibrate ? IsotonicCalibration.Fit(scores, labels) : IsotonicCalibration.Identity;
        var chunks = scores.Length / chunkSize;
        if (chunks < 2)
        {
            return new CbpeReference(calibration, threshold, chunkSize, chunks, null);
        }

        var realized = new BinaryClassificationWindow(threshold);
        var auc = new double[chunks];
        var precision = new double[chunks];
        var recall = new double[chunks];
        var f1 = new double[chunks];
        var accuracy = new double[chunks];
        for (var c = 0; c < chunks; c++)
        {
            realized.Reset();
            var start = c * chunkSize;
            for (var i = start; i < start + chunkSize; i++)
            {
                realized.Add(scores[i], labels[i]);
            }

            var metrics = realized.Compute();
            auc[c] = metrics.RocAuc;
            precision[c] = metrics.Precision;
            recall[c] = metrics.Recall;
            f1[c] = metrics.F1;
            accuracy[c] = metrics.Accuracy;
        }

        return new CbpeReference(calibration, threshold, chunkSize, chunks,
            new CbpeSpread(StdDev(auc), StdDev(precision), StdDev(recall), StdDev(f1), StdDev(accuracy)));
    }

    // Sample standard deviation of the defined values (a chunk with one class has no AUC).
    private static double StdDev(double[] values)
    {
        double mean = 0, squares = 0;
        var n = 0;
        foreach (var v in values)
        {
            if (!double.IsNaN(v))
            {
                n++;
                var delta = v - mean;
                mean += delta / n;
                squares += delta * (v - mean);
            }
        }

        return n >= 2 ? Math.Sqrt(squares / (n - 1)) : double.NaN;
    }
}

/// <summary>
/// One window of unlabelled predictions, estimated with a <see cref="CbpeReference"/>. Keeps the raw
/// scores (8 bytes each, arrays reused after <see cref="Reset"/>), as the AUC estimate needs their order.
/// A score that is NaN or infinite is counted in <see cref="Rejected"/> and left out.
/// </summary>
/// <param name="reference">The model version's reference.</param>
public sealed class CbpeWindow(CbpeReference reference)
{
    private readonly CbpeReference _reference = reference ?? throw new ArgumentNullException(nameof(reference));
    private double[] _scores = new double[256];
    private int _count;

    /// <summary>Predictions added since the last <see cref="Reset"/>.</summary>
    public int Count => _count;

    /// <summary>Predictions left out since the last <see cref="Reset"/> (NaN or infinite score).</summary>
    public long Rejected { get; private set; }

    /// <summary>Bytes the window's array takes.</summary>
    public long MemoryBytes => (long)_scores.Length * sizeof(double);

    /// <summary>Adds one prediction's raw score.</summary>
    public void Add(double score)
    {
        if (!double.IsFinite(score))
        {
            Rejected++;
            return;
        }

        if (_count == _scores.Length)
        {
            Array.Resize(ref _scores, (int)Math.Min(Array.MaxLength, 2L * _scores.Length));
        }

        _scores[_count++] = score;
    }

    /// <summary>Adds every prediction of <paramref name="other"/>.</summary>
    public void Merge(CbpeWindow other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (_count + other._count > _scores.Length)
        {
            Array.Resize(ref _scores, Math.Max(_count + other._count, (int)Math.Min(Array.MaxLength, 2L * _scores.Length)));
        }

        Array.Copy(other._scores, 0, _scores, _count, other._count);
        _count += other._count;
        Rejected += other.Rejected;
    }

    /// <summary>Forgets every prediction, keeping the array.</summary>
    public void Reset()
    {
        _count = 0;
        Rejected = 0;
    }

    /// <summary>The estimate of the predictions so far (sorts them in place).</summary>
    public CbpeEstimate Compute() => Estimate(_scores.AsSpan(0, _count), _reference);

    /// <summary>The estimate of <paramref name="scores"/> (raw; NaN and infinities left out).</summary>
    public static CbpeEstimate Of(ReadOnlySpan<double> scores, CbpeReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var buffer = ArrayPool<double>.Shared.Rent(scores.Length);
        try
        {
            var n = 0;
            foreach (var s in scores)
            {
                if (double.IsFinite(s))
                {
                    buffer[n++] = s;
                }
            }

            return Estimate(buffer.AsSpan(0, n), reference);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(buffer);
        }
    }

    private static CbpeEstimate Estimate(Span<double> scores, CbpeReference reference)
    {
        var (confusion, rocAuc) = ExpectedConfusionAndAuc(scores, reference.Calibration, reference.Threshold);
        var spread = reference.Spread;
        return new CbpeEstimate(
            scores.Length,
            confusion,
            EstimatedMetric.Of(rocAuc, spread?.RocAuc ?? double.NaN),
            EstimatedMetric.Of(confusion.Precision(), spread?.Precision ?? double.NaN),
            EstimatedMetric.Of(confusion.Recall(), spread?.Recall ?? double.NaN),
            EstimatedMetric.Of(confusion.F1(), spread?.F1 ?? double.NaN),
            EstimatedMetric.Of(confusion.Accuracy(), spread?.Accuracy ?? double.NaN));
    }

    /// <summary>
    /// The expected confusion matrix and the estimated ROC AUC of raw <paramref name="scores"/> (sorted in place).
    /// </summary>
    /// <remarks>
    /// The AUC is NannyML's <c>estimate_roc_auc</c> (nannyml/performance_estimation/confidence_based/metrics.py):
    /// the predictions ranked by raw score from the highest, the ROC curve's points at
    /// (Σ(1 − pᵢ) / Σ(1 − p), Σpᵢ / Σp) over the first k of them, and the area under it by trapezoids. That is
    /// the Mann–Whitney statistic with each prediction counted pᵢ a positive and 1 − pᵢ a negative:
    /// Σ over pairs i ranked above j of pᵢ·(1 − pⱼ), ties counting one half, divided by Σp · Σ(1 − p). Predictions
    /// with equal raw scores have equal pᵢ, so their points lie on one line and taking them as one group
    /// changes nothing but the order NannyML's unstable sort would pick. NannyML rounds its cumulative sums to
    /// 5 decimals before dividing; this does not (the difference is below 1e-5).
    /// </remarks>
    internal static (ConfusionMatrix Confusion, double RocAuc) ExpectedConfusionAndAuc(Span<double> scores, IsotonicCalibration calibration, double threshold)
    {
        scores.Sort();
        CompensatedSum tp = default, fp = default, fn = default, tn = default;

        // Ascending: U = Σ_groups a_g·(B_below + b_g / 2), a = Σp, b = Σ(1 − p) of the group.
        CompensatedSum u = default, negativesBelow = default;
        for (var i = 0; i < scores.Length;)
        {
            var score = scores[i];
            var j = i + 1;
            while (j < scores.Length && scores[j] == score)
            {
                j++;
            }

            var p = calibration.Apply(score);
            var positives = p * (j - i);
            var negatives = (1 - p) * (j - i);
            if (score >= threshold)
            {
                tp.Add(positives);
                fp.Add(negatives);
            }
            else
            {
                fn.Add(positives);
                tn.Add(negatives);
            }

            u.Add(positives * (negativesBelow.Value + (negatives / 2)));
            negativesBelow.Add(negatives);
            i = j;
        }

        var confusion = new ConfusionMatrix(tp.Value, fp.Value, fn.Value, tn.Value);
        var allPositives = confusion.TruePositives + confusion.FalseNegatives;
        var allNegatives = confusion.FalsePositives + confusion.TrueNegatives;
        var rocAuc = allPositives > 0 && allNegatives > 0 ? u.Value / (allPositives * allNegatives) : double.NaN;
        return (confusion, rocAuc);
    }
}
