using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Serving.Internal.Dashboard;

/// <summary>
/// What the dashboard shows, read from the online store and the server itself: the served feature views
/// with freshness and lag (from the status hashes ingest members publish), the drift history the monitor
/// keeps per model version, its incidents, and this server's recent lookup latency. The drift keys are
/// the monitor's (<c>PREFIX:{PROJECT}:drift:history:MODEL:VERSION</c>, <c>…:drift:incidents</c>,
/// <c>…:drift:outbox:due</c>, <c>…:drift:outbox:rejected</c>), read as the JSON the monitor writes.
/// </summary>
internal sealed partial class DashboardData(RegistryCache registry, IConnectionMultiplexer store, ApiKeyPolicy keys, RecentLatencies latencies, FeatureServerOptions options, ViewBuilds builds)
{
    /// <summary>Most windows per model version, column and method one drift answer carries.</summary>
    public const int MaxWindows = 2000;

    public static JsonSerializerOptions Json { get; } = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public ApiKeyPolicy Keys => keys;

    private IDatabase Database => store.GetDatabase();

    private DriftKeys DriftKeys => new(options.KeyPrefix, registry.Project);

    private long NowMs => options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    public async Task<object> OverviewAsync(HashSet<string>? allowedViews, CancellationToken cancellationToken)
    {
        var served = registry.Current;
        var database = Database;
        var partitions = await new IngestStatusReader(database, registry.Keys).ReadAsync(cancellationToken).ConfigureAwait(false);
        var groups = await builds.ReadAsync(cancellationToken).ConfigureAwait(false);
        var now = NowMs;
        var views = served.Views
            .Where(v => allowedViews is null || allowedViews.Contains(v.Name))
            .Select(v => ViewRow(v, served.Repository.FindEntity(v.Definition.Entity)!.JoinKeys, partitions, groups, now))
            .ToList();
        return new
        {
            Project = registry.Project,
            RegistryVersion = served.Version,
            NowMs = now,
            Views = views,
            Ingest = partitions,
            Models = served.Repository.Models.Select(m => new { m.Name, Versions = m.Versions.Select(v => v.Version), Monitors = m.Monitors.Count }),
        };
    }

    private static object ViewRow(CompiledView view, IReadOnlyList<string> joinKeys, List<IngestPartitionStatus> partitions, IReadOnlyList<GroupStatus> groups, long now)
    {
        var topic = view.Source.Definition.Topic;
        var mine = partitions.Where(p => p.Topic == topic).ToList();
        var newest = mine.Max(p => p.NewestEventMs);
        var written = mine.Max(p => p.LastWriteMs);
        var lagged = mine.Where(p => p.Lag >= 0).ToList();
        return new
        {
            view.Name,
            view.Definition.Entity,
            JoinKeys = joinKeys,
            Source = view.Source.Definition.Name,
            Topic = topic,
            TtlMs = view.TtlMs,
            Features = view.Definition.Features.Select(f => f.Name),
            NewestEventMs = newest,
            LastWriteMs = written,
            FreshnessMs = newest is { } n ? now - n : (long?)null,
            FreshnessObjectiveMs = view.Definition.FreshnessMs,
            SinceWriteMs = written is { } w ? now - w : (long?)null,
            Lag = lagged.Count == 0 ? (long?)null : lagged.Sum(p => p.Lag),
            Partitions = mine.Count,
            // Its state groups: serving, or building with the rebuild's progress (null while unknown).
            Groups = groups.Where(g => g.View == view.Name).Select(g => new
            {
                g.Signature,
                g.Building,
                g.Features,
                g.State,
                g.RowsDone,
                g.RowsTotal,
                g.Progress,
                g.UpdatedMs,
                g.Reason,
            }),
        };
    }

    public async Task<object> DriftAsync(int limit, CancellationToken cancellationToken)
    {
        var served = registry.Current;
        var database = Database;
        var models = new List<object>();
        foreach (var model in served.Repository.Models.Where(m => m.Monitors.Count > 0))
        {
            var columnNames = model.Monitors.Select(m => m.Column).Distinct(StringComparer.Ordinal).ToList();
            foreach (var version in model.Versions)
            {
                var key = DriftKeys.History(model.Name, version.Version);
                var members = await database.SortedSetRangeByRankAsync(key, -(long)limit * DriftEntriesPerWindow(model), -1).WaitAsync(cancellationToken).ConfigureAwait(false);
                var series = new Dictionary<(string Column, string Method), MethodSeries>();
                var windows = new HashSet<(string Column, long Start, long End)>();
                var segments = new Dictionary<(string Column, string Segment), SegmentRow>();
                foreach (var member in members)
                {
                    if (AddWindow(member.ToString(), series, segments) is { } window)
                    {
                        windows.Add(window);
                    }
                }

                // The charts show the whole column; a segmented monitor's segments are a table of their latest window each.
                var columns = columnNames.Select(c => new
                {
                    Column = c,
                    Monitored = true,
                    Methods = series.Where(s => s.Key.Column == c).Select(s => s.Value.Trim(limit)).ToList(),
                    Segments = segments.Where(s => s.Key.Column == c).Select(s => s.Value).OrderBy(s => s.Segment, StringComparer.Ordinal).ToList(),
                }).ToList();
                // Each history entry is one column's window, and columns may cut their windows differently: "N windows"
                // is how many windows a column went through (the most of any column), not entries (windows × columns).
                var perColumn = windows.GroupBy(w => w.Column).Select(g => g.Count()).DefaultIfEmpty(0).Max();
                models.Add(new { Model = model.Name, version.Version, Windows = perColumn, Evaluations = members.Length, Columns = columns });
            }
        }

        return new { NowMs = NowMs, Models = models };
    }

    /// <summary>
    /// The evaluated windows of one model version (optionally one column), oldest first, as the monitor
    /// stored them: window start and end, predictions, and each method's value, threshold and verdict.
    /// The HTTP route and the gRPC <c>DriftMonitor/GetDriftHistory</c> both answer with this.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="version">The model version.</param>
    /// <param name="column">One column, or null for all.</param>
    /// <param name="limit">The newest windows to return.</param>
    /// <param name="usage">How to ask, for the error when the model or version is missing.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public async Task<HistoryAnswer> HistoryAsync(string? model, string? version, string? column, int limit, string usage, CancellationToken cancellationToken)
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

        var members = await Database.SortedSetRangeByRankAsync(DriftKeys.History(definition.Name, version), -(long)limit * DriftEntriesPerWindow(definition), -1)
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        var windows = new List<JsonElement>();
        foreach (var member in members)
        {
            try
            {
                using var document = JsonDocument.Parse(member.ToString());
                if (column is null || (document.RootElement.TryGetProperty("column", out var c) && c.GetString() == column))
                {
                    windows.Add(document.RootElement.Clone());
                }
            }
            catch (JsonException)
            {
                // an entry of another shape: left out
            }
        }

        return new HistoryAnswer(definition.Name, version, column, windows.TakeLast(limit).ToList());
    }

    // History entries one window of every monitor of a model writes: one per column, and per segment of a segmented
    // monitor (its kept values, other and (missing)).
    private static int DriftEntriesPerWindow(ModelDefinition model) =>
        Math.Max(1, model.Monitors.Sum(m => 1 + (m.SegmentBy is null ? 0 : m.Segments + 2)));

    /// <summary>
    /// Adds one history entry's results to the series (a segment's window to the segment table instead); returns
    /// its window, or null for an entry of another shape or a segment's.
    /// </summary>
    private static (string Column, long Start, long End)? AddWindow(string json, Dictionary<(string Column, string Method), MethodSeries> series, Dictionary<(string Column, string Segment), SegmentRow> segments)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var column = root.GetProperty("column").GetString() ?? "";
            var start = root.GetProperty("window_start_ms").GetInt64();
            var end = root.GetProperty("window_end_ms").GetInt64();
            var count = root.GetProperty("count").GetInt64();
            if (Segment(root) is { } segment)
            {
                // Entries come oldest first: the last one read is the segment's latest window.
                segments[(column, segment)] = new SegmentRow(
                    segment,
                    start,
                    end,
                    count,
                    root.TryGetProperty("verdict", out var verdict) ? verdict.GetString() : null,
                    root.TryGetProperty("drifted", out var drifted) && drifted.GetBoolean(),
                    [.. root.GetProperty("results").EnumerateArray().Select(r => new SegmentResult(
                        r.GetProperty("method").GetString() ?? "", Number(r.GetProperty("value")), r.GetProperty("threshold").GetDouble(), r.GetProperty("drifted").GetBoolean()))]);
                return null;
            }

            foreach (var result in root.GetProperty("results").EnumerateArray())
            {
                var method = result.GetProperty("method").GetString() ?? "";
                if (!series.TryGetValue((column, method), out var s))
                {
                    series[(column, method)] = s = new MethodSeries(method, LowerIsDrift(method));
                }

                var threshold = result.GetProperty("threshold").GetDouble();
                s.Threshold = threshold;
                s.Points.Add(new DriftPoint(start, end, count, Number(result.GetProperty("value")), result.GetProperty("drifted").GetBoolean(), threshold));
            }

            return (column, start, end);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null; // an entry of another shape: leave it out of the chart
        }
    }

    /// <summary>The segment of a history entry or incident, or null for the whole column (and entries written before segments).</summary>
    internal static string? Segment(JsonElement root) =>
        root.TryGetProperty("segment", out var segment) && segment.ValueKind == JsonValueKind.String ? segment.GetString() : null;

    internal static double? Number(JsonElement element) =>
        element.ValueKind == JsonValueKind.Number && element.TryGetDouble(out var d) && double.IsFinite(d) ? d : null;

    // p-value methods drift below their threshold, distances above it.
    internal static bool LowerIsDrift(string method) => method is "ks" or "chi2";

    /// <summary>The monitor's incidents and webhook deliveries: the HTTP route and the gRPC <c>DriftMonitor/ListAlerts</c> answer with this.</summary>
    public async Task<AlertsAnswer> AlertsAsync(CancellationToken cancellationToken)
    {
        var database = Database;
        var entries = await database.HashGetAllAsync(DriftKeys.Incidents).WaitAsync(cancellationToken).ConfigureAwait(false);
        var incidents = new List<IncidentRow>();
        foreach (var entry in entries)
        {
            if (ParseIncident(entry.Name.ToString(), entry.Value.ToString()) is { } row)
            {
                incidents.Add(row);
            }
        }

        // Drift's outbox and the performance alerts' own beside it.
        var performance = Monitor.Performance.PerformanceJob.OutboxKey(DriftKeys);
        var pending = await database.SortedSetLengthAsync(DriftKeys.OutboxDue).WaitAsync(cancellationToken).ConfigureAwait(false)
            + await database.SortedSetLengthAsync(performance.Append(":due")).WaitAsync(cancellationToken).ConfigureAwait(false);
        var rejected = await database.HashLengthAsync(DriftKeys.OutboxRejected).WaitAsync(cancellationToken).ConfigureAwait(false)
            + await database.HashLengthAsync(performance.Append(":rejected")).WaitAsync(cancellationToken).ConfigureAwait(false);
        return new AlertsAnswer(
            NowMs,
            [.. incidents.Where(i => i.Open).OrderByDescending(i => i.OpenedMs)],
            [.. incidents.Where(i => !i.Open && i.ResolvedMs is not null).OrderByDescending(i => i.ResolvedMs).Take(100)],
            pending,
            rejected);
    }

    private static IncidentRow? ParseIncident(string key, string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;

            // MODEL:VERSION:COLUMN:METHOD, where the column may itself hold a colon (view:feature), and #SEGMENT after
            // it for a segment's incident (the segment, which may hold anything, is read from the JSON).
            var segment = Segment(root);
            var suffix = segment is null ? "" : "#" + segment;
            if (!key.EndsWith(suffix, StringComparison.Ordinal))
            {
                return null;
            }

            var parts = key[..^suffix.Length].Split(':');
            if (parts.Length < 4)
            {
                return null;
            }

            return new IncidentRow(
                key,
                parts[0],
                parts[1],
                string.Join(':', parts[2..^1]),
                parts[^1],
                root.GetProperty("open").GetBoolean(),
                root.TryGetProperty("alerted", out var alerted) && alerted.GetBoolean(),
                OptionalLong(root, "opened_ms") is { } opened && opened != 0 ? opened : null,
                OptionalLong(root, "resolved_ms"),
                root.TryGetProperty("value", out var value) ? Number(value) : null,
                root.TryGetProperty("threshold", out var threshold) ? Number(threshold) : null,
                segment);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    public object Latency()
    {
        const long Window = 10 * 60_000;
        var now = NowMs;
        var samples = latencies.Since(now - Window);
        var lastMinute = samples.Where(s => s.AtMs >= now - 60_000).Select(s => s.Ms).Order().ToList();
        var (bucket, series) = LatencySeries(samples);
        return new
        {
            NowMs = now,
            WindowS = 60,
            Count = lastMinute.Count,
            P50Ms = RecentLatencies.Quantile(lastMinute, 0.5),
            P99Ms = RecentLatencies.Quantile(lastMinute, 0.99),
            BucketMs = bucket,
            Series = series,
        };
    }

    /// <summary>Latency chart steps, from 10 ms to 15 s: the finest that gives at most <see cref="MaxLatencyPoints"/> points.</summary>
    private static readonly long[] LatencySteps = [10, 25, 50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000];

    /// <summary>Most points of the latency chart.</summary>
    public const int MaxLatencyPoints = 60;

    /// <summary>
    /// The latency series: p50, p99 and count per step, the step chosen from the span the samples cover, so
    /// that lookups made in a burst (a demo, a batch job) still draw a line over time rather than one point.
    /// Steps without lookups are left out (the chart does not draw a latency nobody measured).
    /// </summary>
    internal static (long BucketMs, List<LatencyPoint> Series) LatencySeries(IReadOnlyList<(long AtMs, double Ms)> samples)
    {
        var span = samples.Count == 0 ? 0 : samples.Max(s => s.AtMs) - samples.Min(s => s.AtMs);
        var bucket = LatencySteps.FirstOrDefault(step => span / step < MaxLatencyPoints, LatencySteps[^1]);
        var series = samples
            .GroupBy(s => s.AtMs / bucket)
            .OrderBy(g => g.Key)
            .Select(g =>
            {
                var sorted = g.Select(s => s.Ms).Order().ToList();
                return new LatencyPoint((g.Key * bucket) + bucket, RecentLatencies.Quantile(sorted, 0.5), RecentLatencies.Quantile(sorted, 0.99), sorted.Count);
            })
            .ToList();
        return (bucket, series);
    }

    private static long? OptionalLong(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt64() : null;

    internal sealed record LatencyPoint(long TMs, double? P50Ms, double? P99Ms, int Count);

    internal sealed record DriftPoint(long StartMs, long EndMs, long Count, double? Value, bool Drifted, double Threshold);

    internal sealed record HistoryAnswer(string Model, string Version, string? Column, List<JsonElement> Windows);

    internal sealed record AlertsAnswer(long NowMs, List<IncidentRow> Open, List<IncidentRow> Resolved, long PendingDeliveries, long RejectedDeliveries);

    internal sealed record IncidentRow(string Key, string Model, string Version, string Column, string Method, bool Open, bool Alerted, long? OpenedMs, long? ResolvedMs, double? Value, double? Threshold, string? Segment = null);

    /// <summary>A segment's latest window: the dashboard's per-segment table.</summary>
    internal sealed record SegmentRow(string Segment, long StartMs, long EndMs, long Count, string? Verdict, bool Drifted, List<SegmentResult> Results);

    internal sealed record SegmentResult(string Method, double? Value, double Threshold, bool Drifted);

    internal sealed class MethodSeries(string method, bool lowerIsDrift)
    {
        public string Method { get; } = method;

        public bool LowerIsDrift { get; } = lowerIsDrift;

        public double Threshold { get; set; }

        public List<DriftPoint> Points { get; private set; } = [];

        public MethodSeries Trim(int limit)
        {
            if (Points.Count > limit)
            {
                Points = Points.GetRange(Points.Count - limit, limit);
            }

            return this;
        }
    }
}
