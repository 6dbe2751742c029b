using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Internal;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Monitor.Tests;

/// <summary>Drift monitors with segment_by, without a broker or a store: the windows per segment, the cap, the routing.</summary>
public sealed class DriftSegmentUnitTests
{
    private static readonly PartitionKey Partition = new("predictions", 0);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_shift_in_one_segment_drifts_that_segments_window_while_the_whole_column_stays_calm()
    {
        var feed = new Feed(SegmentScenario.Repository("unit-shift", "http://127.0.0.1:1/hook", "size: 1m", methods: "[psi, { method: ks, threshold: 0.001 }]"));

        // Minute 0 like training in every region; minute 1 shifts region c (120 of 4 120 predictions) by three
        // standard deviations; the first prediction of minute 2 closes minute 1.
        await feed.AddAsync(Minute(seed: 10, cMean: 0.3), startMs: 0, stepMs: 10);
        await feed.AddAsync(Minute(seed: 20, cMean: 0.6), startMs: 60_000, stepMs: 10);
        await feed.AddAsync([("a", 0.3)], startMs: 120_000, stepMs: 1);

        Assert.Equal(8, feed.Closed.Count); // two minutes × (whole column, a, b, c)
        var minute1 = feed.Closed.Where(e => e.WindowStartMs == 60_000).ToDictionary(e => e.Segment ?? "*");
        Assert.Equal(4120, minute1["*"].Count);
        Assert.Equal([2000L, 2000L, 120L], new[] { "a", "b", "c" }.Select(s => minute1[s].Count));
        Assert.All(minute1.Values, e => Assert.Equal(120_000, e.WindowEndMs));
        Assert.True(minute1["c"].Drifted, "the shifted segment drifts");
        Assert.Equal(DriftVerdict.Drifted, minute1["c"].Verdict);
        Assert.All(minute1["c"].Results, r => Assert.True(r.Drifted, $"{r.Method} on the shifted segment"));
        Assert.False(minute1["a"].Drifted);
        Assert.False(minute1["b"].Drifted);
        Assert.False(minute1["*"].Drifted, "the whole column stays calm: the shifted segment is 3% of it");
        Assert.All(feed.Closed.Where(e => e.WindowStartMs == 0), e => Assert.False(e.Drifted, $"minute 0, segment {e.Segment ?? "(whole)"}"));

        // Each segment's window is compared with the column's baseline, as the whole column's is.
        Assert.All(feed.Closed, e => Assert.Equal(feed.Baseline.Id, e.BaselineId));
        Assert.Equal(["a", "b", "c"], feed.Windows.Router("scorer", "v1", "score")!.Kept.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Values_past_the_cap_go_to_other_and_a_value_that_outgrows_the_smallest_kept_one_takes_its_place()
    {
        var feed = new Feed(SegmentScenario.Repository("unit-cap", "http://127.0.0.1:1/hook", "count: 200", segments: 2));

        // Window 1: a and b are seen first and kept; c and d go to other.
        var first = SegmentScenario.Interleave(
            ("a", MonitorScenario.Scores(seed: 30, count: 100, mean: 0.3)),
            ("b", MonitorScenario.Scores(seed: 31, count: 60, mean: 0.3)),
            ("c", MonitorScenario.Scores(seed: 32, count: 20, mean: 0.3)),
            ("d", MonitorScenario.Scores(seed: 33, count: 20, mean: 0.3)));
        await feed.AddAsync(first, startMs: 0, stepMs: 1);
        var router = feed.Windows.Router("scorer", "v1", "score")!;
        Assert.Equal(["a", "b"], router.Kept.Order(StringComparer.Ordinal));
        Assert.Equal([(null, 200L)], feed.Closed.Select(e => (e.Segment, e.Count)));

        // Window 2: 200 more of d, still in other (its window fills and closes); when the whole column's window
        // closes, d (220) has passed b (60): b's window closes with what it holds, and d takes its place.
        await feed.AddAsync(Enumerable.Repeat<(string?, double)>(("d", 0.3), 200), startMs: 1_000, stepMs: 1);
        Assert.Equal(["a", "d"], router.Kept.Order(StringComparer.Ordinal));
        Assert.Equal(220, router.Total("d"));
        Assert.Equal([(null, 200L), ("other", 200L), (null, 200L), ("b", 60L)], feed.Closed.Select(e => (e.Segment, e.Count)));
        var partial = feed.Closed[^1];
        Assert.Equal(DriftVerdict.InsufficientData, partial.Verdict); // 60 < min_samples (100): no verdict, never an alert

        // From now on d fills its own window, b goes to other, and a prediction without a region to (missing).
        await feed.AddAsync([("d", 0.3), ("b", 0.3), (null, 0.3)], startMs: 2_000, stepMs: 1);
        Assert.Equal(5, feed.Windows.OpenWindows); // whole column, a, d, other, (missing)

        // Read again after a restart, with the routing persisted, each prediction goes where it went before.
        var restarted = SegmentRouter.FromJson(2, router.ToJson());
        Assert.Equal("b", restarted.Route("b", Partition, 1)); // b's first window, before its eviction
        Assert.Equal("other", restarted.Route("d", Partition, 201)); // d before its admission
        Assert.Equal("d", restarted.Route("d", Partition, 400));
        Assert.Equal("other", restarted.Route("b", Partition, 401));
        Assert.Equal(SegmentRouter.Missing, restarted.Route(null, Partition, 402));
        Assert.Equal(220, restarted.Total("d"));
    }

    [Fact]
    public void A_lowered_cap_evicts_the_smallest_kept_values_when_the_next_whole_column_window_closes()
    {
        var router = new SegmentRouter(3);
        foreach (var (value, times) in new[] { ("a", 5), ("b", 3), ("c", 1) })
        {
            for (var i = 0; i < times; i++)
            {
                Assert.Equal(value, router.Route(value, Partition, i));
                router.Count(value);
            }
        }

        Assert.Empty(router.WindowClosed(new Dictionary<PartitionKey, long> { [Partition] = 10 }));
        var lowered = SegmentRouter.FromJson(1, router.ToJson());
        Assert.Equal(3, lowered.Kept.Count); // routing as stored until a window closes
        Assert.Equal(["c", "b"], lowered.WindowClosed(new Dictionary<PartitionKey, long> { [Partition] = 20 }));
        Assert.Equal(["a"], lowered.Kept);
        Assert.Equal("c", lowered.Route("c", Partition, 19)); // read again: before its eviction, its old window
        Assert.Equal("other", lowered.Route("c", Partition, 20));
        Assert.Equal("other", lowered.Route("d", Partition, 21)); // the cap is full: a new value waits in other
    }

    [Fact]
    public async Task Ten_thousand_distinct_values_keep_memory_bounded_and_the_frequent_values_get_their_windows()
    {
        var feed = new Feed(SegmentScenario.Repository("unit-memory", "http://127.0.0.1:1/hook", "count: 1000", segments: 10));
        var window = feed.Baseline.Columns["score"].NewWindow().MemoryBytes;

        // Every other prediction is one of five frequent values, the rest 10 000 distinct ones, three times over.
        var scores = MonitorScenario.Scores(seed: 40, count: 60_000, mean: 0.3).ToArray();
        var predictions = Enumerable.Range(0, 60_000).Select(i => ((string?)(i % 2 == 0 ? $"h{i / 2 % 5}" : $"v{i / 2 % 10_000}"), scores[i]));
        var peak = 0L;
        var peakWindows = 0;
        var t = 0L;
        foreach (var chunk in predictions.Chunk(1000))
        {
            await feed.AddAsync(chunk, startMs: t, stepMs: 1);
            t += 1000;
            peak = Math.Max(peak, feed.Windows.MemoryBytes);
            peakWindows = Math.Max(peakWindows, feed.Windows.OpenWindows);
        }

        var router = feed.Windows.Router("scorer", "v1", "score")!;
        Assert.True(peakWindows <= 1 + 10 + 1, $"{peakWindows} open windows (whole column, 10 values, other)");
        Assert.True(peak <= 12 * window, $"{peak} bytes held, {window} per window");
        Assert.True(router.Tracked <= 2 * 64, $"{router.Tracked} values counted"); // two tables of max(64, 4 × 10)
        Assert.Equal(10, router.Kept.Count);
        Assert.Subset(router.Kept.ToHashSet(), new HashSet<string> { "h0", "h1", "h2", "h3", "h4" });
        Assert.InRange(router.Total("h0"), 5_900, 6_100); // 6 000 counted in closed windows, at most the table's error over
    }

    [Fact]
    public void A_segment_has_its_own_incident_and_its_alert_names_the_segment_and_an_incident_stored_before_segments_still_loads()
    {
        var repository = SegmentScenario.Repository("unit-incidents", "http://127.0.0.1:1/hook", "count: 200");
        var tracker = new IncidentTracker(repository, new MonitorOptions { BootstrapServers = "127.0.0.1:1", TimeProvider = new FixedTime() });

        // An incident of the whole column stored before segments existed: its key and JSON name no segment.
        var old = JsonSerializer.Deserialize<Incident>("""{"open":true,"alerted":true,"id":"scorer:v1:score:psi:0","last_alert_ms":0,"opened_ms":0,"resolved_ms":null,"value":0.5,"threshold":0.2}""", DriftJson.Options)!;
        Assert.Null(old.Segment);
        tracker.Restore(new Dictionary<string, Incident>(StringComparer.Ordinal) { ["scorer:v1:score:psi"] = old });

        var alerts = new List<DriftAlert>();
        tracker.Observe(Window("c", drifted: true), alerts);
        tracker.Observe(Window(null, drifted: false), alerts);

        Assert.Equal(2, alerts.Count);
        var drift = alerts[0];
        Assert.Equal(AlertStatus.Drift, drift.Status);
        Assert.Equal("c", drift.Segment);
        Assert.Equal("scorer:v1:score:psi#c:1000:drift", drift.Id);
        Assert.EndsWith("&segment=c", drift.History, StringComparison.Ordinal);
        var resolved = alerts[1];
        Assert.Equal(AlertStatus.Resolved, resolved.Status);
        Assert.Null(resolved.Segment);
        Assert.Equal("scorer:v1:score:psi:0:resolved", resolved.Id);

        // The alert's JSON says "segment", null for the whole column's.
        Assert.Equal("c", JsonDocument.Parse(JsonSerializer.Serialize(drift, DriftJson.Options)).RootElement.GetProperty("segment").GetString());
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(JsonSerializer.Serialize(resolved, DriftJson.Options)).RootElement.GetProperty("segment").ValueKind);
        var touched = tracker.Touched([Window("c", drifted: true), Window(null, drifted: false)]).ToDictionary(k => k.Key, k => k.Value);
        Assert.Equal(["scorer:v1:score:psi", "scorer:v1:score:psi#c"], touched.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("c", touched["scorer:v1:score:psi#c"].Segment);
    }

    [Fact]
    public void A_history_entry_written_before_segments_reads_as_the_whole_columns()
    {
        const string Old = """{"model":"scorer","version":"v1","column":"score","baseline_id":"b","window_start_ms":0,"window_end_ms":1,"count":500,"results":[],"drifted":false,"verdict":"no_drift","min_samples":100,"non_finite":null,"reference_size":null,"reference_sampled":null}""";
        var entry = JsonSerializer.Deserialize<DriftEvaluation>(Old, DriftJson.Options)!;
        Assert.Null(entry.Segment);
        Assert.Equal(500, entry.Count);
        var segmented = entry with { Segment = "(missing)" };
        Assert.Equal("(missing)", JsonSerializer.Deserialize<DriftEvaluation>(JsonSerializer.Serialize(segmented, DriftJson.Options), DriftJson.Options)!.Segment);
    }

    // Regions a and b with 2 000 scores each like training, and c with 120 around cMean, interleaved.
    private static List<(string? Region, double Score)> Minute(int seed, double cMean) => SegmentScenario.Interleave(
        ("a", MonitorScenario.Scores(seed, 2000, 0.3)),
        ("b", MonitorScenario.Scores(seed + 1, 2000, 0.3)),
        ("c", MonitorScenario.Scores(seed + 2, 120, cMean)));

    private static DriftEvaluation Window(string? segment, bool drifted) => new(
        "scorer", "v1", "score", "b1", 1000, 2000, 500,
        [new DriftResult(DriftMethod.Psi, drifted ? 0.5 : 0.01, 0, 0.2, drifted)],
        drifted,
        drifted ? DriftVerdict.Drifted : DriftVerdict.NoDrift,
        Segment: segment);

    /// <summary>The windows of one model, fed predictions of one partition in offset order.</summary>
    private sealed class Feed
    {
        private long _offset;

        public Feed(FeatureRepository repository)
        {
            Model = repository.Models[0];
            Baseline = SegmentScenario.Baseline(repository);
            Windows = new ColumnWindows(new NothingPersisted(), new MonitorOptions { BootstrapServers = "127.0.0.1:1" }, new MonitorMetrics(), NullLogger.Instance);
        }

        public ModelDefinition Model { get; }

        public ModelBaseline Baseline { get; }

        public ColumnWindows Windows { get; }

        public List<DriftEvaluation> Closed { get; } = [];

        public async Task AddAsync(IEnumerable<(string? Region, double Score)> predictions, long startMs, long stepMs)
        {
            var t = startMs;
            foreach (var (region, score) in predictions)
            {
                using var document = JsonDocument.Parse(SegmentScenario.Prediction(t, score, region));
                var offset = _offset++;
                Assert.True(Windows.Read(Partition, offset));
                await Windows.AddAsync(Model, "v1", Baseline, document.RootElement, t, Partition, offset, Closed, Ct);
                t += stepMs;
            }
        }
    }

    // A first start: no window was persisted before.
    private sealed class NothingPersisted : IEvaluatedSource
    {
        public Task<EvaluatedState> LoadEvaluatedAsync(string model, string version, string column, string? segment, Dictionary<PartitionKey, long> evaluated, CancellationToken cancellationToken) =>
            Task.FromResult(new EvaluatedState(long.MinValue, null));
    }

    private sealed class FixedTime : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(1_000_000);
    }
}
