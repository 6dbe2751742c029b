using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;

namespace FeatureStore.Monitor.Baselines;

/// <summary>One column's window evaluated against its baseline: one entry of the drift history.</summary>
/// <param name="Model">The model.</param>
/// <param name="Version">The model version.</param>
/// <param name="Column">The monitored column.</param>
/// <param name="BaselineId">The baseline compared against.</param>
/// <param name="WindowStartMs">First instant of the window (epoch ms; for count windows, the first value's event time).</param>
/// <param name="WindowEndMs">End of the window (exclusive for time windows; the last value's event time for count windows).</param>
/// <param name="Count">Values in the window.</param>
/// <param name="Results">One result per method.</param>
/// <param name="Drifted">True when any method drifted.</param>
public sealed record DriftEvaluation(string Model, string Version, string Column, string BaselineId, long WindowStartMs, long WindowEndMs, long Count, IReadOnlyList<DriftResult> Results, bool Drifted)
{
    /// <summary>Evaluates <paramref name="window"/> with every method of <paramref name="monitor"/>.</summary>
    public static DriftEvaluation Of(ModelBaseline baseline, MonitorDefinition monitor, ColumnBaseline column, DriftWindow window, long startMs, long endMs, bool useLearned)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(monitor);
        ArgumentNullException.ThrowIfNull(window);
        var results = new List<DriftResult>();
        foreach (var method in monitor.Methods)
        {
            if (window.Evaluate(DriftDefaults.Parse(method.Name), MonitorColumns.Threshold(method, column, useLearned)) is { } result)
            {
                results.Add(result);
            }
        }

        return new DriftEvaluation(baseline.Model, baseline.Version, monitor.Column, baseline.Id, startMs, endMs, window.Count, results, results.Any(r => r.Drifted));
    }
}

/// <summary>A model version's drift over one data set or at one moment: every column, and the share that drifted.</summary>
/// <param name="Model">The model.</param>
/// <param name="Version">The model version.</param>
/// <param name="BaselineId">The baseline compared against.</param>
/// <param name="Columns">The latest evaluation of each column.</param>
/// <param name="DriftedShare">Share of the columns that drifted.</param>
/// <param name="Threshold">Share at which the version counts as drifted.</param>
/// <param name="Drifted">The version's verdict.</param>
public sealed record DriftSummary(string Model, string Version, string BaselineId, IReadOnlyList<DriftEvaluation> Columns, double DriftedShare, double Threshold, bool Drifted)
{
    /// <summary>The summary of <paramref name="columns"/>.</summary>
    public static DriftSummary Of(ModelBaseline baseline, IReadOnlyList<DriftEvaluation> columns, double threshold = DriftDefaults.DriftedColumnShare)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(columns);
        var share = columns.Count == 0 ? 0 : (double)columns.Count(c => c.Drifted) / columns.Count;
        return new DriftSummary(baseline.Model, baseline.Version, baseline.Id, columns, share, threshold, columns.Count > 0 && share >= threshold);
    }
}
