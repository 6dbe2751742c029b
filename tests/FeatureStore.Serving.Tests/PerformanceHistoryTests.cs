using System.Net;
using System.Text.Json;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Performance;
using FeatureStore.Monitor.Performance;
using FeatureStore.Redis.Drift;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Grpc.Core;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// The performance monitor's history as the server answers it: over gRPC (<c>DriftMonitor/GetPerformanceHistory</c>),
/// over HTTP (<c>/v1/performance/{model}/{version}</c>), through the client and in the dashboard's data, each checked
/// field by field against the windows written to a real redis-server with the monitor's store.
/// </summary>
[Trait("Category", "Integration")]
public sealed class PerformanceHistoryTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private const string Key = "perf-reader";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>scorer (a classifier segmented by country, two kept apart) and pricer (a regressor nothing was stored for).</summary>
    private static readonly FeatureRepository Repository = PerformanceRepository();

    private static FeatureRepository PerformanceRepository()
    {
        var monitored = DashboardTests.MonitoredRepository();
        var scorer = monitored.Models.Single();
        var labels = new LabelsDefinition("dtest-labels", "dtest-labels.dlq", "prediction_id", "fraud", null, 3_600_000, 0.9);
        var classifier = new PerformanceMonitorDefinition(PerformanceTask.BinaryClassification, "score", 0.5, 1000,
            [new MetricThreshold("roc_auc", 0.7, null, 0.05)], Estimate: true, SegmentBy: "country", Segments: 2, MinSamples: 50, Alert: null);
        var regressor = classifier with { Task = PerformanceTask.Regression, Thresholds = [new MetricThreshold("mae", null, 10, null)], Estimate = false, SegmentBy = null };
        return monitored with
        {
            Models =
            [
                scorer with { Labels = labels, Performance = [classifier] },
                scorer with { Name = "pricer", Labels = labels, Performance = [regressor] },
            ],
        };
    }

    /// <summary>
    /// Five windows of scorer@v1, each for the whole population, <c>de</c> and <c>other</c>: the second short of
    /// min_samples, <c>de</c>'s first with one class only (AUC NaN), the last degraded; the label counters and the
    /// version's reference.
    /// </summary>
    private static List<PerformanceEvaluation> Windows()
    {
        var reference = new Dictionary<string, double> { ["roc_auc"] = 0.91, ["f1"] = 0.62 };
        var windows = new List<PerformanceEvaluation>();
        for (var i = 0; i < 5; i++)
        {
            foreach (var segment in new[] { null, "de", "other" })
            {
                var share = segment is null ? 1.0 : 0.5;
                var predictions = (long)((1000 + (10 * i)) * share);
                var labelled = i == 1 ? 20 : (long)(predictions * (0.5 + (0.1 * i)));
                var auc = segment == "de" && i == 0 ? double.NaN : i == 4 ? 0.61 : 0.9 - (0.01 * i);
                var verdict = i == 1 ? PerformanceVerdict.InsufficientData : i == 4 ? PerformanceVerdict.Degraded : PerformanceVerdict.Ok;
                windows.Add(new PerformanceEvaluation(
                    "scorer", "v1", segment, PerformanceTask.BinaryClassification, i * 1000L, (i + 1) * 1000L, predictions, labelled,
                    i % 2 == 0 ? "horizon" : "coverage", verdict, 50,
                    new Dictionary<string, double> { ["roc_auc"] = auc, ["f1"] = 0.6 - (0.02 * i), ["log_loss"] = double.PositiveInfinity },
                    new Dictionary<string, EstimatedValue> { ["roc_auc"] = new(0.88 - (0.03 * i), 0.84 - (0.03 * i), 0.92 - (0.03 * i)) },
                    reference,
                    i == 4 ? [new MetricBreach("roc_auc", "realized", 0.61, 0.86), new MetricBreach("roc_auc", "estimated", 0.76, 0.86)] : [],
                    segment == "de" && i == 0 ? "one class only" : null));
            }
        }

        return windows;
    }

    private static readonly LabelCounts Labels = new(Joined: 3120, Duplicate: 7, Late: 41, Unmatched: 12, Pending: 5);

    private async Task<(string Prefix, List<PerformanceEvaluation> Windows)> SeedAsync()
    {
        var prefix = "p" + Guid.NewGuid().ToString("N")[..8];
        var database = redis.Connection.Database;
        var store = new PerformanceStore(database, new DriftKeys(prefix, Repository.Project));
        var windows = Windows();
        var transaction = database.CreateTransaction();
        store.AppendHistory(transaction, windows);
        Assert.True(await transaction.ExecuteAsync());
        await database.HashSetAsync(store.Keys.Labels("scorer"),
        [
            new("joined", Labels.Joined), new("duplicate", Labels.Duplicate), new("late", Labels.Late), new("unmatched", Labels.Unmatched), new("pending", Labels.Pending),
        ]);
        await store.SaveReferenceAsync(new ReferencePerformance("scorer", "v1", PerformanceTask.BinaryClassification,
            new Dictionary<string, double> { ["roc_auc"] = 0.93, ["f1"] = 0.64, ["ece"] = double.NaN }, 20_000, "validation.parquet", null));
        return (prefix, windows);
    }

    private static FeatureServerOptions Options(string prefix, int grpcPort = 6566, int httpPort = 6567) => new()
    {
        Repository = Repository,
        KeyPrefix = prefix,
        ApiKeys = [new ApiKey(Key)],
        GrpcPort = grpcPort,
        HttpPort = httpPort,
    };

    private async Task<RunningServer> StartAsync(string prefix, bool onPorts) => onPorts
        ? await RunningServer.OnPortsAsync((grpc, http) => Options(prefix, grpc, http), redis.Connection.Multiplexer)
        : await RunningServer.InProcessAsync(Options(prefix), redis.Connection.Multiplexer);

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient http, string path, string? key = Key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        if (key is not null)
        {
            request.Headers.Add("x-api-key", key);
        }

        using var response = await http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    private static async Task<JsonElement> GetJsonAsync(HttpClient http, string path)
    {
        var (status, body) = await GetAsync(http, path);
        Assert.True(status == HttpStatusCode.OK, $"{path}: {(int)status} {body}");
        return body;
    }

    /// <summary>The windows a request should get, chosen from what was written without the server's code.</summary>
    private static List<PerformanceEvaluation> Expected(List<PerformanceEvaluation> written, string? segment, int limit)
    {
        var chosen = new List<PerformanceEvaluation>();
        // By window end; at one end the whole population's window first, then the segments by name.
        foreach (var w in written.OrderBy(w => (w.WindowEndMs, w.Segment is null ? "" : "1" + w.Segment)))
        {
            if (segment is null || (segment == "" && w.Segment is null) || (segment != "" && w.Segment == segment))
            {
                chosen.Add(w);
            }
        }

        return chosen.Count > limit ? chosen.GetRange(chosen.Count - limit, limit) : chosen;
    }

    private static long Ms(Google.Protobuf.WellKnownTypes.Timestamp t) => t.ToDateTimeOffset().ToUnixTimeMilliseconds();

    private static void AssertWindow(PerformanceEvaluation expected, PerformanceWindow actual)
    {
        Assert.Equal(expected.Segment, actual.HasSegment ? actual.Segment : null);
        Assert.Equal((expected.WindowStartMs, expected.WindowEndMs), (Ms(actual.WindowStart), Ms(actual.WindowEnd)));
        Assert.Equal((expected.Predictions, expected.Labelled, (double)expected.Labelled / expected.Predictions), (actual.Predictions, actual.Labelled, actual.Coverage));
        Assert.Equal(expected.ClosedBy, actual.ClosedBy);
        Assert.Equal(expected.Verdict switch
        {
            PerformanceVerdict.Ok => "ok",
            PerformanceVerdict.Degraded => "degraded",
            _ => "insufficient_data",
        }, actual.Verdict);
        Assert.Equal(expected.MinSamples, actual.MinSamples);
        // double.Equals holds NaN equal to NaN: an undefined metric must come back NaN, not 0 and not missing.
        Assert.Equal(expected.Realized.OrderBy(p => p.Key), actual.Realized.OrderBy(p => p.Key));
        Assert.Equal(expected.Estimated!.Select(p => (p.Key, p.Value.Value, p.Value.Lower, p.Value.Upper)),
            actual.Estimated.Select(p => (p.Key, p.Value.Value, p.Value.Lower, p.Value.Upper)));
        Assert.Equal(expected.Reference!.OrderBy(p => p.Key), actual.Reference.OrderBy(p => p.Key));
        Assert.Equal(expected.Breaches.Select(b => (b.Metric, b.Kind, b.Value, b.Bound)), actual.Breaches.Select(b => (b.Metric, b.Kind, b.Value, b.Bound)));
        Assert.Equal(expected.Reason ?? "", actual.Reason);
    }

    private static void AssertNumber(double expected, JsonElement actual)
    {
        if (double.IsFinite(expected))
        {
            Assert.Equal(expected, actual.GetDouble());
        }
        else
        {
            Assert.Equal(JsonValueKind.Null, actual.ValueKind);
        }
    }

    private static void AssertMetrics(IReadOnlyDictionary<string, double> expected, JsonElement actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.EnumerateObject().Select(p => p.Name).Order());
        foreach (var (metric, value) in expected)
        {
            AssertNumber(value, actual.GetProperty(metric));
        }
    }

    private static void AssertWindow(PerformanceEvaluation expected, JsonElement actual)
    {
        var segment = actual.GetProperty("segment");
        Assert.Equal(expected.Segment, segment.ValueKind == JsonValueKind.Null ? null : segment.GetString());
        Assert.Equal(expected.WindowStartMs, actual.GetProperty("window_start_ms").GetInt64());
        Assert.Equal(expected.WindowEndMs, actual.GetProperty("window_end_ms").GetInt64());
        Assert.Equal(expected.Predictions, actual.GetProperty("predictions").GetInt64());
        Assert.Equal(expected.Labelled, actual.GetProperty("labelled").GetInt64());
        Assert.Equal((double)expected.Labelled / expected.Predictions, actual.GetProperty("coverage").GetDouble());
        Assert.Equal(expected.ClosedBy, actual.GetProperty("closed_by").GetString());
        Assert.Equal(expected.MinSamples, actual.GetProperty("min_samples").GetInt32());
        AssertMetrics(expected.Realized, actual.GetProperty("realized"));
        AssertMetrics(expected.Reference!, actual.GetProperty("reference"));
        var estimated = actual.GetProperty("estimated");
        Assert.Equal(expected.Estimated!.Keys, estimated.EnumerateObject().Select(p => p.Name));
        foreach (var (metric, band) in expected.Estimated)
        {
            var e = estimated.GetProperty(metric);
            Assert.Equal((band.Value, band.Lower, band.Upper), (e.GetProperty("value").GetDouble(), e.GetProperty("lower").GetDouble(), e.GetProperty("upper").GetDouble()));
        }

        Assert.Equal(expected.Breaches.Select(b => (b.Metric, b.Kind, b.Value, b.Bound)), actual.GetProperty("breaches").EnumerateArray().Select(b =>
            (b.GetProperty("metric").GetString()!, b.GetProperty("kind").GetString()!, b.GetProperty("value").GetDouble(), b.GetProperty("bound").GetDouble())));
        var reason = actual.GetProperty("reason");
        Assert.Equal(expected.Reason, reason.ValueKind == JsonValueKind.Null ? null : reason.GetString());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Grpc_http_and_the_client_return_the_stored_windows_exactly_filtered_by_segment(bool onPorts)
    {
        var (prefix, written) = await SeedAsync();
        await using var server = await StartAsync(prefix, onPorts);
        using var client = server.Client(Key);
        using var http = server.Http();

        foreach (var (segment, limit) in new[] { ((string?)null, 0), ("", 0), ("de", 0), ("other", 2), (null, 4), ("", 5000), ("fr", 0) })
        {
            var expected = Expected(written, segment, limit == 0 ? 500 : limit);
            var grpc = await client.GetPerformanceHistoryAsync("scorer", "v1", segment, limit, Ct);
            Assert.Equal(expected.Count, grpc.Windows.Count);
            for (var i = 0; i < expected.Count; i++)
            {
                AssertWindow(expected[i], grpc.Windows[i]);
            }

            Assert.Equal(("scorer", "v1", "binary_classification"), (grpc.Model, grpc.Version, grpc.Task));
            Assert.Equal(segment, grpc.HasSegment ? grpc.Segment : null);
            Assert.Equal((3120L, 7L, 41L, 12L, 5L), (grpc.Labels.Joined, grpc.Labels.Duplicate, grpc.Labels.Late, grpc.Labels.Unmatched, grpc.Labels.Pending));
            Assert.Equal([("ece", double.NaN), ("f1", 0.64), ("roc_auc", 0.93)], grpc.Reference.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)));

            var path = "/v1/performance/scorer/v1" + (segment is null && limit == 0 ? "" : "?")
                + (segment is null ? "" : "segment=" + Uri.EscapeDataString(segment)) + (segment is not null && limit != 0 ? "&" : "") + (limit == 0 ? "" : $"limit={limit}");
            var json = await GetJsonAsync(http, path);
            var windows = json.GetProperty("windows").EnumerateArray().ToList();
            Assert.Equal(expected.Count, windows.Count);
            for (var i = 0; i < expected.Count; i++)
            {
                AssertWindow(expected[i], windows[i]);
            }

            Assert.Equal("binary_classification", json.GetProperty("task").GetString());
            var labels = json.GetProperty("labels");
            Assert.Equal((3120L, 7L, 41L, 12L, 5L), (labels.GetProperty("joined").GetInt64(), labels.GetProperty("duplicate").GetInt64(),
                labels.GetProperty("late").GetInt64(), labels.GetProperty("unmatched").GetInt64(), labels.GetProperty("pending").GetInt64()));
            AssertMetrics(new Dictionary<string, double> { ["roc_auc"] = 0.93, ["f1"] = 0.64, ["ece"] = double.NaN }, json.GetProperty("reference"));
        }

        // What the filters pick, spelled out: the whole population's newest two, de's NaN window, the degraded verdict.
        var whole = await client.GetPerformanceHistoryAsync("scorer", "v1", "", 2, Ct);
        Assert.Equal([4000L, 5000], whole.Windows.Select(w => Ms(w.WindowEnd)));
        Assert.All(whole.Windows, w => Assert.False(w.HasSegment));
        Assert.Equal(["ok", "degraded"], whole.Windows.Select(w => w.Verdict));
        Assert.Equal(2, whole.Windows[^1].Breaches.Count);
        var de = await client.GetPerformanceHistoryAsync("scorer", "v1", "de", cancellationToken: Ct);
        Assert.Equal(5, de.Windows.Count);
        Assert.True(double.IsNaN(de.Windows[0].Realized["roc_auc"]));
        Assert.Equal("one class only", de.Windows[0].Reason);
        Assert.Equal(15, (await client.GetPerformanceHistoryAsync("scorer", "v1", cancellationToken: Ct)).Windows.Count);
        Assert.Empty((await client.GetPerformanceHistoryAsync("scorer", "v1", "fr", cancellationToken: Ct)).Windows);
    }

    [Fact]
    public async Task A_damaged_history_entry_is_left_out_and_the_rest_is_answered()
    {
        var (prefix, written) = await SeedAsync();
        var key = new DriftKeys(prefix, Repository.Project).Performance("scorer", "v1");
        await redis.Connection.Database.SortedSetAddAsync(key, "{\"model\": \"scorer\", \"version\": ", 2500);
        await redis.Connection.Database.SortedSetAddAsync(key, "not json at all", 3500);
        await redis.Connection.Database.SortedSetAddAsync(key, "null", 4500);
        await using var server = await StartAsync(prefix, onPorts: false);
        using var client = server.Client(Key);
        using var http = server.Http();

        var grpc = await client.GetPerformanceHistoryAsync("scorer", "v1", cancellationToken: Ct);
        Assert.Equal(written.Count, grpc.Windows.Count);
        var json = await GetJsonAsync(http, "/v1/performance/scorer/v1");
        Assert.Equal(written.Count, json.GetProperty("windows").GetArrayLength());
    }

    [Fact]
    public async Task A_model_with_a_monitor_and_nothing_stored_answers_empty_with_zero_label_counts()
    {
        var (prefix, _) = await SeedAsync();
        await using var server = await StartAsync(prefix, onPorts: false);
        using var client = server.Client(Key);
        using var http = server.Http();

        var grpc = await client.GetPerformanceHistoryAsync("pricer", "v1", cancellationToken: Ct);
        Assert.Equal(("regression", 0), (grpc.Task, grpc.Windows.Count));
        Assert.Equal(new LabelJoinCounts(), grpc.Labels);
        Assert.Empty(grpc.Reference);
        var json = await GetJsonAsync(http, "/v1/performance/pricer/v1");
        Assert.Empty(json.GetProperty("windows").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("reference").ValueKind);
        Assert.Equal(0, json.GetProperty("labels").GetProperty("joined").GetInt64());
    }

    [Fact]
    public async Task Bad_requests_get_their_status_over_grpc_and_http()
    {
        var (prefix, _) = await SeedAsync();
        await using var server = await StartAsync(prefix, onPorts: false);
        using var client = server.Client(Key);
        using var http = server.Http();

        var unknownModel = await Assert.ThrowsAsync<RpcException>(() => client.GetPerformanceHistoryAsync("nope", "v1", cancellationToken: Ct));
        Assert.Equal((StatusCode.NotFound, "no model 'nope' (models: scorer, pricer)"), (unknownModel.StatusCode, unknownModel.Status.Detail));
        var unknownVersion = await Assert.ThrowsAsync<RpcException>(() => client.GetPerformanceHistoryAsync("scorer", "v9", cancellationToken: Ct));
        Assert.Equal((StatusCode.NotFound, "model 'scorer' has no version 'v9'"), (unknownVersion.StatusCode, unknownVersion.Status.Detail));
        var negative = await Assert.ThrowsAsync<RpcException>(() => client.GetPerformanceHistoryAsync("scorer", "v1", limit: -1, cancellationToken: Ct));
        Assert.Equal((StatusCode.InvalidArgument, "limit must be 0 (for 500) or a whole number from 1 to 2000, not -1"), (negative.StatusCode, negative.Status.Detail));
        var noVersion = await Assert.ThrowsAsync<RpcException>(async () => await client.Drift.GetPerformanceHistoryAsync(
            new GetPerformanceHistoryRequest { Model = "scorer" }, new Metadata { { "x-api-key", Key } }, cancellationToken: Ct));
        Assert.Equal((StatusCode.InvalidArgument, "give the model and version: set model and version in the request"), (noVersion.StatusCode, noVersion.Status.Detail));
        using var anonymous = server.Client();
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => anonymous.GetPerformanceHistoryAsync("scorer", "v1", cancellationToken: Ct))).StatusCode);

        foreach (var (path, status, code, message) in new[]
        {
            ("/v1/performance/nope/v1", HttpStatusCode.NotFound, "NOT_FOUND", "no model 'nope' (models: scorer, pricer)"),
            ("/v1/performance/scorer/v9", HttpStatusCode.NotFound, "NOT_FOUND", "model 'scorer' has no version 'v9'"),
            ("/v1/performance/scorer/v1?limit=abc", HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "query parameter 'limit' must be a whole number from 1 to 2000, not 'abc'"),
            ("/v1/performance/scorer/v1?limit=0", HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "query parameter 'limit' must be a whole number from 1 to 2000, not '0'"),
            ("/v1/performance/scorer/v1?limit=-2", HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "query parameter 'limit' must be a whole number from 1 to 2000, not '-2'"),
            ("/v1/performance/scorer/v1?segment=de&segment=other", HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "query parameter 'segment' is given 2 times; give it once"),
            ("/v1/dashboard/performance?limit=x", HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "query parameter 'limit' must be a whole number from 1 to 2000, not 'x'"),
        })
        {
            var (actual, body) = await GetAsync(http, path);
            Assert.True(actual == status, $"{path}: {(int)actual} {body}");
            Assert.Equal((code, message), (body.GetProperty("code").GetString(), body.GetProperty("message").GetString()));
        }

        foreach (var path in new[] { "/v1/performance/scorer/v1", "/v1/dashboard/performance" })
        {
            var (refused, body) = await GetAsync(http, path, key: null);
            Assert.Equal(HttpStatusCode.Unauthorized, refused);
            Assert.Equal("UNAUTHENTICATED", body.GetProperty("code").GetString());
        }
    }

    [Fact]
    public async Task The_dashboards_performance_data_has_each_segments_newest_windows_the_label_counts_and_the_reference()
    {
        var (prefix, written) = await SeedAsync();
        await using var server = await StartAsync(prefix, onPorts: false);
        using var http = server.Http();

        var data = await GetJsonAsync(http, "/v1/dashboard/performance?limit=3");
        var models = data.GetProperty("models").EnumerateArray().ToList();
        Assert.Equal([("scorer", "v1"), ("pricer", "v1")], models.Select(m => (m.GetProperty("model").GetString(), m.GetProperty("version").GetString())));

        var scorer = models[0];
        Assert.Equal(("binary_classification", "roc_auc", "country"),
            (scorer.GetProperty("task").GetString(), scorer.GetProperty("main_metric").GetString(), scorer.GetProperty("segment_by").GetString()));
        Assert.Equal(PerformanceMetrics.Classification, scorer.GetProperty("metrics").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(15, scorer.GetProperty("evaluations").GetInt64());
        Assert.Equal(3120, scorer.GetProperty("labels").GetProperty("joined").GetInt64());
        AssertMetrics(new Dictionary<string, double> { ["roc_auc"] = 0.93, ["f1"] = 0.64, ["ece"] = double.NaN }, scorer.GetProperty("reference"));
        var segments = scorer.GetProperty("segments").EnumerateArray().ToList();
        Assert.Equal([null, "de", "other"], segments.Select(s => s.GetProperty("segment").ValueKind == JsonValueKind.Null ? null : s.GetProperty("segment").GetString()));
        foreach (var s in segments)
        {
            var name = s.GetProperty("segment").ValueKind == JsonValueKind.Null ? "" : s.GetProperty("segment").GetString();
            var expected = Expected(written, name, 3);
            var windows = s.GetProperty("windows").EnumerateArray().ToList();
            Assert.Equal(3, windows.Count);
            for (var i = 0; i < 3; i++)
            {
                AssertWindow(expected[i], windows[i]);
            }
        }

        // The regressor: its main metric is MAE, and with nothing stored it has no series (the page's empty state).
        var pricer = models[1];
        Assert.Equal(("regression", "mae"), (pricer.GetProperty("task").GetString(), pricer.GetProperty("main_metric").GetString()));
        Assert.Equal(PerformanceMetrics.Regression, pricer.GetProperty("metrics").EnumerateArray().Select(m => m.GetString()));
        Assert.Empty(pricer.GetProperty("segments").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, pricer.GetProperty("reference").ValueKind);

        // The page loads the panel's script, which reads this endpoint.
        var page = await http.GetStringAsync(new Uri("/dashboard", UriKind.Relative), Ct);
        Assert.Contains("<script src=\"/dashboard/performance.js\"></script>", page, StringComparison.Ordinal);
        Assert.Contains("id=\"performance\"", page, StringComparison.Ordinal);
        using var script = await http.GetAsync(new Uri("/dashboard/performance.js", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.Contains("/v1/dashboard/performance", await script.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }
}
