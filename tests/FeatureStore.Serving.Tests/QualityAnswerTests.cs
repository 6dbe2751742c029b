using System.Net;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Quality;
using FeatureStore.Redis.Quality;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// What serving does for freshness and quality monitoring (docs/quality.md) over a store the real ingest job filled:
/// the served values it counts into the online store's buckets, and the quality answer <c>/v1/quality</c>.
/// </summary>
[Trait("Category", "Integration")]
public sealed class QualityAnswerTests(IngestedStoreFixture data) : IClassFixture<IngestedStoreFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private FeatureServerOptions Options(string prefix, IReadOnlyList<ApiKey>? keys = null) => new()
    {
        // user_stats with a range no count can meet: every present n_1h is out of it.
        Repository = data.Scenario.Repository with
        {
            FeatureViews = [.. data.Scenario.Repository.FeatureViews.Select(v => v.Name != "user_stats" ? v
                : v with { Quality = new ViewQualityDefinition(60_000, 1, 0.5, null, null, null, [new FeatureRange("n_1h", -2, -1)]) })],
        },
        KeyPrefix = prefix,
        ApiKeys = keys ?? [],
    };

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient http, string path, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Add("x-api-key", key);
        }

        using var response = await http.SendAsync(request, Ct);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone());
    }

    [Fact]
    public async Task Lookups_count_each_features_statuses_and_range_violations_into_the_current_bucket()
    {
        await using var server = await RunningServer.InProcessAsync(Options(data.Scenario.KeyPrefix), data.Store.Multiplexer);
        using var client = server.Client();
        var known = data.Scenario.Events.MaxBy(e => e.Time)!.User;
        for (var i = 0; i < 3; i++)
        {
            await client.GetOnlineFeaturesAsync(["user_stats:n_1h", "user_stats:n_all"], [new Dictionary<string, string> { ["user_id"] = known }, new Dictionary<string, string> { ["user_id"] = "nobody-" + i }], cancellationToken: Ct);
        }

        var counts = new QualityCounts(data.Store.Database, new QualityKeys(data.Scenario.KeyPrefix, PaymentsScenario.Project));
        Dictionary<string, long> window = [];
        await Eventually.TrueAsync(async () =>
        {
            window = QualityRules.Sum(await counts.ReadServedAsync(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 60_000), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 60_000, QualityKeys.BucketMs);
            return window.GetValueOrDefault("user_stats:n_all:total") == 6;
        }, TimeSpan.FromSeconds(10), "the served values flushed to the bucket", Ct);
        Assert.Equal(6, window["user_stats:n_1h:total"]);
        Assert.Equal(3, window["user_stats:n_1h:not_found"]);
        Assert.Equal(3, window["user_stats:n_all:not_found"]);
        Assert.False(window.ContainsKey("user_stats:n_all:out_of_range")); // no range declared
        // Every present count (0 over an empty window included) is outside [-2, -1].
        Assert.Equal(3 - window.GetValueOrDefault("user_stats:n_1h:outside_ttl"), window.GetValueOrDefault("user_stats:n_1h:out_of_range"));
    }

    [Fact]
    public async Task The_quality_answer_shows_the_latest_report_and_a_view_limited_key_only_its_views_and_their_sources()
    {
        var prefix = "q" + Guid.NewGuid().ToString("N")[..8];
        await using var server = await RunningServer.InProcessAsync(Options(prefix, [new ApiKey("k-all"), new ApiKey("k-user", ["user_stats"])]), data.Store.Multiplexer);
        using var http = server.Http();
        var (status, empty) = await GetAsync(http, "/v1/quality", "k-all");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(JsonValueKind.Null, empty.GetProperty("report").ValueKind);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(http, "/v1/quality")).Status);

        var keys = new QualityKeys(prefix, PaymentsScenario.Project);
        var merchantView = data.Scenario.Repository.FeatureViews.First(v => v.Entity == "merchant").Name;
        var source = data.Scenario.Repository.FeatureViews[0].Source;
        QualityCheck[] checks =
        [
            new("freshness", "user_stats", null, null, null, "age_seconds", 12.5, 60, 60_000, 0, QualityVerdict.Ok),
            new("quality", merchantView, null, "n", null, "not_found_rate", 0.9, 0.5, 60_000, 100, QualityVerdict.Breach),
            new("quality", null, source, null, null, "dead_letter_rate", 0.0, 0.1, 60_000, 0, QualityVerdict.InsufficientData),
        ];
        await data.Store.Database.StringSetAsync(keys.Status, JsonSerializer.Serialize(new QualityReport(1, 1000, checks), new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
        await data.Store.Database.HashSetAsync(keys.Incidents, $"quality:view:{merchantView}:n:not_found_rate", """{"open":true,"alerted":true,"opened_ms":5,"resolved_ms":null,"value":0.9,"threshold":0.5}""");

        var all = (await GetAsync(http, "/v1/quality", "k-all")).Body;
        Assert.Equal(["ok", "breach", "insufficient_data"], all.GetProperty("report").GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("verdict").GetString()));
        Assert.Equal(1, all.GetProperty("open").GetArrayLength());

        var limited = (await GetAsync(http, "/v1/quality", "k-user")).Body;
        Assert.Equal(["user_stats", null], limited.GetProperty("report").GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("view").GetString()));
        Assert.Equal(0, limited.GetProperty("open").GetArrayLength());

        // A report this version cannot read (written by another) is no report, not an error.
        await data.Store.Database.StringSetAsync(keys.Status, "{\"checks\": 3}");
        var (again, unreadable) = await GetAsync(http, "/v1/quality", "k-all");
        Assert.Equal((HttpStatusCode.OK, JsonValueKind.Null), (again, unreadable.GetProperty("report").ValueKind));
    }
}
