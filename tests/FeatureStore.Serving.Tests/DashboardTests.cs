using System.Net;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Serving.Tests.Helpers;
using StackExchange.Redis;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// The dashboard's JSON endpoints over a store the real ingest job filled (views, freshness, lag), the
/// monitor's history and incidents, the server's own lookup latency; the page and its assets; API keys.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DashboardTests(IngestedStoreFixture data) : IClassFixture<IngestedStoreFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private FeatureServerOptions Options(IReadOnlyList<ApiKey>? keys = null, FeatureRepository? repository = null, string? prefix = null) => new()
    {
        Repository = repository ?? data.Scenario.Repository,
        KeyPrefix = prefix ?? data.Scenario.KeyPrefix,
        ApiKeys = keys ?? [],
    };

    private static async Task<JsonElement> GetJsonAsync(HttpClient http, string path, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Add("x-api-key", key);
        }

        using var response = await http.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    [Fact]
    public async Task Overview_shows_each_view_with_the_freshness_and_lag_the_ingest_job_published()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var http = server.Http();
        var overview = await GetJsonAsync(http, "/v1/dashboard/overview");

        Assert.Equal("stest", overview.GetProperty("project").GetString());
        var partitions = overview.GetProperty("ingest").EnumerateArray().ToList();
        Assert.Equal(4, partitions.Count);
        Assert.All(partitions, p =>
        {
            Assert.Equal("ingest", p.GetProperty("group").GetString());
            Assert.Equal(data.Scenario.Topic, p.GetProperty("topic").GetString());
            Assert.Equal(0, p.GetProperty("lag").GetInt64());
        });
        var newest = data.Scenario.Events.Where(e => e.Time <= data.NowMs).Max(e => e.Time);
        Assert.Equal(newest, partitions.Max(p => p.GetProperty("newest_event_ms").GetInt64()));

        var views = overview.GetProperty("views").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!);
        Assert.Equal(data.Scenario.Repository.FeatureViews.Select(v => v.Name).Order(), views.Keys.Order());
        var user = views["user_stats"];
        Assert.Equal(newest, user.GetProperty("newest_event_ms").GetInt64());
        Assert.InRange(user.GetProperty("freshness_ms").GetInt64(), 0, (long)TimeSpan.FromHours(4).TotalMilliseconds);
        Assert.Equal(0, user.GetProperty("lag").GetInt64());
        Assert.Equal(4, user.GetProperty("partitions").GetInt32());
        // The lookup panel's inputs: the entity's join keys.
        Assert.Equal(["user_id"], user.GetProperty("join_keys").EnumerateArray().Select(k => k.GetString()));
    }

    [Fact]
    public async Task Latency_reports_the_servers_own_recent_lookups()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var client = server.Client();
        for (var i = 0; i < 25; i++)
        {
            await client.GetOnlineFeaturesAsync(["user_stats:n_1h"], [new Dictionary<string, string> { ["user_id"] = "u" + i }], cancellationToken: Ct);
        }

        using var http = server.Http();
        var latency = await GetJsonAsync(http, "/v1/dashboard/latency");
        Assert.True(latency.GetProperty("count").GetInt32() >= 25);
        var p50 = latency.GetProperty("p50_ms").GetDouble();
        var p99 = latency.GetProperty("p99_ms").GetDouble();
        Assert.InRange(p50, 0.0001, p99);
        var series = latency.GetProperty("series").EnumerateArray().ToList();
        Assert.NotEmpty(series);
        Assert.True(series.Sum(s => s.GetProperty("count").GetInt32()) >= 25);
    }

    [Fact]
    public async Task Drift_and_alerts_read_the_monitors_history_and_incidents()
    {
        var repository = MonitoredRepository();
        var prefix = "d" + Guid.NewGuid().ToString("N")[..8];
        var database = data.Store.Database;
        var store = new DriftStore(database, prefix, repository.Project);
        var windows = Enumerable.Range(0, 6).Select(i => new DriftEvaluation("scorer", "v1", "score", "scorer@v1#0", i * 1000L, (i + 1) * 1000L, 500,
            [
                new DriftResult(DriftMethod.Psi, i >= 3 ? 0.5 : 0.01, i >= 3 ? 0.5 : 0.01, 0.2, i >= 3),
                new DriftResult(DriftMethod.Ks, i >= 3 ? 1e-9 : 0.6, 0.05, 0.05, i >= 3),
            ], i >= 3)).ToList();
        await store.AppendHistoryAsync(windows);
        await database.HashSetAsync(store.Keys.Incidents,
        [
            new HashEntry("scorer:v1:score:psi", """{"open":true,"alerted":true,"id":"scorer:v1:score:psi:3000","last_alert_ms":1,"opened_ms":3000,"resolved_ms":null,"value":0.5,"threshold":0.2}"""),
            new HashEntry("scorer:v1:user_txn:amount:psi", """{"open":false,"alerted":true,"id":"x","last_alert_ms":1,"opened_ms":1000,"resolved_ms":2000,"value":0.01,"threshold":0.2}"""),
        ]);

        await using var server = await RunningServer.InProcessAsync(Options(repository: repository, prefix: prefix), data.Store.Multiplexer);
        using var http = server.Http();
        var drift = await GetJsonAsync(http, "/v1/dashboard/drift?limit=4");
        var model = Assert.Single(drift.GetProperty("models").EnumerateArray());
        Assert.Equal("scorer", model.GetProperty("model").GetString());
        Assert.Equal("v1", model.GetProperty("version").GetString());
        var score = model.GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("column").GetString() == "score");
        var psi = score.GetProperty("methods").EnumerateArray().Single(m => m.GetProperty("method").GetString() == "psi");
        Assert.Equal(0.2, psi.GetProperty("threshold").GetDouble());
        Assert.False(psi.GetProperty("lower_is_drift").GetBoolean());
        var points = psi.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal([3000L, 4000, 5000, 6000], points.Select(p => p.GetProperty("end_ms").GetInt64()));
        Assert.Equal([false, true, true, true], points.Select(p => p.GetProperty("drifted").GetBoolean()));
        var ks = score.GetProperty("methods").EnumerateArray().Single(m => m.GetProperty("method").GetString() == "ks");
        Assert.True(ks.GetProperty("lower_is_drift").GetBoolean());
        var amount = model.GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("column").GetString() == "user_txn:amount");
        Assert.Empty(amount.GetProperty("methods").EnumerateArray());

        // The link alerts carry: the model version's windows, oldest first, optionally one column.
        var history = await GetJsonAsync(http, "/v1/drift/history?model=scorer&version=v1&column=score&limit=3");
        Assert.Equal([3000L, 4000, 5000], history.GetProperty("windows").EnumerateArray().Select(w => w.GetProperty("window_start_ms").GetInt64()));
        using (var unknown = await http.GetAsync(new Uri("/v1/drift/history?model=scorer&version=v9", UriKind.Relative), Ct))
        {
            Assert.Equal(System.Net.HttpStatusCode.NotFound, unknown.StatusCode);
            using var error = JsonDocument.Parse(await unknown.Content.ReadAsStringAsync(Ct));
            Assert.Equal("model 'scorer' has no version 'v9'", error.RootElement.GetProperty("message").GetString());
        }

        var alerts = await GetJsonAsync(http, "/v1/dashboard/alerts");
        var open = Assert.Single(alerts.GetProperty("open").EnumerateArray());
        Assert.Equal("score", open.GetProperty("column").GetString());
        Assert.Equal("psi", open.GetProperty("method").GetString());
        Assert.Equal(3000, open.GetProperty("opened_ms").GetInt64());
        var resolved = Assert.Single(alerts.GetProperty("resolved").EnumerateArray());
        Assert.Equal("user_txn:amount", resolved.GetProperty("column").GetString());
        Assert.Equal(2000, resolved.GetProperty("resolved_ms").GetInt64());
        Assert.Equal(0, alerts.GetProperty("pending_deliveries").GetInt64());
    }

    [Fact]
    public async Task The_page_and_its_assets_are_served_and_the_root_leads_to_it()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var http = server.Http();
        using var root = await http.GetAsync("/", Ct);
        Assert.Equal(HttpStatusCode.Redirect, root.StatusCode);
        Assert.Equal("/dashboard", root.Headers.Location?.OriginalString);

        var page = await http.GetStringAsync("/dashboard", Ct);
        Assert.Contains("<script src=\"/dashboard/dashboard.js\"></script>", page, StringComparison.Ordinal);
        using var script = await http.GetAsync("/dashboard/dashboard.js", Ct);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.Contains("/v1/dashboard/", await script.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        using var style = await http.GetAsync("/dashboard/dashboard.css", Ct);
        Assert.Equal(HttpStatusCode.OK, style.StatusCode);
        // Every script the page names is served.
        foreach (var name in System.Text.RegularExpressions.Regex.Matches(page, "<script src=\"(/dashboard/[^\"]+)\"").Select(m => m.Groups[1].Value))
        {
            using var asset = await http.GetAsync(name, Ct);
            Assert.True(asset.StatusCode == HttpStatusCode.OK, $"{name}: {asset.StatusCode}");
        }

        using var missing = await http.GetAsync("/dashboard/secrets.txt", Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task With_api_keys_the_data_needs_a_key_and_a_view_limited_key_sees_only_its_views()
    {
        await using var server = await RunningServer.InProcessAsync(Options(keys: [new ApiKey("k-all"), new ApiKey("k-user", ["user_stats"])]), data.Store.Multiplexer);
        using var http = server.Http();

        // The page itself holds no data: it loads without a key and asks for one.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/dashboard", Ct)).StatusCode);
        foreach (var path in new[] { "/v1/dashboard/overview", "/v1/dashboard/drift", "/v1/dashboard/alerts", "/v1/dashboard/latency" })
        {
            using var refused = await http.GetAsync(path, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Contains("UNAUTHENTICATED", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/v1/dashboard/overview"))
        {
            wrong.Headers.Add("x-api-key", "nope");
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong, Ct)).StatusCode);
        }

        var all = await GetJsonAsync(http, "/v1/dashboard/overview", "k-all");
        Assert.Equal(data.Scenario.Repository.FeatureViews.Count, all.GetProperty("views").GetArrayLength());
        var limited = await GetJsonAsync(http, "/v1/dashboard/overview", "k-user");
        Assert.Equal(["user_stats"], limited.GetProperty("views").EnumerateArray().Select(v => v.GetProperty("name").GetString()));

        using var bearer = new HttpRequestMessage(HttpMethod.Get, "/v1/dashboard/latency");
        bearer.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "k-all");
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(bearer, Ct)).StatusCode);
    }

    internal static FeatureRepository MonitoredRepository()
    {
        const string Yaml = """
            project: dtest
            entities:
              - name: user
                join_keys: [user_id]
            sources:
              - name: txns
                kafka:
                  topic: dtest-txns
                timestamp_field: event_time
                fields:
                  user_id: string
                  amount: double
                  event_time: timestamp
            feature_views:
              - name: user_txn
                entity: user
                source: txns
                ttl: 1d
                features:
                  - name: amount
                    aggregation: sum
                    field: amount
                    window: 1h
            models:
              - name: scorer
                prediction:
                  topic: dtest-predictions
                  timestamp_field: event_time
                  fields:
                    score: double
                    event_time: timestamp
                versions:
                  - version: v1
                    features: [user_txn:amount]
                monitors:
                  - column: score
                    methods: [psi, ks]
                    window: { count: 500 }
                  - column: user_txn:amount
                    methods: [psi]
                    window: { count: 500 }
            """;
        var result = FeatureRepositoryLoader.LoadFromText(Yaml, "dtest.yaml");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Repository!;
    }
}
