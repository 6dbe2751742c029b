using System.Globalization;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// Serving on a real Redis Cluster (six redis-server nodes, three masters and three replicas): the registry in
/// its project's slot, entity states spread over every master, one lookup of many entities read node by node.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ClusterLookupTests : IAsyncLifetime
{
    private const int Merchants = 60;
    private RedisCluster? _cluster;
    private ConnectionMultiplexer? _store;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _cluster = await RedisCluster.StartAsync(Ct);
        _store = await ConnectionMultiplexer.ConnectAsync(_cluster.Configuration);
    }

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_lookup_of_entities_spread_over_every_master_reads_each_from_its_node_and_equals_the_known_values()
    {
        var yaml = new PaymentsScenario("payments").RepositoryYaml;
        var repository = FeatureRepositoryLoader.LoadFromText(yaml, "r.yaml").Repository!;
        var db = _store!.GetDatabase();
        var registry = new RegistryStore(db, "fs");
        await registry.ApplyAsync(repository, yaml, Ct);
        var view = (await registry.LoadCurrentAsync(repository.Project))!.Compile().FindView("merchant_stats")!;
        var group = Assert.Single(view.Groups);
        var keys = new OnlineKeys("fs", repository.Project);

        // Merchant k has k + 1 payments of 10, 20, … in the last hour: n = k + 1, sum = 10 (k + 1)(k + 2) / 2.
        var atMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var masters = new HashSet<string>(StringComparer.Ordinal);
        var slots = _store.GetServer(_store.GetEndPoints()[0]).ClusterConfiguration!;
        for (var k = 0; k < Merchants; k++)
        {
            var events = Enumerable.Range(1, k + 1).Select(i => (Time: atMs - (i * 30_000L), Amount: 10.0 * i)).ToList();
            var key = keys.Entity(group, Merchant(k));
            await db.HashSetAsync(key, OnlineKeys.PartitionField("payments", k % 4),
                StateGroupLookupTests.Encode(group.Features, group.InputSlots, group.TtlMs, events));
            masters.Add(slots.GetBySlot(key)!.EndPoint!.ToString()!);
        }

        Assert.Equal(3, masters.Count);
        await using var server = await RunningServer.InProcessAsync(
            new FeatureServerOptions { Project = repository.Project, KeyPrefix = "fs", ReadStrategy = OnlineReadStrategy.Pipeline }, _store);
        using var client = server.Client();
        var request = new GetOnlineFeaturesRequest
        {
            Features = { "merchant_stats" },
            AsOf = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(atMs)),
        };
        for (var k = 0; k < Merchants; k++)
        {
            request.Entities.Add(new EntityRow { JoinKeys = { ["merchant_id"] = Merchant(k) } });
        }

        await Eventually.TrueAsync(async () => (await client.ListDefinitionsAsync(Ct)).Repository.Version == 1, TimeSpan.FromSeconds(10), "version 1 served", Ct);
        var answer = await client.GetOnlineFeaturesAsync(request, Ct);
        for (var k = 0; k < Merchants; k++)
        {
            var n = k + 1;
            var sum = 10.0 * n * (n + 1) / 2;
            Assert.Equal(n, answer.GetInt64(k, "merchant_stats:n_1h"));
            Assert.Equal(sum, answer.GetDouble(k, "merchant_stats:sum_1h")!.Value, 9);
            Assert.Equal(sum / n, answer.GetDouble(k, "merchant_stats:mean_1h")!.Value, 9);
        }
    }

    private static string Merchant(int k) => "m" + k.ToString(CultureInfo.InvariantCulture);
}
