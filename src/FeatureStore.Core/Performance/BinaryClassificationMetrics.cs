namespace FeatureStore.Core.Performance;

/// <summary>Why some metrics of a window are undefined or fell back to 0 (docs/performance.md).</summary>
[Flags]
public enum BinaryMetricIssues
{
    /// <summary>Every metric is defined.</summary>
    None = 0,

    /// <summary>No pairs: every metric is NaN.</summary>
    Empty = 1,

    /// <summary>No positive label: ROC AUC and PR AUC are NaN, recall is 0.</summary>
    NoPositiveLabels = 2,

    /// <summary>No negative label: ROC AUC and PR AUC are NaN.</summary>
    NoNegativeLabels = 4,

    /// <summary>No score at or above the threshold: precision is 0 (scikit-learn's <c>zero_division</c> default).</summary>
    NoPositivePredictions = 8,
}

/// <summary>
/// The realized performance of a binary classifier over one window of (score, label) pairs. Definitions
/// (each as scikit-learn computes it unless said otherwise; docs/performance.md):
/// <list type="bullet">
/// <item><see cref="RocAuc"/>: the Mann–Whitney statistic, the share of (positive, negative) pairs the positive
/// scores above, a tie counting one half; scikit-learn's <c>roc_auc_score</c>.</item>
/// <item><see cref="AveragePrecision"/> (PR AUC): Σₖ (Rₖ − Rₖ₋₁)·Pₖ over the distinct scores from the highest
/// down, tied scores one threshold; <c>average_precision_score</c>.</item>
/// <item><see cref="LogLoss"/>: −mean(y·ln p + (1 − y)·ln(1 − p)), p clipped to
/// [<see cref="BinaryClassificationWindow.LogLossEpsilon"/>, 1 − that].</item>
/// <item><see cref="Brier"/>: mean((p − y)²).</item>
/// <item><see cref="Confusion"/> and the ratios at <see cref="Threshold"/> (score ≥ threshold is positive).</item>
/// <item><see cref="CalibrationError"/>: expected calibration error over equal-width score bins, Σ_b (n_b / n)·|mean
/// score_b − positive share_b|.</item>
/// </list>
/// </summary>
/// <param name="Count">Pairs in the window.</param>
/// <param name="Positives">Pairs whose label is positive.</param>
/// <param name="Threshold">The decision threshold of <see cref="Confusion"/>.</param>
/// <param name="RocAuc">Area under the ROC curve; NaN with one class only.</param>
/// <param name="AveragePrecision">Area under the precision–recall curve as average precision; NaN with one class only.</param>
/// <param name="LogLoss">Mean cross-entropy.</param>
/// <param name="Brier">Mean squared error of the scores.</param>
/// <param name="Confusion">Counts at <see cref="Threshold"/>.</param>
/// <param name="CalibrationError">Expected calibration error.</param>
/// <param name="Issues">Which metrics are undefined (NaN) or 0 by convention, and why.</param>
public sealed record BinaryClassificationMetrics(
    long Count,
    long Positives,
    double Threshold,
    double RocAuc,
    double AveragePrecision,
    double LogLoss,
    double Brier,
    ConfusionMatrix Confusion,
    double CalibrationError,
    BinaryMetricIssues Issues)
{
    /// <summary>Precision at <see cref="Threshold"/> (0 without positive predictions).</summary>
    public double Precision => Confusion.Precision();

    /// <summary>Recall at <see cref="Threshold"/> (0 without positive labels).</summary>
    public double Recall => Confusion.Recall();

    /// <summary>F1 at <see cref="Threshold"/>.</summary>
    public double F1 => Confusion.F1();

    /// <summary>Accuracy at <see cref="Threshold"/>.</summary>
    public double Accuracy => Confusion.Accuracy();

    /// <summary>A sentence saying why metrics are undefined or 0, or null when <see cref="Issues"/> is <see cref="BinaryMetricIssues.None"/>.</summary>
    public string? Reason() => Describe(Issues);

    internal static string? Describe(BinaryMetricIssues issues)
    {
        if (issues == BinaryMetricIssues.None)
        {
            return null;
        }

        if (issues.HasFlag(BinaryMetricIssues.Empty))
        {
            return "empty window: every metric is undefined";
        }

        var parts = new List<string>(2);
        if (issues.HasFlag(BinaryMetricIssues.NoPositiveLabels))
        {
            parts.Add("no positive label: ROC AUC and PR AUC are undefined, recall is 0");
        }

        if (issues.HasFlag(BinaryMetricIssues.NoNegativeLabels))
        {
            parts.Add("no negative label: ROC AUC and PR AUC are undefined");
        }

        if (issues.HasFlag(BinaryMetricIssues.NoPositivePredictions))
        {
            parts.Add("no score at or above the threshold: precision is 0");
        }

        return string.Join("; ", parts);
    }
}
