using FeatureStore.Core.Models;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Redis.Tests;

/// <summary>The model registry on a real redis-server: registration, stages, promotions and their announcements.</summary>
[Trait("Category", "Integration")]
public sealed class ModelRegistryStoreTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..10];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Versions_register_once_in_staging_under_the_project_hash_tag()
    {
        var registry = new ModelRegistryStore(redis.Connection.Database, _prefix, "fraud");
        Assert.True(await registry.RegisterAsync("scorer", "v1", ["user_stats:n_1h"], "train.parquet", "scorer@v1#ab"));
        Assert.False(await registry.RegisterAsync("scorer", "v1", ["other:f"], null, null));
        var record = (await registry.GetAsync("scorer", "v1"))!;
        Assert.Equal(ModelStage.Staging, record.Stage);
        Assert.Equal(["user_stats:n_1h"], record.Features);
        Assert.Equal("train.parquet", record.TrainingExport);
        Assert.Equal("scorer@v1#ab", record.BaselineId);
        Assert.Equal($"{_prefix}:{{fraud}}:models:scorer", registry.ModelKey("scorer").ToString());
        Assert.Equal(["scorer"], await registry.ModelsAsync());
        Assert.Contains("\"stage\":\"staging\"", (await redis.Connection.Database.HashGetAsync(registry.ModelKey("scorer"), "v1")).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Following_the_stages_survives_a_store_that_stops_answering_past_its_timeout_and_picks_changes_up_after()
    {
        // A client with a short timeout: a paused store times it out (RedisTimeoutException, not a RedisException).
        await using var short_ = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
        {
            EndPoints = { redis.Server.Endpoint }, AsyncTimeout = 300, SyncTimeout = 300, AbortOnConnectFail = false,
        });
        var registry = new ModelRegistryStore(short_.GetDatabase(), _prefix, "fraud");
        var cache = new ModelStageCache(registry, TimeSpan.FromMilliseconds(100));
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var follow = cache.FollowAsync(short_.GetSubscriber(), errors.Enqueue, stop.Token);

        await using (var admin = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { redis.Server.Endpoint }, AllowAdmin = true }))
        {
            await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "1500", "ALL");
        }

        await Eventually.TrueAsync(() => Task.FromResult(errors.Any(e => e is TimeoutException)), TimeSpan.FromSeconds(10), "a refresh times out", Ct);
        Assert.False(follow.IsCompleted, follow.Exception?.ToString());

        var writer = new ModelRegistryStore(redis.Connection.Database, _prefix, "fraud");
        Assert.True(await writer.RegisterAsync("scorer", "v1", ["user_stats:n_1h"], null, null));
        await writer.PromoteAsync("scorer", "v1", ModelStage.Production);
        await Eventually.TrueAsync(() => Task.FromResult(cache.Production("scorer") == "v1"), TimeSpan.FromSeconds(10), "the promotion is followed after the pause", Ct);

        await stop.CancelAsync();
        await follow; // ends without throwing
    }

    [Fact]
    public async Task Promotion_keeps_one_production_version_and_is_announced()
    {
        var registry = new ModelRegistryStore(redis.Connection.Database, _prefix, "fraud");
        var messages = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var subscriber = redis.Connection.Multiplexer.GetSubscriber();
        await subscriber.SubscribeAsync(registry.ChangesChannel, (_, m) => messages.Enqueue(m.ToString()));
        try
        {
            await registry.RegisterAsync("scorer", "v1", ["a:b"], null, null);
            await registry.RegisterAsync("scorer", "v2", ["a:b"], null, null);
            Assert.True((await registry.PromoteAsync("scorer", "v1", ModelStage.Production)).Found);
            var outcome = await registry.PromoteAsync("scorer", "v2", ModelStage.Production);
            Assert.Equal(2, outcome.Changed.Count);
            var stages = (await registry.VersionsAsync("scorer")).ToDictionary(v => v.Version, v => v.Stage);
            Assert.Equal(ModelStage.Archived, stages["v1"]);
            Assert.Equal(ModelStage.Production, stages["v2"]);
            Assert.Equal("v2", (await registry.ProductionAsync())["scorer"].Version);
            Assert.False((await registry.PromoteAsync("scorer", "v9", ModelStage.Production)).Found);
            await Eventually.TrueAsync(() => messages.Contains("fraud:scorer:v2:production"), TimeSpan.FromSeconds(10), "promotion announced", Ct);
        }
        finally
        {
            await subscriber.UnsubscribeAsync(registry.ChangesChannel);
        }
    }

    [Fact]
    public async Task Concurrent_promotions_never_leave_two_production_versions()
    {
        var registry = new ModelRegistryStore(redis.Connection.Database, _prefix, "fraud");
        var versions = Enumerable.Range(1, 8).Select(i => "v" + i).ToList();
        foreach (var v in versions)
        {
            await registry.RegisterAsync("scorer", v, ["a:b"], null, null);
        }

        await Task.WhenAll(versions.Select(v => Task.Run(() => registry.PromoteAsync("scorer", v, ModelStage.Production), Ct)));
        Assert.Single(await registry.VersionsAsync("scorer"), r => r.Stage == ModelStage.Production);
    }
}
