using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Registry;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;

namespace FeatureStore.Serving.Tests;

/// <summary>The registry service, the cached registry's refresh on apply, health, readiness, reflection and metrics.</summary>
[Trait("Category", "Integration")]
public sealed class RegistryServiceTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task ApplyAsync(RegistryStore store, string project, string yaml)
    {
        var load = FeatureRepositoryLoader.LoadFromText(yaml, "r.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        await store.ApplyAsync(project, load.Repository!.ContentHash(), load.Repository.ToCanonicalJson(), yaml, Ct);
    }

    [Fact]
    public async Task A_server_on_the_registry_waits_for_a_version_then_follows_each_apply()
    {
        var project = "r" + Guid.NewGuid().ToString("N")[..8];
        var prefix = "p" + Guid.NewGuid().ToString("N")[..8];
        var yaml = new PaymentsScenario("payments").RepositoryYaml.Replace("project: stest", "project: " + project, StringComparison.Ordinal);
        var store = new RegistryStore(redis.Connection.Database, prefix);
        await using var server = await RunningServer.InProcessAsync(new FeatureServerOptions { Project = project, KeyPrefix = prefix }, redis.Connection.Multiplexer);
        using var client = server.Client();
        using var http = server.Http();
        var request = new GetOnlineFeaturesRequest { Features = { "merchant_stats:max_1h" }, Entities = { new EntityRow { JoinKeys = { ["merchant_id"] = "m1" } } } };

        var none = await Assert.ThrowsAsync<RpcException>(() => client.GetOnlineFeaturesAsync(request, Ct));
        Assert.Equal(StatusCode.Unavailable, none.StatusCode);
        Assert.Equal($"no repository version of project '{project}' is loaded yet: apply one with `featurestore apply`", none.Status.Detail);
        using (var notReady = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct))
        {
            Assert.Equal(503, (int)notReady.StatusCode);
        }

        await ApplyAsync(store, project, yaml);
        await Eventually.TrueAsync(async () => (await client.ListDefinitionsAsync(Ct)).Repository.Version == 1, TimeSpan.FromSeconds(10), "version 1 served", Ct);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => client.GetOnlineFeaturesAsync(request, Ct));
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        using (var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct))
        {
            Assert.Equal(200, (int)ready.StatusCode);
        }

        await ApplyAsync(store, project, yaml.Replace(
            "      - { name: mean_1h, aggregation: mean, field: amount, window: 1h }",
            "      - { name: mean_1h, aggregation: mean, field: amount, window: 1h }\n      - { name: max_1h, aggregation: max, field: amount, window: 1h }",
            StringComparison.Ordinal));
        await Eventually.TrueAsync(async () => (await client.ListDefinitionsAsync(Ct)).Repository.Version == 2, TimeSpan.FromSeconds(10), "version 2 served", Ct);
        var answer = await client.GetOnlineFeaturesAsync(request, Ct);
        Assert.Equal(2, answer.Response.RegistryVersion);
        // A feature added by a change is built beside the serving state: it answers BUILDING until switched in.
        Assert.Equal(FeatureStatus.Building, answer.Response.Rows[0].Values[0].Status);
        var feature = await client.Registry.DescribeFeatureAsync(new DescribeRequest { Name = "merchant_stats:max_1h" }, cancellationToken: Ct);
        Assert.Equal("max", feature.Aggregation);
        Assert.Equal(3_600_000, feature.WindowMs);
    }

    [Fact]
    public async Task The_registry_lists_and_describes_what_the_repository_declares()
    {
        var scenario = new PaymentsScenario("payments");
        await using var server = await RunningServer.InProcessAsync(new FeatureServerOptions { Repository = scenario.Repository }, redis.Connection.Multiplexer);
        using var client = server.Client();
        var registry = client.Registry;

        var all = await client.ListDefinitionsAsync(Ct);
        Assert.Equal("stest", all.Repository.Project);
        Assert.Equal(0, all.Repository.Version);
        Assert.Equal(scenario.Repository.ContentHash(), all.Repository.ContentHash);
        Assert.Equal(["user", "merchant"], all.Entities.Select(e => e.Name));
        Assert.Equal(["user_stats", "user_spend", "merchant_stats"], all.FeatureViews.Select(v => v.Name));

        var user = await registry.DescribeEntityAsync(new DescribeRequest { Name = "user" }, cancellationToken: Ct);
        Assert.Equal(["user_id"], user.JoinKeys);
        var view = await registry.DescribeFeatureViewAsync(new DescribeRequest { Name = "user_spend" }, cancellationToken: Ct);
        Assert.Equal(7_200_000, view.TtlMs);
        Assert.Equal(["user_id"], view.JoinKeys);
        Assert.Equal(["double", "double", "int64", "double"], view.Features.Select(f => f.ValueType));
        var last = await registry.DescribeFeatureAsync(new DescribeRequest { Name = "user_stats:last_country" }, cancellationToken: Ct);
        Assert.Equal(("last", "country", "string", 0L), (last.Aggregation, last.Field, last.ValueType, last.WindowMs));
        var sum = await registry.DescribeFeatureAsync(new DescribeRequest { Name = "user_stats:sum_1h" }, cancellationToken: Ct);
        Assert.Equal((3_600_000L, 60_000L), (sum.WindowMs, sum.HopMs));
        var features = await registry.ListFeaturesAsync(new ListFeaturesRequest { FeatureView = "merchant_stats" }, cancellationToken: Ct);
        Assert.Equal(["merchant_stats:n_1h", "merchant_stats:sum_1h", "merchant_stats:mean_1h"], features.Features.Select(f => f.Reference));
        Assert.Equal(13, (await registry.ListFeaturesAsync(new ListFeaturesRequest(), cancellationToken: Ct)).Features.Count);
        var model = await registry.DescribeModelAsync(new DescribeRequest { Name = "fraud" }, cancellationToken: Ct);
        Assert.Equal(["v1", "v2"], model.Versions.Select(v => v.Version));
        Assert.Equal(["user_stats:n_1h", "merchant_stats:sum_1h"], model.Versions[0].Features);
        Assert.Single((await registry.ListModelsAsync(new ListModelsRequest(), cancellationToken: Ct)).Models);
        Assert.Equal(2, (await registry.ListEntitiesAsync(new ListEntitiesRequest(), cancellationToken: Ct)).Entities.Count);
        Assert.Equal(3, (await registry.ListFeatureViewsAsync(new ListFeatureViewsRequest(), cancellationToken: Ct)).FeatureViews.Count);

        var missing = await Assert.ThrowsAsync<RpcException>(async () => await registry.DescribeFeatureViewAsync(new DescribeRequest { Name = "nope" }, cancellationToken: Ct));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Equal("no feature view 'nope'", missing.Status.Detail);
        var bare = await Assert.ThrowsAsync<RpcException>(async () => await registry.DescribeFeatureAsync(new DescribeRequest { Name = "n_1h" }, cancellationToken: Ct));
        Assert.Equal("no feature 'n_1h (name it view:feature)'", bare.Status.Detail);
    }

    [Fact]
    public async Task Health_reflection_and_metrics_answer_on_real_ports()
    {
        var scenario = new PaymentsScenario("payments");
        await using var server = await RunningServer.OnPortsAsync(
            (g, h) => new FeatureServerOptions { Repository = scenario.Repository, KeyPrefix = "h" + Guid.NewGuid().ToString("N")[..8], GrpcPort = g, HttpPort = h },
            redis.Connection.Multiplexer);
        using var client = server.Client();
        await client.GetOnlineFeaturesAsync(["user_stats:n_1h"], [new Dictionary<string, string> { ["user_id"] = "u1" }], cancellationToken: Ct);
        await Assert.ThrowsAsync<RpcException>(() => client.GetOnlineFeaturesAsync(["user_stats:nope"], [new Dictionary<string, string> { ["user_id"] = "u1" }], cancellationToken: Ct));

        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(server.Server.GrpcAddress);
        var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), cancellationToken: Ct);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);

        using var reflection = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo(cancellationToken: Ct);
        await reflection.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }, Ct);
        await reflection.RequestStream.CompleteAsync();
        Assert.True(await reflection.ResponseStream.MoveNext(Ct));
        var services = reflection.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("featurestore.v1.OnlineFeatures", services);
        Assert.Contains("featurestore.v1.Registry", services);
        Assert.Contains("grpc.health.v1.Health", services);

        using var http = server.Http();
        Assert.Equal(200, (int)(await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct)).StatusCode);
        Assert.Equal(200, (int)(await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct)).StatusCode);
        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
        Assert.Matches("featurestore_serving_lookups_total\\{[^}]*status=\"OK\"[^}]*\\} [1-9]", metrics);
        Assert.Matches("featurestore_serving_lookups_total\\{[^}]*status=\"INVALID_ARGUMENT\"[^}]*\\} [1-9]", metrics);
        Assert.Contains("featurestore_serving_lookup_duration_seconds_bucket", metrics, StringComparison.Ordinal);
    }
}
