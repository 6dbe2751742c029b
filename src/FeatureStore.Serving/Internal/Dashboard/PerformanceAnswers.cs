using System.Text.Json;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Performance;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Serving.Internal.Dashboard;

/// <summary>
/// The performance history <see cref="DashboardData"/> reads, as the gRPC <c>DriftMonitor/GetPerformanceHistory</c>
/// message (metrics exactly as stored, NaN included) and as the JSON of <c>GET /v1/performance/{model}/{version}</c>
/// and the dashboard (snake_case, a metric that is not a finite number written as null).
/// </summary>
internal static class PerformanceAnswers
{
    /// <summary>The metric the dashboard draws first: ROC AUC for a classifier, MAE for a regressor.</summary>
    public static string MainMetric(PerformanceTask task) => task == PerformanceTask.Regression ? "mae" : "roc_auc";

    /// <summary>A task, verdict or other enum value as the history's JSON names it (<c>binary_classification</c>, <c>insufficient_data</c>).</summary>
    public static string Name<T>(T value)
        where T : struct, System.Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    public static GetPerformanceHistoryResponse History(DashboardData.PerformanceHistory history)
    {
        var response = new GetPerformanceHistoryResponse
        {
            Model = history.Model,
            Version = history.Version,
            Task = history.Task is { } task ? Name(task) : "",
            Labels = new LabelJoinCounts
            {
                Joined = history.Labels.Joined,
                Duplicate = history.Labels.Duplicate,
                Late = history.Labels.Late,
                Unmatched = history.Labels.Unmatched,
                Pending = history.Labels.Pending,
            },
        };
        if (history.Segment is not null)
        {
            response.Segment = history.Segment;
        }

        if (history.Reference is { } reference)
        {
            Add(response.Reference, reference.Metrics);
        }

        response.Windows.AddRange(history.Windows.Select(Window));
        return response;
    }

    private static PerformanceWindow Window(PerformanceEvaluation e)
    {
        var window = new PerformanceWindow
        {
            WindowStart = Time(e.WindowStartMs),
            WindowEnd = Time(e.WindowEndMs),
            Predictions = e.Predictions,
            Labelled = e.Labelled,
            Coverage = e.Coverage,
            ClosedBy = e.ClosedBy,
            Verdict = Name(e.Verdict),
            MinSamples = e.MinSamples,
            Reason = e.Reason ?? "",
        };
        if (e.Segment is not null)
        {
            window.Segment = e.Segment;
        }

        Add(window.Realized, e.Realized);
        foreach (var (metric, estimate) in e.Estimated ?? new Dictionary<string, EstimatedValue>())
        {
            window.Estimated.Add(metric, new EstimatedBand { Value = estimate.Value, Lower = estimate.Lower, Upper = estimate.Upper });
        }

        if (e.Reference is { } reference)
        {
            Add(window.Reference, reference);
        }

        window.Breaches.AddRange(e.Breaches.Select(b => new PerformanceBreach { Metric = b.Metric, Kind = b.Kind, Value = b.Value, Bound = b.Bound }));
        return window;
    }

    private static void Add(Google.Protobuf.Collections.MapField<string, double> map, IReadOnlyDictionary<string, double> metrics)
    {
        foreach (var (metric, value) in metrics)
        {
            map.Add(metric, value);
        }
    }

    /// <summary>The JSON answer of <c>GET /v1/performance/{model}/{version}</c>.</summary>
    public static HistoryJson Json(DashboardData.PerformanceHistory history) => new(
        history.Model,
        history.Version,
        history.Segment,
        history.Task is { } task ? Name(task) : null,
        history.Labels,
        history.Reference is null ? null : Finite(history.Reference.Metrics),
        [.. history.Windows.Select(Row)]);

    /// <summary>One window as JSON.</summary>
    public static WindowJson Row(PerformanceEvaluation e) => new(
        e.Segment,
        e.WindowStartMs,
        e.WindowEndMs,
        e.Predictions,
        e.Labelled,
        e.Coverage,
        e.ClosedBy,
        Name(e.Verdict),
        e.MinSamples,
        Finite(e.Realized),
        e.Estimated?.ToDictionary(p => p.Key, p => new BandJson(Finite(p.Value.Value), Finite(p.Value.Lower), Finite(p.Value.Upper)), StringComparer.Ordinal),
        e.Reference is null ? null : Finite(e.Reference),
        [.. e.Breaches.Select(b => new BreachJson(b.Metric, b.Kind, Finite(b.Value), Finite(b.Bound)))],
        e.Reason);

    /// <summary>Metrics with each value that is not a finite number (NaN, ±∞) as null, which JSON can carry.</summary>
    public static Dictionary<string, double?> Finite(IReadOnlyDictionary<string, double> metrics) =>
        metrics.ToDictionary(p => p.Key, p => Finite(p.Value), StringComparer.Ordinal);

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private static Timestamp Time(long epochMs) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(epochMs));

    internal sealed record HistoryJson(
        string Model, string Version, string? Segment, string? Task, LabelCounts Labels, Dictionary<string, double?>? Reference, List<WindowJson> Windows);

    internal sealed record WindowJson(
        string? Segment,
        long WindowStartMs,
        long WindowEndMs,
        long Predictions,
        long Labelled,
        double Coverage,
        string ClosedBy,
        string Verdict,
        int MinSamples,
        Dictionary<string, double?> Realized,
        Dictionary<string, BandJson>? Estimated,
        Dictionary<string, double?>? Reference,
        List<BreachJson> Breaches,
        string? Reason);

    internal sealed record BandJson(double? Value, double? Lower, double? Upper);

    internal sealed record BreachJson(string Metric, string Kind, double? Value, double? Bound);
}
