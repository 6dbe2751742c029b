using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Performance;

/// <summary>
/// The metrics a performance monitor computes and may alert on, by the names the repository, the history, the
/// alerts and the API use, each with the direction in which it is better.
/// </summary>
public static class PerformanceMetrics
{
    /// <summary>A classifier's metrics: <c>roc_auc</c>, <c>pr_auc</c>, <c>log_loss</c>, <c>brier</c>, <c>precision</c>, <c>recall</c>, <c>f1</c>, <c>accuracy</c>, <c>ece</c>.</summary>
    public static IReadOnlyList<string> Classification { get; } = ["roc_auc", "pr_auc", "log_loss", "brier", "precision", "recall", "f1", "accuracy", "ece"];

    /// <summary>The classifier's metrics that confidence-based estimation also estimates.</summary>
    public static IReadOnlyList<string> Estimated { get; } = ["roc_auc", "precision", "recall", "f1", "accuracy"];

    /// <summary>A regressor's metrics: <c>mae</c>, <c>rmse</c>, <c>mape</c>, <c>r2</c>.</summary>
    public static IReadOnlyList<string> Regression { get; } = ["mae", "rmse", "mape", "r2"];

    /// <summary>The metrics of <paramref name="task"/>.</summary>
    public static IReadOnlyList<string> Of(PerformanceTask task) => task == PerformanceTask.Regression ? Regression : Classification;

    /// <summary>True when a larger value of <paramref name="metric"/> is better (AUCs, precision, recall, F1, accuracy, R²).</summary>
    public static bool HigherIsBetter(string metric) => metric is "roc_auc" or "pr_auc" or "precision" or "recall" or "f1" or "accuracy" or "r2";

    /// <summary>The named metrics of a classifier's window (NaN where undefined).</summary>
    public static Dictionary<string, double> ToDictionary(BinaryClassificationMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        return new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["roc_auc"] = metrics.RocAuc,
            ["pr_auc"] = metrics.AveragePrecision,
            ["log_loss"] = metrics.LogLoss,
            ["brier"] = metrics.Brier,
            ["precision"] = metrics.Precision,
            ["recall"] = metrics.Recall,
            ["f1"] = metrics.F1,
            ["accuracy"] = metrics.Accuracy,
            ["ece"] = metrics.CalibrationError,
        };
    }

    /// <summary>The named metrics of a regressor's window (NaN where undefined).</summary>
    public static Dictionary<string, double> ToDictionary(RegressionMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        return new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["mae"] = metrics.Mae,
            ["rmse"] = metrics.Rmse,
            ["mape"] = metrics.Mape,
            ["r2"] = metrics.R2,
        };
    }

    /// <summary>The named estimates of a classifier's window.</summary>
    public static Dictionary<string, EstimatedMetric> ToDictionary(CbpeEstimate estimate)
    {
        ArgumentNullException.ThrowIfNull(estimate);
        return new Dictionary<string, EstimatedMetric>(StringComparer.Ordinal)
        {
            ["roc_auc"] = estimate.RocAuc,
            ["precision"] = estimate.Precision,
            ["recall"] = estimate.Recall,
            ["f1"] = estimate.F1,
            ["accuracy"] = estimate.Accuracy,
        };
    }

    /// <summary>
    /// Whether <paramref name="value"/> breaks <paramref name="threshold"/> given the reference value
    /// (<paramref name="reference"/>, null when the version has none): below <c>min</c>, above <c>max</c>, or worse
    /// than the reference by more than <c>max_drop</c>. A NaN value breaks nothing (its window has no verdict on it).
    /// Returns the bound it broke, or null.
    /// </summary>
    public static double? Breaks(MetricThreshold threshold, double value, double? reference)
    {
        ArgumentNullException.ThrowIfNull(threshold);
        if (double.IsNaN(value))
        {
            return null;
        }

        if (threshold.Min is { } min && value < min)
        {
            return min;
        }

        if (threshold.Max is { } max && value > max)
        {
            return max;
        }

        if (threshold.MaxDrop is { } drop && reference is { } r && !double.IsNaN(r))
        {
            var bound = HigherIsBetter(threshold.Metric) ? r - drop : r + drop;
            if (HigherIsBetter(threshold.Metric) ? value < bound : value > bound)
            {
                return bound;
            }
        }

        return null;
    }
}
