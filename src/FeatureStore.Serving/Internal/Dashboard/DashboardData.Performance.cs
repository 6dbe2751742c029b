using FeatureStore.Core.Definitions;
using FeatureStore.Core.Performance;
using FeatureStore.Monitor.Performance;

namespace FeatureStore.Serving.Internal.Dashboard;

// The performance monitor's history, label counters and references, read through its store (PerformanceStore):
// the HTTP route, the gRPC DriftMonitor/GetPerformanceHistory and the dashboard's panel answer from here.
internal sealed partial class DashboardData
{
    private PerformanceStore Performance => new(Database, DriftKeys);

    /// <summary>
    /// The closed performance windows of one model version, oldest first: the newest <paramref name="limit"/> after
    /// the segment filter, with the model's label counts and the version's stored reference.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="version">The model version.</param>
    /// <param name="segment">Null for every window, empty for the whole population's only, else one segment's.</param>
    /// <param name="limit">The newest windows to return.</param>
    /// <param name="usage">How to ask, for the error when the model or version is missing.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public async Task<PerformanceHistory> PerformanceHistoryAsync(string? model, string? version, string? segment, int limit, string usage, CancellationToken cancellationToken)
    {
        var definition = ModelVersion(model, version, usage);
        var store = Performance;
        // The history holds each segment's window beside the whole population's: read enough entries that the
        // filter still leaves `limit` windows of one segment.
        var read = (int)Math.Min(PerformanceStore.HistoryLimit, (long)limit * EntriesPerWindow(definition));
        var windows = await store.HistoryAsync(definition.Name, version!, read).WaitAsync(cancellationToken).ConfigureAwait(false);
        var labels = await store.LabelCountsAsync(definition.Name).WaitAsync(cancellationToken).ConfigureAwait(false);
        var reference = await store.LoadReferenceAsync(definition.Name, version!).WaitAsync(cancellationToken).ConfigureAwait(false);
        var chosen = InOrder(windows).Where(w => segment is null || (segment.Length == 0 ? w.Segment is null : w.Segment == segment)).TakeLast(limit).ToList();
        return new PerformanceHistory(definition.Name, version!, segment, TaskOf(definition, windows), chosen, labels, reference);
    }

    /// <summary>
    /// The dashboard's performance panel: for each version of each model with a performance monitor, the newest
    /// <paramref name="limit"/> windows of the whole population and of each segment, its label counts and reference.
    /// </summary>
    public async Task<object> PerformanceAsync(int limit, CancellationToken cancellationToken)
    {
        var served = registry.Current;
        var store = Performance;
        var models = new List<object>();
        foreach (var model in served.Repository.Models.Where(m => m.PerformanceMonitors.Count > 0))
        {
            var labels = await store.LabelCountsAsync(model.Name).WaitAsync(cancellationToken).ConfigureAwait(false);
            var monitor = model.PerformanceMonitors[0];
            foreach (var version in model.Versions)
            {
                var read = (int)Math.Min(PerformanceStore.HistoryLimit, (long)limit * EntriesPerWindow(model));
                var windows = await store.HistoryAsync(model.Name, version.Version, read).WaitAsync(cancellationToken).ConfigureAwait(false);
                var reference = await store.LoadReferenceAsync(model.Name, version.Version).WaitAsync(cancellationToken).ConfigureAwait(false);
                var stored = await Database.SortedSetLengthAsync(DriftKeys.Performance(model.Name, version.Version)).WaitAsync(cancellationToken).ConfigureAwait(false);
                var task = TaskOf(model, windows) ?? PerformanceTask.BinaryClassification;
                // The whole population first, then the segments by name with `other` (the rest) last.
                var series = InOrder(windows)
                    .GroupBy(w => w.Segment)
                    .OrderBy(g => g.Key is null ? 0 : g.Key == "other" ? 2 : 1)
                    .ThenBy(g => g.Key, StringComparer.Ordinal)
                    .Select(g => new { Segment = g.Key, Windows = g.TakeLast(limit).Select(PerformanceAnswers.Row).ToList() })
                    .ToList();
                models.Add(new
                {
                    Model = model.Name,
                    version.Version,
                    Task = PerformanceAnswers.Name(task),
                    MainMetric = PerformanceAnswers.MainMetric(task),
                    Metrics = PerformanceMetrics.Of(task),
                    monitor.SegmentBy,
                    Estimate = monitor.Estimate,
                    Thresholds = model.PerformanceMonitors.SelectMany(m => m.Thresholds).Select(t => new { t.Metric, t.Min, t.Max, t.MaxDrop }),
                    // Entries stored (a window of each segment counts as one), as the drift panel's "evaluations".
                    Evaluations = stored,
                    Labels = labels,
                    Reference = reference is null ? null : PerformanceAnswers.Finite(reference.Metrics),
                    Segments = series,
                });
            }
        }

        return new { NowMs = NowMs, Models = models };
    }

    /// <summary>
    /// Windows by end, and at one end the whole population's first, then the segments by name: the store orders
    /// entries of one score by their JSON text, which is no order a reader could use.
    /// </summary>
    private static IEnumerable<PerformanceEvaluation> InOrder(IReadOnlyList<PerformanceEvaluation> windows) =>
        windows.OrderBy(w => w.WindowEndMs).ThenBy(w => w.Segment is not null).ThenBy(w => w.Segment, StringComparer.Ordinal);

    /// <summary>The declared model and version asked for: INVALID_ARGUMENT when either is missing, NOT_FOUND when unknown.</summary>
    private ModelDefinition ModelVersion(string? model, string? version, string usage)
    {
        var served = registry.Current;
        if (string.IsNullOrEmpty(model) || string.IsNullOrEmpty(version))
        {
            ThrowHelper.ThrowInvalid($"give the model and version: {usage}");
        }

        var definition = served.Repository.FindModel(model)
            ?? throw new LookupException(Grpc.Core.StatusCode.NotFound, $"no model '{ThrowHelper.Shown(model)}' (models: {string.Join(", ", served.Repository.Models.Select(m => m.Name))})");
        if (definition.Versions.All(v => v.Version != version))
        {
            throw new LookupException(Grpc.Core.StatusCode.NotFound, $"model '{definition.Name}' has no version '{ThrowHelper.Shown(version)}'");
        }

        return definition;
    }

    /// <summary>History entries one window of prediction time writes at most: the whole population's, and per segmented monitor its segments and <c>other</c>.</summary>
    private static int EntriesPerWindow(ModelDefinition model) =>
        Math.Max(1, model.PerformanceMonitors.Sum(m => m.SegmentBy is null ? 1 : m.Segments + 2));

    /// <summary>The model's declared task, or without a performance monitor the newest window's; null when neither exists.</summary>
    private static PerformanceTask? TaskOf(ModelDefinition model, IReadOnlyList<PerformanceEvaluation> windows) =>
        model.PerformanceMonitors.Count > 0 ? model.PerformanceMonitors[0].Task : windows.Count > 0 ? windows[^1].Task : null;

    /// <summary>What <see cref="PerformanceHistoryAsync"/> read: the HTTP route writes it as JSON, gRPC as <c>GetPerformanceHistoryResponse</c>.</summary>
    internal sealed record PerformanceHistory(
        string Model,
        string Version,
        string? Segment,
        PerformanceTask? Task,
        IReadOnlyList<PerformanceEvaluation> Windows,
        LabelCounts Labels,
        ReferencePerformance? Reference);
}
