using System.Net;
using System.Text.Json;
using FeatureStore.Core.Drift;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// A segmented drift monitor's history and incidents as the dashboard, the HTTP history route and gRPC give them:
/// the charts keep to the whole column, the segments are a table of their latest windows, and every answer names
/// the segment.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DriftSegmentAnswersTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private const string Key = "segment-reader";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Segment_windows_and_incidents_carry_their_segment_and_the_charts_keep_to_the_whole_column()
    {
        var repository = DashboardTests.MonitoredRepository();
        var model = repository.Models[0];
        repository = repository with { Models = [model with { Monitors = [model.Monitors[0] with { SegmentBy = "region", Segments = 2 }, model.Monitors[1]] }] };
        var prefix = "s" + Guid.NewGuid().ToString("N")[..8];
        var database = redis.Connection.Database;
        var drift = new DriftStore(database, prefix, repository.Project);

        // Four windows of the whole column, calm; segment "eu:west" (a colon in the value) drifts from the third.
        var windows = Enumerable.Range(0, 4).SelectMany(i => new[] { (string?)null, "us", "eu:west" }.Select(segment =>
        {
            var drifted = segment == "eu:west" && i >= 2;
            return new DriftEvaluation("scorer", "v1", "score", "scorer@v1#0", i * 1000L, (i + 1) * 1000L, segment is null ? 600 : 300,
                [new DriftResult(DriftMethod.Psi, drifted ? 0.7 : 0.02, 0, 0.2, drifted)], drifted, drifted ? DriftVerdict.Drifted : DriftVerdict.NoDrift, Segment: segment);
        })).ToList();
        await drift.AppendHistoryAsync(windows);
        await database.HashSetAsync(drift.Keys.Incidents,
        [
            new HashEntry("scorer:v1:score:psi#eu:west", """{"segment":"eu:west","open":true,"alerted":true,"id":"scorer:v1:score:psi#eu:west:2000","last_alert_ms":1,"opened_ms":2000,"resolved_ms":null,"value":0.7,"threshold":0.2}"""),
            new HashEntry("scorer:v1:score:psi", """{"open":false,"alerted":true,"id":"x","last_alert_ms":1,"opened_ms":1000,"resolved_ms":2000,"value":0.01,"threshold":0.2}"""),
        ]);

        await using var server = await RunningServer.InProcessAsync(new FeatureServerOptions { Repository = repository, KeyPrefix = prefix, ApiKeys = [new ApiKey(Key)] }, redis.Connection.Multiplexer);
        using var http = server.Http();

        var dashboard = await GetJsonAsync(http, "/v1/dashboard/drift?limit=3");
        var version = Assert.Single(dashboard.GetProperty("models").EnumerateArray());
        Assert.Equal(4, version.GetProperty("windows").GetInt32()); // windows of the whole column, not entries
        var score = version.GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("column").GetString() == "score");
        var psi = Assert.Single(score.GetProperty("methods").EnumerateArray());
        var points = psi.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal([2000L, 3000, 4000], points.Select(p => p.GetProperty("end_ms").GetInt64()));
        Assert.All(points, p => Assert.Equal(600, p.GetProperty("count").GetInt64()));
        var segments = score.GetProperty("segments").EnumerateArray().ToList();
        Assert.Equal(["eu:west", "us"], segments.Select(s => s.GetProperty("segment").GetString()));
        Assert.All(segments, s => Assert.Equal(4000, s.GetProperty("end_ms").GetInt64()));
        Assert.Equal([true, false], segments.Select(s => s.GetProperty("drifted").GetBoolean()));
        Assert.Equal(0.7, segments[0].GetProperty("results")[0].GetProperty("value").GetDouble());

        var history = await GetJsonAsync(http, "/v1/drift/history?model=scorer&version=v1&column=score&limit=12");
        Assert.Equal(12, history.GetProperty("windows").GetArrayLength());
        Assert.Equal(4, history.GetProperty("windows").EnumerateArray().Count(w => w.GetProperty("segment").ValueKind == JsonValueKind.Null));

        var alerts = await GetJsonAsync(http, "/v1/dashboard/alerts");
        var open = Assert.Single(alerts.GetProperty("open").EnumerateArray());
        Assert.Equal(("score", "psi", "eu:west"), (open.GetProperty("column").GetString(), open.GetProperty("method").GetString(), open.GetProperty("segment").GetString()));
        var resolved = Assert.Single(alerts.GetProperty("resolved").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, resolved.GetProperty("segment").ValueKind);

        using var client = server.Client(Key);
        var grpc = await client.GetDriftHistoryAsync("scorer", "v1", "score", 12, Ct);
        Assert.Equal(["", "eu:west", "us"], grpc.Windows.Where(w => w.WindowStart.Seconds == 3).Select(w => w.Segment).Order(StringComparer.Ordinal));
        var incidents = await client.ListAlertsAsync(Ct);
        Assert.Equal(("score", "eu:west"), (incidents.Open[0].Column, incidents.Open[0].Segment));
        Assert.Equal("", incidents.Resolved[0].Segment);
    }

    private static async Task<JsonElement> GetJsonAsync(HttpClient http, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("x-api-key", Key);
        using var response = await http.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }
}
