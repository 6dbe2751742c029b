using System.Net;
using System.Text.Json;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Grpc.Core;
using Grpc.Health.V1;
using StackExchange.Redis;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// Drift history and alerts over gRPC (<c>featurestore.v1.DriftMonitor</c>) answering as the HTTP routes do, the
/// registry's HTTP mirror, gRPC health per service, and the JSON error of every query parameter of every route.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DriftAndRegistryMirrorTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private const string Key = "drift-reader";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly FeatureRepository Repository = DashboardTests.MonitoredRepository();

    /// <summary>Six windows of scorer@v1 for both columns (drifting from the fourth on), an open and a resolved incident.</summary>
    private async Task<string> SeedAsync()
    {
        var prefix = "m" + Guid.NewGuid().ToString("N")[..8];
        var database = redis.Connection.Database;
        var windows = Enumerable.Range(0, 6).SelectMany(i => new[] { "score", "user_txn:amount" }.Select(column =>
            new DriftEvaluation("scorer", "v1", column, "scorer@v1#0", i * 1000L, (i + 1) * 1000L, 500 + i,
            [
                new DriftResult(DriftMethod.Psi, i >= 3 ? 0.5 : 0.01, i >= 3 ? 0.5 : 0.01, 0.2, i >= 3),
                new DriftResult(DriftMethod.Ks, i >= 3 ? 1e-9 : 0.6, 0.05, 0.05, i >= 3),
            ], i >= 3))).ToList();
        var drift = new DriftStore(database, prefix, Repository.Project);
        await drift.AppendHistoryAsync(windows);
        await database.HashSetAsync(drift.Keys.Incidents,
        [
            new HashEntry("scorer:v1:score:psi", """{"open":true,"alerted":true,"id":"scorer:v1:score:psi:3000","last_alert_ms":1,"opened_ms":3000,"resolved_ms":null,"value":0.5,"threshold":0.2}"""),
            new HashEntry("scorer:v1:user_txn:amount:psi", """{"open":false,"alerted":true,"id":"x","last_alert_ms":1,"opened_ms":1000,"resolved_ms":2000,"value":0.01,"threshold":0.2}"""),
        ]);
        return prefix;
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

    private static async Task<JsonElement> GetJsonAsync(HttpClient http, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("x-api-key", Key);
        using var response = await http.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Drift_history_over_grpc_takes_the_http_routes_filters_and_gives_the_same_windows(bool onPorts)
    {
        var prefix = await SeedAsync();
        await using var server = await StartAsync(prefix, onPorts);
        using var client = server.Client(Key);
        using var http = server.Http();

        foreach (var (column, limit) in new[] { ((string?)null, 0), ("score", 3), ("user_txn:amount", 0), (null, 4), ("score", 5000) })
        {
            var grpc = await client.GetDriftHistoryAsync("scorer", "v1", column, limit, Ct);
            var query = "/v1/drift/history?model=scorer&version=v1" + (column is null ? "" : "&column=" + Uri.EscapeDataString(column)) + (limit == 0 ? "" : $"&limit={limit}");
            var json = await GetJsonAsync(http, query);
            var windows = json.GetProperty("windows").EnumerateArray().ToList();
            Assert.Equal(windows.Count, grpc.Windows.Count);
            Assert.Equal(windows.Select(w => w.GetProperty("column").GetString()), grpc.Windows.Select(w => w.Column));
            Assert.Equal(windows.Select(w => w.GetProperty("window_start_ms").GetInt64()), grpc.Windows.Select(w => w.WindowStart.ToDateTimeOffset().ToUnixTimeMilliseconds()));
            Assert.Equal(windows.Select(w => w.GetProperty("window_end_ms").GetInt64()), grpc.Windows.Select(w => w.WindowEnd.ToDateTimeOffset().ToUnixTimeMilliseconds()));
            Assert.Equal(windows.Select(w => w.GetProperty("count").GetInt64()), grpc.Windows.Select(w => w.Count));
            Assert.Equal(windows.Select(w => w.GetProperty("drifted").GetBoolean()), grpc.Windows.Select(w => w.Drifted));
            Assert.All(grpc.Windows, w => Assert.Equal(column ?? w.Column, w.Column));
            Assert.Equal(column ?? "", grpc.Column);
        }

        var three = await client.GetDriftHistoryAsync("scorer", "v1", "score", 3, Ct);
        Assert.Equal([4000L, 5000, 6000], three.Windows.Select(w => w.WindowEnd.ToDateTimeOffset().ToUnixTimeMilliseconds()));
        Assert.Equal([503L, 504, 505], three.Windows.Select(w => w.Count));
        Assert.Equal("scorer@v1#0", three.Windows[0].BaselineId);
        var psi = three.Windows[^1].Results.Single(r => r.Method == "psi");
        Assert.Equal((0.5, 0.2, true, false), (psi.Value, psi.Threshold, psi.Drifted, psi.LowerIsDrift));
        var ks = three.Windows[0].Results.Single(r => r.Method == "ks");
        Assert.Equal((1e-9, true, true), (ks.Value, ks.Drifted, ks.LowerIsDrift));
        Assert.Equal(12, (await client.GetDriftHistoryAsync("scorer", "v1", cancellationToken: Ct)).Windows.Count);

        var unknownVersion = await Assert.ThrowsAsync<RpcException>(() => client.GetDriftHistoryAsync("scorer", "v9", cancellationToken: Ct));
        Assert.Equal((StatusCode.NotFound, "model 'scorer' has no version 'v9'"), (unknownVersion.StatusCode, unknownVersion.Status.Detail));
        var unknownModel = await Assert.ThrowsAsync<RpcException>(() => client.GetDriftHistoryAsync("nope", "v1", cancellationToken: Ct));
        Assert.Equal((StatusCode.NotFound, "no model 'nope' (models: scorer)"), (unknownModel.StatusCode, unknownModel.Status.Detail));
        var noVersion = await Assert.ThrowsAsync<RpcException>(async () => await client.Drift.GetDriftHistoryAsync(
            new GetDriftHistoryRequest { Model = "scorer" }, new Metadata { { "x-api-key", Key } }, cancellationToken: Ct));
        Assert.Equal((StatusCode.InvalidArgument, "give the model and version: set model and version in the request"), (noVersion.StatusCode, noVersion.Status.Detail));
        var negative = await Assert.ThrowsAsync<RpcException>(() => client.GetDriftHistoryAsync("scorer", "v1", limit: -1, cancellationToken: Ct));
        Assert.Equal((StatusCode.InvalidArgument, "limit must be 0 (for 500) or a whole number from 1 to 2000, not -1"), (negative.StatusCode, negative.Status.Detail));

        using var anonymous = server.Client();
        var refused = await Assert.ThrowsAsync<RpcException>(() => anonymous.GetDriftHistoryAsync("scorer", "v1", cancellationToken: Ct));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        var alertsRefused = await Assert.ThrowsAsync<RpcException>(() => anonymous.ListAlertsAsync(Ct));
        Assert.Equal(StatusCode.Unauthenticated, alertsRefused.StatusCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Alerts_over_grpc_are_the_incidents_the_http_route_shows(bool onPorts)
    {
        var prefix = await SeedAsync();
        await using var server = await StartAsync(prefix, onPorts);
        using var client = server.Client(Key);
        using var http = server.Http();

        var alerts = await client.ListAlertsAsync(Ct);
        var json = await GetJsonAsync(http, "/v1/dashboard/alerts");
        var open = Assert.Single(alerts.Open);
        Assert.Equal(json.GetProperty("open")[0].GetProperty("key").GetString(), open.Key);
        Assert.Equal(("scorer", "v1", "score", "psi", true, true), (open.Model, open.Version, open.Column, open.Method, open.Open, open.Alerted));
        Assert.Equal(3000, open.OpenedAt.ToDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Null(open.ResolvedAt);
        Assert.Equal((0.5, 0.2), (open.Value, open.Threshold));
        var resolved = Assert.Single(alerts.Resolved);
        Assert.Equal(json.GetProperty("resolved")[0].GetProperty("key").GetString(), resolved.Key);
        Assert.Equal(("user_txn:amount", false), (resolved.Column, resolved.Open));
        Assert.Equal(2000, resolved.ResolvedAt.ToDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal(json.GetProperty("pending_deliveries").GetInt64(), alerts.PendingDeliveries);
        Assert.Equal(json.GetProperty("rejected_deliveries").GetInt64(), alerts.RejectedDeliveries);
    }

    [Fact]
    public async Task The_drift_overview_counts_windows_not_windows_times_columns()
    {
        var prefix = await SeedAsync();
        await using var server = await StartAsync(prefix, onPorts: false);
        using var http = server.Http();
        var model = (await GetJsonAsync(http, "/v1/dashboard/drift")).GetProperty("models")[0];
        Assert.Equal(6, model.GetProperty("windows").GetInt32());
        Assert.Equal(12, model.GetProperty("evaluations").GetInt32());
        Assert.All(model.GetProperty("columns").EnumerateArray(), c =>
            Assert.All(c.GetProperty("methods").EnumerateArray(), m => Assert.Equal(6, m.GetProperty("points").GetArrayLength())));
    }

    [Fact]
    public async Task The_registry_http_mirror_answers_as_the_grpc_listing_and_needs_a_key()
    {
        await using var server = await RunningServer.InProcessAsync(Options("r" + Guid.NewGuid().ToString("N")[..8]), redis.Connection.Multiplexer);
        using var http = server.Http();
        using (var refused = await http.GetAsync(new Uri("/v1/registry", UriKind.Relative), Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(Ct));
            Assert.Equal("UNAUTHENTICATED", error.RootElement.GetProperty("code").GetString());
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/v1/registry", UriKind.Relative));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Key);
        using var response = await http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var mirrored = Google.Protobuf.JsonParser.Default.Parse<ListDefinitionsResponse>(await response.Content.ReadAsStringAsync(Ct));
        using var client = server.Client(Key);
        Assert.Equal(await client.ListDefinitionsAsync(Ct), mirrored);
        Assert.Equal("dtest", mirrored.Repository.Project);
        Assert.Equal(["scorer"], mirrored.Models.Select(m => m.Name));
    }

    [Theory]
    [InlineData("/v1/drift/history?model=scorer&version=v1&limit=abc", "query parameter 'limit' must be a whole number from 1 to 2000, not 'abc'")]
    [InlineData("/v1/drift/history?model=scorer&version=v1&limit=0", "query parameter 'limit' must be a whole number from 1 to 2000, not '0'")]
    [InlineData("/v1/drift/history?model=scorer&version=v1&limit=-3", "query parameter 'limit' must be a whole number from 1 to 2000, not '-3'")]
    [InlineData("/v1/drift/history?model=scorer&version=v1&limit=1e3", "query parameter 'limit' must be a whole number from 1 to 2000, not '1e3'")]
    [InlineData("/v1/drift/history?model=scorer&model=other&version=v1", "query parameter 'model' is given 2 times; give it once")]
    [InlineData("/v1/drift/history?model=scorer&version=v1&version=v2", "query parameter 'version' is given 2 times; give it once")]
    [InlineData("/v1/drift/history?model=scorer&version=v1&column=a&column=b", "query parameter 'column' is given 2 times; give it once")]
    [InlineData("/v1/drift/history?model=scorer", "give the model and version: /v1/drift/history?model=M&version=V[&column=C][&limit=N]")]
    [InlineData("/v1/dashboard/drift?limit=abc", "query parameter 'limit' must be a whole number from 1 to 2000, not 'abc'")]
    [InlineData("/v1/dashboard/drift?limit=", "query parameter 'limit' must be a whole number from 1 to 2000, not ''")]
    [InlineData("/v1/dashboard/drift?limit=99999999999999999999", "query parameter 'limit' must be a whole number from 1 to 2000, not '99999999999999999999'")]
    public async Task A_bad_query_parameter_is_a_400_with_the_json_error_naming_it(string path, string message)
    {
        await using var server = await RunningServer.InProcessAsync(Options("q" + Guid.NewGuid().ToString("N")[..8]), redis.Connection.Multiplexer);
        using var http = server.Http();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        request.Headers.Add("x-api-key", Key);
        using var response = await http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path}: {(int)response.StatusCode} {text}");
        Assert.DoesNotContain("\\u0027", text, StringComparison.Ordinal);
        using var body = JsonDocument.Parse(text);
        Assert.Equal("INVALID_ARGUMENT", body.RootElement.GetProperty("code").GetString());
        Assert.Equal(message, body.RootElement.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Grpc_health_answers_for_every_service_and_not_found_for_others()
    {
        await using var server = await RunningServer.OnPortsAsync((grpc, http) => Options("h" + Guid.NewGuid().ToString("N")[..8], grpc, http), redis.Connection.Multiplexer);
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(server.Server.GrpcAddress);
        var health = new Health.HealthClient(channel);
        foreach (var service in new[] { "", "featurestore.v1.OnlineFeatures", "featurestore.v1.Registry", "featurestore.v1.ExportJobs", "featurestore.v1.DriftMonitor" })
        {
            var answer = await health.CheckAsync(new HealthCheckRequest { Service = service }, cancellationToken: Ct);
            Assert.True(answer.Status == HealthCheckResponse.Types.ServingStatus.Serving, $"'{service}': {answer.Status}");
        }

        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await health.CheckAsync(new HealthCheckRequest { Service = "featurestore.v1.Nope" }, cancellationToken: Ct));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }
}
