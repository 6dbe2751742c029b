using FeatureStore.Redis.Registry;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Redis.Tests;

/// <summary>The behaviour the product relies on from any online store; run against redis-server and Garnet.</summary>
public abstract class OnlineStoreContractTests(IOnlineStoreFixture fixture)
{
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..10];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IDatabase Db => fixture.Connection.Database;

    [Fact]
    public async Task Pipelined_hash_writes_read_back_in_one_batch()
    {
        var batch = Db.CreateBatch();
        var writes = new List<Task>();
        for (var i = 0; i < 200; i++)
        {
            writes.Add(batch.HashSetAsync($"{_prefix}:e:{i}", [new HashEntry("f1", i), new HashEntry("f2", new byte[] { 1, 2, (byte)i })]));
        }

        batch.Execute();
        await Task.WhenAll(writes);

        var reads = Enumerable.Range(0, 200).Select(i => Db.HashGetAsync($"{_prefix}:e:{i}", ["f1", "f2"])).ToArray();
        var values = await Task.WhenAll(reads);
        for (var i = 0; i < 200; i++)
        {
            Assert.Equal(i, (int)values[i][0]);
            Assert.Equal(new byte[] { 1, 2, (byte)i }, (byte[])values[i][1]!);
        }
    }

    [Fact]
    public async Task Transaction_with_a_failed_condition_writes_nothing()
    {
        var offsetKey = $"{_prefix}:offset";
        await Db.StringSetAsync(offsetKey, 10);

        var tran = Db.CreateTransaction();
        tran.AddCondition(Condition.StringEqual(offsetKey, 9));
        _ = tran.HashSetAsync($"{_prefix}:tile", "count", 1);
        _ = tran.StringSetAsync(offsetKey, 11);
        Assert.False(await tran.ExecuteAsync());

        Assert.False(await Db.KeyExistsAsync($"{_prefix}:tile"));
        Assert.Equal(10, (int)await Db.StringGetAsync(offsetKey));
    }

    [Fact]
    public async Task Lua_script_updates_tiles_and_offsets_atomically()
    {
        const string Script = """
            redis.call('HINCRBY', KEYS[1], 'count', ARGV[1])
            redis.call('SET', KEYS[2], ARGV[2])
            return redis.call('HGET', KEYS[1], 'count')
            """;
        var result = await Db.ScriptEvaluateAsync(Script, [$"{_prefix}:tile", $"{_prefix}:offset"], [5, 42]);
        Assert.Equal(5, (int)result);
        Assert.Equal(42, (int)await Db.StringGetAsync($"{_prefix}:offset"));
    }

    [Fact]
    public async Task Keys_expire_after_their_ttl()
    {
        var key = $"{_prefix}:expiring";
        await Db.HashSetAsync(key, "f", 1);
        Assert.True(await Db.KeyExpireAsync(key, TimeSpan.FromSeconds(2))); // long enough to still see it under load
        Assert.True(await Db.KeyExistsAsync(key));
        await Eventually.TrueAsync(async () => !await Db.KeyExistsAsync(key), TimeSpan.FromSeconds(10), $"{key} expired on {fixture.Kind}", Ct);
    }

    [Fact]
    public async Task Registry_numbers_versions_and_skips_unchanged_content()
    {
        var registry = new RegistryStore(Db, _prefix);
        Assert.Null(await registry.GetCurrentAsync("fraud"));

        var first = await registry.ApplyAsync("fraud", "h1", "{\"a\":1}", "a: 1\n", Ct);
        var same = await registry.ApplyAsync("fraud", "h1", "{\"a\":1}", "a:   1\n", Ct);
        var second = await registry.ApplyAsync("fraud", "h2", "{\"a\":2}", "a: 2\n", Ct);

        Assert.Equal(new ApplyOutcome(1, true), first);
        Assert.Equal(new ApplyOutcome(1, false), same);
        Assert.Equal(new ApplyOutcome(2, true), second);
        var current = await registry.GetCurrentAsync("fraud");
        Assert.NotNull(current);
        Assert.Equal(("h2", "a: 2\n"), (current.ContentHash, current.SourceText));
        var all = await registry.ListAsync("fraud");
        Assert.Equal(["h1", "h2"], all.Select(v => v.ContentHash));
        Assert.Null(await registry.GetVersionAsync("fraud", 3));
    }

    [Fact]
    public async Task Concurrent_applies_get_distinct_consecutive_versions()
    {
        var registry = new RegistryStore(Db, _prefix);
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8)
            .Select(i => registry.ApplyAsync("race", $"h{i}", "{}", $"v{i}", Ct)));

        Assert.All(outcomes, o => Assert.True(o.Changed));
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), outcomes.Select(o => o.Version).Order());
        Assert.Equal(8, (await registry.ListAsync("race")).Count);
    }

    [Fact]
    public async Task Each_version_keeps_its_state_layout_and_a_switch_stores_the_built_group_as_serving()
    {
        var registry = new RegistryStore(Db, _prefix);
        var v1 = PaymentsRepository.Yaml("payments");
        var v2 = v1.Replace("      - { name: n_all, aggregation: count }\n", "      - { name: n_all, aggregation: count }\n      - { name: min_5m, aggregation: min, field: amount, window: 5m }\n", StringComparison.Ordinal);
        Assert.NotEqual(v1, v2);
        await registry.ApplyAsync("stest", "h1", "{}", v1, Ct);
        var first = (await registry.LoadCurrentAsync("stest"))!;
        Assert.All(first.Layout.Views.Values, v => Assert.Single(v.Groups));

        await registry.ApplyAsync("stest", "h2", "{}", v2, Ct);
        var second = (await registry.LoadCurrentAsync("stest"))!;
        var building = second.Layout.Views["user_stats"].BuildingGroup!;
        Assert.Equal(["min_5m"], building.Slots.Select(s => s.Feature));
        Assert.Equal(first.Layout.Views["user_stats"].Groups[0].Signature, second.Layout.Views["user_stats"].Groups[0].Signature);
        Assert.Null(second.Layout.Views["user_spend"].BuildingGroup);
        Assert.Equal(building.Signature, second.Compile().FindView("user_stats")!.BuildingGroup!.Signature);

        Assert.Null(await registry.SwitchAsync("stest", "user_stats", "00000000", Ct));
        Assert.Equal(3, await registry.SwitchAsync("stest", "user_stats", building.Signature, Ct));
        var third = (await registry.GetCurrentAsync("stest"))!;
        Assert.Equal(("h2", "user_stats:" + building.Signature), (third.ContentHash, third.Switched));
        Assert.All(third.Load("stest").Layout.Views.Values, v => Assert.Null(v.BuildingGroup));
        Assert.Null(await registry.SwitchAsync("stest", "user_stats", building.Signature, Ct)); // done once

        // The same content again is no new version; a next apply starts from the switched layout.
        Assert.Equal(new ApplyOutcome(3, false), await registry.ApplyAsync("stest", "h2", "{}", v2, Ct));
        await registry.ApplyAsync("stest", "h4", "{}", v2.Replace("ttl: 2h", "ttl: 3h", StringComparison.Ordinal), Ct);
        Assert.Equal(2, (await registry.LoadCurrentAsync("stest"))!.Layout.Views["user_stats"].Groups.Count(g => !g.Building));
    }

    [Fact]
    public async Task Registry_announces_applied_versions()
    {
        var registry = new RegistryStore(Db, _prefix);
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscriber = fixture.Connection.Multiplexer.GetSubscriber();
        await subscriber.SubscribeAsync(registry.ChangesChannel, (_, message) => seen.TrySetResult(message.ToString()));
        try
        {
            await registry.ApplyAsync("announce", "h1", "{}", "", Ct);
            Assert.Equal("announce:1", await seen.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        }
        finally
        {
            await subscriber.UnsubscribeAsync(registry.ChangesChannel);
        }
    }
}

[Trait("Category", "Integration")]
public sealed class RedisServerOnlineStoreTests(RedisServerFixture fixture)
    : OnlineStoreContractTests(fixture), IClassFixture<RedisServerFixture>;

[Trait("Category", "Integration")]
public sealed class GarnetOnlineStoreTests(GarnetFixture fixture)
    : OnlineStoreContractTests(fixture), IClassFixture<GarnetFixture>;
