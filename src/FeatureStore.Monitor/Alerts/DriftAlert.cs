using System.Text.Json.Serialization;

namespace FeatureStore.Monitor.Alerts;

/// <summary>What an alert reports: a drift incident opening, or clearing.</summary>
public enum AlertStatus
{
    /// <summary>A method crossed its threshold on a column.</summary>
    Drift,

    /// <summary>The column is back under the threshold.</summary>
    Resolved,

    /// <summary>A model version drifted for the configured number of consecutive windows: retrain it.</summary>
    Retrain,

    /// <summary>A performance window broke a metric threshold (realized or estimated).</summary>
    Performance,

    /// <summary>The degradation policy archived the production version and made the previous one production again.</summary>
    Rollback,

    /// <summary>A feature view's newest applied event is older than its freshness objective.</summary>
    Freshness,

    /// <summary>A served-value rate of a view's feature, or a source's dead-letter rate, is over its threshold.</summary>
    Quality,
}

/// <summary>
/// The JSON document POSTed to a webhook (DESIGN.md §7). <see cref="Id"/> is also the
/// <c>Idempotency-Key</c> header, so a receiver can drop the copies a retry may deliver.
/// </summary>
/// <param name="Id">Unique per alert: <c>INCIDENT:drift</c> or <c>INCIDENT:resolved</c>.</param>
/// <param name="Status">Drift or resolved.</param>
/// <param name="Model">The model.</param>
/// <param name="Version">The model version.</param>
/// <param name="Column">The monitored column.</param>
/// <param name="Method">The drift method.</param>
/// <param name="Value">The method's value on the window (a p-value for ks and chi2).</param>
/// <param name="Threshold">Its threshold.</param>
/// <param name="WindowStart">Window start, RFC 3339.</param>
/// <param name="WindowEnd">Window end, RFC 3339.</param>
/// <param name="BaselineId">The baseline compared against.</param>
/// <param name="History">Link to the model version's drift history.</param>
/// <param name="Webhook">The webhook it goes to.</param>
/// <param name="CreatedAtMs">When the monitor raised it (epoch ms).</param>
/// <param name="Segment">The segment value of a <c>segment_by</c> monitor's window, or null for the whole column (and for retrain alerts).</param>
/// <param name="Restored">A rollback's restored production version (left out of the JSON of other alerts).</param>
/// <param name="Kind">For freshness and quality alerts (and their <c>resolved</c>): <c>freshness</c> or <c>quality</c>; null for the model alerts.</param>
/// <param name="View">The feature view of a freshness or served-value alert.</param>
/// <param name="Source">The source of a dead-letter rate alert.</param>
/// <param name="Feature">The feature of a served-value rate alert.</param>
/// <param name="Reason">The dead-letter reason of a dead-letter rate alert.</param>
/// <param name="Metric">The checked metric of a freshness or quality alert (docs/quality.md).</param>
/// <param name="WindowMs">The window of a rate; the objective of a freshness alert.</param>
public sealed record DriftAlert(
    string Id,
    AlertStatus Status,
    string Model,
    string Version,
    string Column,
    string Method,
    double Value,
    double Threshold,
    string WindowStart,
    string WindowEnd,
    string BaselineId,
    string History,
    string Webhook,
    long CreatedAtMs,
    string? Segment = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Restored = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Kind = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? View = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Source = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Feature = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Reason = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Metric = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? WindowMs = null);
