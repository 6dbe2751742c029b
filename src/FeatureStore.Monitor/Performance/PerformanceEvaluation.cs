using FeatureStore.Core.Definitions;

namespace FeatureStore.Monitor.Performance;

/// <summary>A performance window's verdict.</summary>
public enum PerformanceVerdict
{
    /// <summary>No threshold broken.</summary>
    Ok,

    /// <summary>At least one threshold broken (see <see cref="PerformanceEvaluation.Breaches"/>).</summary>
    Degraded,

    /// <summary>Fewer labelled predictions than the monitor's <c>min_samples</c>: no verdict on the realized metrics.</summary>
    InsufficientData,
}

/// <summary>An estimated metric with its band (the reference's chunk spread), as stored and served.</summary>
/// <param name="Value">The estimate.</param>
/// <param name="Lower">Lower end of the band.</param>
/// <param name="Upper">Upper end of the band.</param>
public sealed record EstimatedValue(double Value, double Lower, double Upper);

/// <summary>One threshold a window broke.</summary>
/// <param name="Metric">The metric.</param>
/// <param name="Kind"><c>realized</c> or <c>estimated</c>.</param>
/// <param name="Value">Its value on the window.</param>
/// <param name="Bound">The bound it crossed (absolute, or the reference less the allowed drop).</param>
public sealed record MetricBreach(string Metric, string Kind, double Value, double Bound);

/// <summary>
/// One closed performance window of one model version (and segment): an entry of the performance history,
/// at <c>PREFIX:{PROJECT}:drift:performance:MODEL:VERSION</c> (sorted set scored by window end).
/// </summary>
/// <param name="Model">The model.</param>
/// <param name="Version">The model version.</param>
/// <param name="Segment">The segment's value (<c>other</c> for the rest), or null for the whole window.</param>
/// <param name="Task">What the model predicts.</param>
/// <param name="WindowStartMs">First instant of the window of prediction time (epoch ms).</param>
/// <param name="WindowEndMs">End of the window (exclusive).</param>
/// <param name="Predictions">Predictions logged in the window.</param>
/// <param name="Labelled">Of them, joined to a label.</param>
/// <param name="ClosedBy"><c>horizon</c> (the labels' horizon passed its end) or <c>coverage</c> (the labelled share reached the declared coverage).</param>
/// <param name="Verdict">ok, degraded or insufficient_data.</param>
/// <param name="MinSamples">The monitor's <c>min_samples</c>.</param>
/// <param name="Realized">Metric → value on the labelled predictions (NaN where undefined, e.g. one class only).</param>
/// <param name="Estimated">A classifier's estimates from all the window's scores, or null.</param>
/// <param name="Reference">The version's reference metrics, or null when none is stored.</param>
/// <param name="Breaches">The thresholds broken.</param>
/// <param name="Reason">Why metrics are undefined, or null.</param>
public sealed record PerformanceEvaluation(
    string Model,
    string Version,
    string? Segment,
    PerformanceTask Task,
    long WindowStartMs,
    long WindowEndMs,
    long Predictions,
    long Labelled,
    string ClosedBy,
    PerformanceVerdict Verdict,
    int MinSamples,
    IReadOnlyDictionary<string, double> Realized,
    IReadOnlyDictionary<string, EstimatedValue>? Estimated,
    IReadOnlyDictionary<string, double>? Reference,
    IReadOnlyList<MetricBreach> Breaches,
    string? Reason = null)
{
    /// <summary>The labelled share of the window's predictions.</summary>
    public double Coverage => Predictions == 0 ? 0 : (double)Labelled / Predictions;
}

/// <summary>
/// How a model's labels fared in the join (<c>PREFIX:{PROJECT}:drift:labels:MODEL</c>, a hash of counters).
/// </summary>
/// <param name="Joined">Labels joined to their prediction.</param>
/// <param name="Duplicate">Labels for a prediction already labelled (counted once, not joined again).</param>
/// <param name="Late">Labels that arrived after the horizon, or for a window already closed.</param>
/// <param name="Unmatched">Labels whose prediction never arrived within the horizon.</param>
/// <param name="Pending">Labels waiting for their prediction (it may still arrive).</param>
public sealed record LabelCounts(long Joined, long Duplicate, long Late, long Unmatched, long Pending);
