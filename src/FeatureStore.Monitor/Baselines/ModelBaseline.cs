using FeatureStore.Core.Drift;

namespace FeatureStore.Monitor.Baselines;

/// <summary>
/// The training distribution of every monitored column of one model version, computed once and stored in
/// the online store, so monitoring needs no raw training data.
/// </summary>
/// <param name="Id">A content hash: <c>MODEL@VERSION#HEX</c>; alerts and history name it.</param>
/// <param name="Model">The model.</param>
/// <param name="Version">The model version.</param>
/// <param name="CreatedAtMs">When it was computed (epoch ms).</param>
/// <param name="Source">The file it was computed from.</param>
/// <param name="Columns">Per monitored column (as written in the monitor: a prediction field or <c>view:feature</c>).</param>
public sealed record ModelBaseline(string Id, string Model, string Version, long CreatedAtMs, string Source, IReadOnlyDictionary<string, ColumnBaseline> Columns);

/// <summary>One column's baseline: numeric or categorical, and the thresholds learned from the training data.</summary>
/// <param name="Column">The monitored column.</param>
/// <param name="Numeric">Bins, shares and reference sample of a numeric column.</param>
/// <param name="Categorical">Category shares of a text or boolean column.</param>
/// <param name="LearnedThresholds">Method name → mean + 3σ of the method over training chunks of the monitor's window size.</param>
public sealed record ColumnBaseline(string Column, NumericBaseline? Numeric, CategoricalBaseline? Categorical, IReadOnlyDictionary<string, double> LearnedThresholds)
{
    /// <summary>A fresh, empty window against this baseline.</summary>
    public DriftWindow NewWindow() => Numeric is not null ? new NumericWindow(Numeric) : new CategoricalWindow(Categorical!);
}
