using System.Net;
using System.Text.Json;
using FeatureStore.Core.Models;
using FeatureStore.Redis.Models;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Grpc.Core;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// A model's stage history as the server answers it: over gRPC (<c>Registry/GetModelHistory</c>), through the client
/// and over HTTP (<c>/v1/models/{model}/history</c>), checked against the changes written to a real redis-server by the
/// registry store; and each wrong request refused with its status.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ModelHistoryTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private const string Key = "history-reader";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(string Prefix, string Model)> SeedAsync()
    {
        var prefix = "h" + Guid.NewGuid().ToString("N")[..8];
        var repository = DashboardTests.MonitoredRepository();
        var model = repository.Models.Single().Name;
        var registry = new ModelRegistryStore(redis.Connection.Database, prefix, repository.Project);
        await registry.RegisterAsync(model, "v1", ["f:x"], null, null);
        await registry.RegisterAsync(model, "v2", ["f:x"], null, null);
        await registry.PromoteAsync(model, "v1", ModelStage.Production);
        GateResult[] gates = [new("roc_auc >= production - 0.01", 0.87, 0.89, false, null), new("lookup_p99_ms <= 5", null, 5, false, "no entity of view 'f' is in the online store to look up")];
        await registry.PromoteAsync(model, "v2", ModelStage.Production, new StageNote(StageChange.Cli, gates, true, "hotfix for the holiday traffic"));
        return (prefix, model);
    }

    private async Task<RunningServer> StartAsync(string prefix) =>
        await RunningServer.InProcessAsync(new FeatureServerOptions
        {
            Repository = DashboardTests.MonitoredRepository(),
            KeyPrefix = prefix,
            ApiKeys = [new ApiKey(Key)],
        }, redis.Connection.Multiplexer);

    [Fact]
    public async Task Grpc_the_client_and_http_return_every_stage_change_with_its_gates_and_reason()
    {
        var (prefix, model) = await SeedAsync();
        await using var server = await StartAsync(prefix);
        using var client = server.Client(Key);
        using var http = server.Http();

        var answer = await client.GetModelHistoryAsync(model, cancellationToken: Ct);
        Assert.Equal([("v1", "promote", "staging", "production", ""), ("v2", "promote", "staging", "production", "v1")],
            answer.Changes.Select(c => (c.Version, c.Action, c.FromStage, c.ToStage, c.Replaced)));
        var forced = answer.Changes[1];
        Assert.Equal((true, "hotfix for the holiday traffic", "cli"), (forced.Forced, forced.Reason, forced.Actor));
        Assert.Equal(("roc_auc >= production - 0.01", true, 0.87, true, 0.89, false), (forced.Gates[0].Gate, forced.Gates[0].HasValue, forced.Gates[0].Value, forced.Gates[0].HasBound, forced.Gates[0].Bound, forced.Gates[0].Passed));
        Assert.Equal((false, "no entity of view 'f' is in the online store to look up"), (forced.Gates[1].HasValue, forced.Gates[1].Detail));
        Assert.Single((await client.GetModelHistoryAsync(model, limit: 1, cancellationToken: Ct)).Changes, c => c.Version == "v2");

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"/v1/models/{model}/history", UriKind.Relative));
        request.Headers.Add("x-api-key", Key);
        using var response = await http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(2, body.GetArrayLength());
        Assert.Equal(("v2", "production", true, "hotfix for the holiday traffic"), (body[1].GetProperty("version").GetString(), body[1].GetProperty("to").GetString(),
            body[1].GetProperty("forced").GetBoolean(), body[1].GetProperty("reason").GetString()));
        Assert.Equal(0.87, body[1].GetProperty("gates")[0].GetProperty("value").GetDouble());
    }

    [Fact]
    public async Task Wrong_requests_are_refused_with_their_status()
    {
        var (prefix, model) = await SeedAsync();
        await using var server = await StartAsync(prefix);
        using var client = server.Client(Key);
        using var http = server.Http();

        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => client.GetModelHistoryAsync("nope", cancellationToken: Ct))).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => client.GetModelHistoryAsync(model, limit: -1, cancellationToken: Ct))).StatusCode);
        var noModel = await Assert.ThrowsAsync<RpcException>(async () => await client.Registry.GetModelHistoryAsync(
            new Contracts.V1.GetModelHistoryRequest(), new Metadata { { "x-api-key", Key } }, cancellationToken: Ct));
        Assert.Equal((StatusCode.InvalidArgument, "give the model: set model in the request"), (noModel.StatusCode, noModel.Status.Detail));
        using var anonymous = server.Client();
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => anonymous.GetModelHistoryAsync(model, cancellationToken: Ct))).StatusCode);

        // A model only the registry holds (registered with --features, not declared) has a history too.
        var registry = new ModelRegistryStore(redis.Connection.Database, prefix, DashboardTests.MonitoredRepository().Project);
        await registry.RegisterAsync("side_model", "v1", ["f:x"], null, null);
        Assert.Empty((await client.GetModelHistoryAsync("side_model", cancellationToken: Ct)).Changes);

        foreach (var (path, status) in new[]
        {
            ("/v1/models/nope/history", HttpStatusCode.NotFound),
            ($"/v1/models/{model}/history?limit=abc", HttpStatusCode.BadRequest),
            ($"/v1/models/{model}/history?limit=0", HttpStatusCode.BadRequest),
            ($"/v1/models/{model}/history?limit=1&limit=2", HttpStatusCode.BadRequest),
        })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
            request.Headers.Add("x-api-key", Key);
            using var response = await http.SendAsync(request, Ct);
            Assert.True(status == response.StatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
        }
    }
}
