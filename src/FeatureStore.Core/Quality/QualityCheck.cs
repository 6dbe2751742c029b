using System.Text.Json.Serialization;

namespace FeatureStore.Core.Quality;

/// <summary>What became of one check on one evaluation (in JSON: <c>ok</c>, <c>breach</c>, <c>insufficient_data</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<QualityVerdict>))]
public enum QualityVerdict
{
    /// <summary>Within its objective or threshold.</summary>
    [JsonStringEnumMemberName("ok")]
    Ok,

    /// <summary>Over its objective or threshold: an incident opens.</summary>
    [JsonStringEnumMemberName("breach")]
    Breach,

    /// <summary>Too few values (or no applied event yet) to judge: an incident stays as it is.</summary>
    [JsonStringEnumMemberName("insufficient_data")]
    InsufficientData,
}

/// <summary>
/// One check of an evaluation (docs/quality.md): a view's freshness, a feature's served-value rate, or a source's
/// dead-letter rate for one reason.
/// </summary>
/// <param name="Kind"><c>freshness</c> or <c>quality</c>.</param>
/// <param name="View">The view checked, or null for a source.</param>
/// <param name="Source">The source checked, or null for a view.</param>
/// <param name="Feature">The feature of a served-value rate, else null.</param>
/// <param name="Reason">The dead-letter reason of a source's rate, else null.</param>
/// <param name="Metric"><c>age_seconds</c>, <c>not_found_rate</c>, <c>outside_ttl_rate</c>, <c>null_rate</c>, <c>out_of_range_rate</c> or <c>dead_letter_rate</c>.</param>
/// <param name="Value">The measured value, or null when there is none.</param>
/// <param name="Threshold">The objective or threshold it is held to.</param>
/// <param name="WindowMs">The window of a rate; the objective of a freshness check.</param>
/// <param name="Count">The values a rate is over (served values, consumed events); the consumer lag of a freshness check (-1 unknown).</param>
/// <param name="Verdict">Its verdict.</param>
public sealed record QualityCheck(
    string Kind,
    string? View,
    string? Source,
    string? Feature,
    string? Reason,
    string Metric,
    double? Value,
    double Threshold,
    long WindowMs,
    long Count,
    QualityVerdict Verdict)
{
    /// <summary>The check's incident key: <c>freshness:VIEW</c>, <c>quality:view:VIEW:FEATURE:METRIC</c> or <c>quality:source:SOURCE:REASON</c>.</summary>
    public string Key => Kind == QualityRules.Freshness ? $"freshness:{View}"
        : View is not null ? $"quality:view:{View}:{Feature}:{Metric}"
        : $"quality:source:{Source}:{Reason}";
}

/// <summary>One evaluation's checks, as the evaluator stores it for the dashboard and <c>/metrics</c>.</summary>
/// <param name="EvaluatedAtMs">When it ran (epoch ms).</param>
/// <param name="IntervalMs">The evaluation period.</param>
/// <param name="Checks">Every check, in repository order.</param>
public sealed record QualityReport(long EvaluatedAtMs, long IntervalMs, IReadOnlyList<QualityCheck> Checks);
