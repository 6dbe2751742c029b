using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using FeatureStore.Serving;
using FeatureStore.Testing;

namespace FeatureStore.Cli.Tests;

/// <summary><c>featurestore get</c> against a server whose registry has a view with a state group being built.</summary>
[Trait("Category", "Integration")]
public sealed class GetBuildingTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task ApplyAsync(RegistryStore store, string yaml)
    {
        var load = FeatureRepositoryLoader.LoadFromText(yaml, CliRun.Example);
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        await store.ApplyAsync("fraud", load.Repository!.ContentHash(), load.Repository.ToCanonicalJson(), yaml, Ct);
    }

    [Fact]
    public async Task Get_says_which_features_of_a_view_are_building_and_how_far_the_rebuild_is()
    {
        var prefix = "gb" + Guid.NewGuid().ToString("N")[..8];
        var yaml = await File.ReadAllTextAsync(CliRun.Example, Ct);
        const string Count = "      - name: txn_count_1h\n        aggregation: count\n        window: 1h\n";
        Assert.Contains(Count, yaml, StringComparison.Ordinal);
        var store = new RegistryStore(redis.Connection.Database, prefix);
        await ApplyAsync(store, yaml);
        await ApplyAsync(store, yaml.Replace(Count, Count + "      - name: amount_min_1h\n        aggregation: min\n        field: amount\n        window: 1h\n", StringComparison.Ordinal));
        var building = (await store.LoadCurrentAsync("fraud"))!.Compile().FindView("user_txn_stats")!.BuildingGroup!;
        await redis.Connection.Database.HashSetAsync(new OnlineKeys(prefix, "fraud").Build("user_txn_stats", building.Signature),
            [new("state", "rebuilding"), new("rows_done", 504_000), new("rows_total", 1_200_000)]);

        await using var server = FeatureServer.Create(new FeatureServerOptions
        {
            Project = "fraud",
            KeyPrefix = prefix,
            GrpcPort = FreePort.Next(),
            HttpPort = FreePort.Next(),
            StoreTimeout = TimeSpan.FromSeconds(10),
        }, redis.Connection.Multiplexer);
        await server.StartAsync(Ct);

        var (code, output, error) = await CliRun.RunAsync("get", "--server", server.GrpcAddress.ToString(), "-e", "user_id=u1",
            "--features", "user_txn_stats:amount_min_1h,user_txn_stats:txn_count_1h");
        Assert.True(code == 0, error);
        Assert.Contains("(building: not served yet)", output, StringComparison.Ordinal);
        Assert.Contains("user_txn_stats: building amount_min_1h (42% of 1.2M events)", output, StringComparison.Ordinal);

        // Features that are not building: no line.
        (code, output, error) = await CliRun.RunAsync("get", "--server", server.GrpcAddress.ToString(), "-e", "user_id=u1", "--features", "user_txn_stats:txn_count_1h");
        Assert.True(code == 0, error);
        Assert.DoesNotContain("building", output, StringComparison.Ordinal);

        (code, output, error) = await CliRun.RunAsync("get", "--server", server.GrpcAddress.ToString(), "-e", "user_id=u1", "--features", "user_txn_stats", "--json");
        Assert.True(code == 0, error);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        var line = Assert.Single(json.RootElement.GetProperty("building").EnumerateArray());
        Assert.Equal(("user_txn_stats", "rebuilding", 504_000L, 1_200_000L),
            (line.GetProperty("view").GetString(), line.GetProperty("state").GetString(), line.GetProperty("rows_done").GetInt64(), line.GetProperty("rows_total").GetInt64()));
        Assert.Equal(["amount_min_1h"], line.GetProperty("features").EnumerateArray().Select(f => f.GetString()));
    }
}
