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
/// <param name="Count">Values in the window that the methods use (finite ones for a numeric column).</param>
/// <param name="Results">One result per method (none when the window has insufficient data).</param>
/// <param name="Drifted">True when any method drifted.</param>
/// <param name="Verdict">no_drift, drifted, or insufficient_data (fewer than <paramref name="MinSamples"/> values: no method judged).</param>
/// <param name="MinSamples">The monitor's <c>min_samples</c>.</param>
/// <param name="NonFinite">A numeric column's NaN and infinite values in the window, counted and left out of <paramref name="Count"/>.</param>
/// <param name="ReferenceSize">Values of the training reference that KS and Wasserstein compare with (numeric columns).</param>
/// <param name="ReferenceSampled">True when that reference is a sample of the training column, not all of it.</param>
/// <param name="Segment">The segment value of a <c>segment_by</c> monitor's window (<c>other</c> and <c>(missing)</c> included), or null for the whole column (entries written before segments read as null).</param>
public sealed record DriftEvaluation(
    string Model,
    string Version,
    string Column,
    string BaselineId,
    long WindowStartMs,
    long WindowEndMs,
    long Count,
    IReadOnlyList<DriftResult> Results,
    bool Drifted,
    DriftVerdict Verdict = DriftVerdict.NoDrift,
    long MinSamples = 0,
    NonFiniteCounts? NonFinite = null,
    long? ReferenceSize = null,
    bool? ReferenceSampled = null,
    string? Segment = null)
{
    /// <summary>Evaluates <paramref name="window"/> with every method of <paramref name="monitor"/>, or none when it holds fewer than its <c>min_samples</c>.</summary>
    public static DriftEvaluation Of(ModelBaseline baseline, MonitorDefinition monitor, ColumnBaseline column, DriftWindow window, long startMs, long endMs, bool useLearned)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(monitor);
        ArgumentNullException.ThrowIfNull(window);
        var numeric = window as NumericWindow;
        var results = new List<DriftResult>();
        var verdict = DriftVerdict.InsufficientData;
        if (window.Count >= monitor.MinSamples)
        {
            foreach (var method in monitor.Methods)
            {
                if (window.Evaluate(DriftDefaults.Parse(method.Name), MonitorColumns.Threshold(method, column, useLearned)) is { } result)
                {
                    results.Add(result);
                }
            }

            verdict = results.Any(r => r.Drifted) ? DriftVerdict.Drifted : DriftVerdict.NoDrift;
        }

        return new DriftEvaluation(baseline.Model, baseline.Version, monitor.Column, baseline.Id, startMs, endMs, window.Count, results, verdict == DriftVerdict.Drifted,
            verdict, monitor.MinSamples, numeric?.NonFinite, numeric?.ReferenceSize, numeric?.ReferenceSampled);
    }
}

/// <summary>A model version's drift over one data set or at one moment: every column, and the share that drifted.</summary>
/// <param name="Model">The model.</param>
/// <param name="Version">The model version.</param>
/// <param name="BaselineId">The baseline compared against.</param>
/// <param name="Columns">The latest evaluation of each column.</param>
/// <param name="DriftedShare">Share of the columns that drifted (a column with insufficient data counts as not drifted).</param>
/// <param name="Threshold">Share at which the version counts as drifted.</param>
/// <param name="Drifted">The version's verdict.</param>
/// <param name="Verdict">drifted, no_drift, or insufficient_data when no column had enough values.</param>
public sealed record DriftSummary(string Model, string Version, string BaselineId, IReadOnlyList<DriftEvaluation> Columns, double DriftedShare, double Threshold, bool Drifted, DriftVerdict Verdict)
{
    /// <summary>The summary of <paramref name="columns"/>.</summary>
    public static DriftSummary Of(ModelBaseline baseline, IReadOnlyList<DriftEvaluation> columns, double threshold = DriftDefaults.DriftedColumnShare)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(columns);
        var share = columns.Count == 0 ? 0 : (double)columns.Count(c => c.Drifted) / columns.Count;
        var drifted = columns.Count > 0 && share >= threshold;
        var verdict = drifted ? DriftVerdict.Drifted
            : columns.Count > 0 && columns.All(c => c.Verdict == DriftVerdict.InsufficientData) ? DriftVerdict.InsufficientData
            : DriftVerdict.NoDrift;
        return new DriftSummary(baseline.Model, baseline.Version, baseline.Id, columns, share, threshold, drifted, verdict);
    }
}
