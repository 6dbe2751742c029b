// The freshness and quality panel: the evaluator's latest report and its incidents, read as the JSON it writes.
using System.Text.Json;
using FeatureStore.Core.Quality;
using FeatureStore.Redis.Quality;

namespace FeatureStore.Serving.Internal.Dashboard;

/// <summary>One freshness or quality incident as the evaluator keeps it (<c>PREFIX:{PROJECT}:quality:incidents</c>).</summary>
/// <param name="Key">Its check's key: <c>freshness:VIEW</c>, <c>quality:view:VIEW:FEATURE:METRIC</c> or <c>quality:source:SOURCE:REASON</c>.</param>
/// <param name="Open">Still open.</param>
/// <param name="Alerted">Whether its alert went out (not when in cooldown or without a webhook).</param>
/// <param name="OpenedMs">When it opened.</param>
/// <param name="ResolvedMs">When it resolved, or null.</param>
/// <param name="Value">The value that opened or resolved it.</param>
/// <param name="Threshold">The objective or threshold.</param>
internal sealed record QualityIncidentRow(string Key, bool Open, bool Alerted, long OpenedMs, long? ResolvedMs, double Value, double Threshold);

/// <summary>The quality answer (<c>GET /v1/quality</c>): the latest evaluation (null before the first) and the incidents.</summary>
internal sealed record QualityAnswer(long NowMs, QualityReport? Report, IReadOnlyList<QualityIncidentRow> Open, IReadOnlyList<QualityIncidentRow> Resolved, long PendingDeliveries);

internal sealed partial class DashboardData
{
    /// <summary>The report's and incidents' JSON, as the evaluator writes it: snake_case, enums as snake_case names.</summary>
    internal static readonly JsonSerializerOptions QualityJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private QualityKeys QualityKeys => new(options.KeyPrefix, registry.Project);

    /// <summary>The latest evaluation, or null before the first (or when it is not one this version reads).</summary>
    public async Task<QualityReport?> QualityReportAsync(CancellationToken cancellationToken)
    {
        var json = await Database.StringGetAsync(QualityKeys.Status).WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return json.IsNullOrEmpty ? null : JsonSerializer.Deserialize<QualityReport>(json.ToString(), QualityJson);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The quality answer, with only the checks of <paramref name="allowedViews"/> and of the sources they read when the key is limited.</summary>
    public async Task<object> QualityAsync(HashSet<string>? allowedViews, CancellationToken cancellationToken)
    {
        var report = await QualityReportAsync(cancellationToken).ConfigureAwait(false);
        var repository = registry.Current.Repository;
        var sources = allowedViews is null ? null : repository.FeatureViews.Where(v => allowedViews.Contains(v.Name)).Select(v => v.Source).ToHashSet(StringComparer.Ordinal);
        bool Allowed(string? view, string? source) =>
            allowedViews is null || (view is not null ? allowedViews.Contains(view) : source is not null && sources!.Contains(source));
        if (report is not null && allowedViews is not null)
        {
            report = report with { Checks = [.. report.Checks.Where(c => Allowed(c.View, c.Source))] };
        }

        var incidents = new List<QualityIncidentRow>();
        foreach (var entry in await Database.HashGetAllAsync(QualityKeys.Incidents).WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            var key = entry.Name.ToString();
            var parts = key.Split(':');
            var (view, source) = parts switch
            {
                ["freshness", var v] => (v, (string?)null),
                ["quality", "view", var v, ..] => (v, null),
                ["quality", "source", var s, ..] => (null, s),
                _ => ((string?)null, (string?)null),
            };
            if ((view ?? source) is not null && Allowed(view, source) && ParseQualityIncident(key, entry.Value.ToString()) is { } row)
            {
                incidents.Add(row);
            }
        }

        var pending = await Database.SortedSetLengthAsync(QualityKeys.Outbox.Append(":due")).WaitAsync(cancellationToken).ConfigureAwait(false);
        return new QualityAnswer(
            NowMs,
            report,
            [.. incidents.Where(i => i.Open).OrderByDescending(i => i.OpenedMs)],
            [.. incidents.Where(i => !i.Open && i.ResolvedMs is not null).OrderByDescending(i => i.ResolvedMs).Take(100)],
            pending);
    }

    private static QualityIncidentRow? ParseQualityIncident(string key, string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            return new QualityIncidentRow(
                key,
                root.GetProperty("open").GetBoolean(),
                root.GetProperty("alerted").GetBoolean(),
                root.GetProperty("opened_ms").GetInt64(),
                root.TryGetProperty("resolved_ms", out var resolved) && resolved.ValueKind == JsonValueKind.Number ? resolved.GetInt64() : null,
                root.GetProperty("value").GetDouble(),
                root.GetProperty("threshold").GetDouble());
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null; // another version's incident: left out rather than fail the panel
        }
    }
}
