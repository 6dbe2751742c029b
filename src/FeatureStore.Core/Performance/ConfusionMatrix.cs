namespace FeatureStore.Core.Performance;

/// <summary>
/// The four cells of a binary confusion matrix at one decision threshold (a score at or above it is a
/// positive prediction). Realized matrices hold counts; the expected matrix of confidence-based estimation
/// holds sums of probabilities, hence <see cref="double"/> cells.
/// </summary>
/// <remarks>
/// A ratio whose denominator is 0 is 0, as scikit-learn's default <c>zero_division="warn"</c> (which returns
/// 0 and warns): precision without positive predictions, recall without positive labels, F1 when there are
/// neither. <see cref="BinaryClassificationMetrics.Issues"/> says when that happened, so a monitor can tell
/// "no positives predicted" from "every positive prediction wrong".
/// </remarks>
/// <param name="TruePositives">Positive predictions whose label is positive.</param>
/// <param name="FalsePositives">Positive predictions whose label is negative.</param>
/// <param name="FalseNegatives">Negative predictions whose label is positive.</param>
/// <param name="TrueNegatives">Negative predictions whose label is negative.</param>
public readonly record struct ConfusionMatrix(double TruePositives, double FalsePositives, double FalseNegatives, double TrueNegatives)
{
    /// <summary>All four cells.</summary>
    public double Total => TruePositives + FalsePositives + FalseNegatives + TrueNegatives;

    /// <summary>TP / (TP + FP); 0 without positive predictions.</summary>
    public double Precision() => Ratio(TruePositives, TruePositives + FalsePositives);

    /// <summary>TP / (TP + FN); 0 without positive labels.</summary>
    public double Recall() => Ratio(TruePositives, TruePositives + FalseNegatives);

    /// <summary>2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall; 0 when TP + FP + FN = 0.</summary>
    public double F1() => Ratio(2 * TruePositives, (2 * TruePositives) + FalsePositives + FalseNegatives);

    /// <summary>(TP + TN) / total; NaN for an empty matrix.</summary>
    public double Accuracy() => Total > 0 ? (TruePositives + TrueNegatives) / Total : double.NaN;

    private static double Ratio(double numerator, double denominator) => denominator > 0 ? numerator / denominator : 0;
}
