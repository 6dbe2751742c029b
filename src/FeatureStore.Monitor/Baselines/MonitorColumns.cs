using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;

namespace FeatureStore.Monitor.Baselines;

/// <summary>How monitored columns are named in tables and events, and which threshold a method uses.</summary>
public static class MonitorColumns
{
    /// <summary>
    /// The column's name in a training export and in prediction events: <c>view__feature</c> for a
    /// <c>view:feature</c> reference (the export's naming), the field's own name otherwise.
    /// </summary>
    public static string TableName(string column) => column.Replace(":", "__", StringComparison.Ordinal);

    /// <summary>
    /// The threshold of <paramref name="method"/>: as written in the monitor, else the one learned from
    /// the training data when the monitor asks for it (<c>threshold: learned</c>, or
    /// <paramref name="useLearned"/> for every method without a threshold), else the method's default.
    /// </summary>
    public static double Threshold(MonitorMethod method, ColumnBaseline? baseline, bool useLearned)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.Threshold is { } written)
        {
            return written;
        }

        if ((useLearned || method.Learned) && baseline is not null && baseline.LearnedThresholds.TryGetValue(method.Name, out var learned))
        {
            return learned;
        }

        return DriftDefaults.Threshold(DriftDefaults.Parse(method.Name));
    }
}
