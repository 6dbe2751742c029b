using FeatureStore.Redis.Drift;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Redis.Tests;

/// <summary>
/// Drift keys an earlier version wrote without the hash tag (<c>PREFIX:PROJECT:drift:…</c>) move to their tagged
/// names (<c>PREFIX:{PROJECT}:drift:…</c>) with their values and times to live, once, whoever runs the upgrade;
/// on one server by RENAMENX, on a cluster (where the rename would cross slots) by DUMP and RESTORE.
/// </summary>
public abstract class DriftLayoutUpgradeTests(IOnlineStoreFixture fixture)
{
    private const string Project = "fraud";

    /// <summary>The keys <see cref="SeedEarlierLayoutAsync"/> writes, after <c>PREFIX:PROJECT:drift:</c>.</summary>
    private protected static readonly string[] Seeded =
    [
        "baseline:scorer:v1", "history:scorer:v1", "evaluated:scorer:v1:score", "incidents", "retrain",
        "outbox", "outbox:due", "outbox:attempts", "outbox:rejected",
    ];

    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..10];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private protected OnlineStoreConnection Connection => fixture.Connection;

    private protected IDatabase Db => fixture.Connection.Database;

    private protected DriftKeys Keys => new(_prefix, Project);

    /// <summary>A key of the earlier layout, named as the earlier version named it.</summary>
    private protected string Untagged(string rest) => $"{_prefix}:{Project}:drift:{rest}";

    [Fact]
    public async Task Every_kind_of_drift_key_moves_to_its_tagged_name_with_an_equal_value()
    {
        await SeedEarlierLayoutAsync();
        await Db.KeyExpireAsync(Untagged("outbox:attempts"), TimeSpan.FromMinutes(10));
        var before = await SnapshotAsync(Untagged);
        // Look-alikes that are not this project's drift keys stay where they are.
        var strangers = new RedisKey[] { $"{_prefix}:{Project}x:drift:incidents", $"{_prefix}:{Project}:driftless", $"{_prefix}:other:drift:incidents" };
        foreach (var stranger in strangers)
        {
            await Db.StringSetAsync(stranger, "keep");
        }

        var result = await DriftLayoutUpgrade.RunAsync(Db, Keys, Ct);

        Assert.False(result.AlreadyDone);
        Assert.Empty(result.Kept);
        Assert.Equal(Seeded.Select(Untagged).Order(StringComparer.Ordinal), result.Moved.Order(StringComparer.Ordinal));
        var after = await SnapshotAsync(rest => $"{Keys.Base}:{rest}");
        Assert.Equal(before, after);
        foreach (var rest in Seeded)
        {
            Assert.False(await Db.KeyExistsAsync(Untagged(rest)), rest);
        }

        var ttl = await Db.KeyTimeToLiveAsync($"{Keys.Base}:outbox:attempts");
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10));
        Assert.Null(await Db.KeyTimeToLiveAsync(Keys.Baseline("scorer", "v1")));
        foreach (var stranger in strangers)
        {
            Assert.Equal("keep", (string?)await Db.StringGetAsync(stranger));
        }

        Assert.Equal(DriftLayoutUpgrade.Done, (string?)await Db.StringGetAsync(Keys.Layout));
    }

    [Fact]
    public async Task A_second_run_reads_the_layout_key_and_moves_nothing()
    {
        await SeedEarlierLayoutAsync();
        Assert.Equal(Seeded.Length, (await DriftLayoutUpgrade.RunAsync(Db, Keys, Ct)).Moved.Count);
        var after = await SnapshotAsync(rest => $"{Keys.Base}:{rest}");

        var again = await DriftLayoutUpgrade.RunAsync(Db, Keys, Ct);

        Assert.True(again.AlreadyDone);
        Assert.Empty(again.Moved);
        Assert.Equal(after, await SnapshotAsync(rest => $"{Keys.Base}:{rest}"));
    }

    [Fact]
    public async Task A_store_without_untagged_keys_is_marked_done_and_its_tagged_keys_are_untouched()
    {
        await Db.StringSetAsync(Keys.Baseline("scorer", "v1"), "{\"format\":2}");

        var result = await DriftLayoutUpgrade.RunAsync(Db, Keys, Ct);

        Assert.False(result.AlreadyDone);
        Assert.Empty(result.Moved);
        Assert.Empty(result.Kept);
        Assert.Equal("{\"format\":2}", (string?)await Db.StringGetAsync(Keys.Baseline("scorer", "v1")));
        Assert.True(await Db.KeyExistsAsync(Keys.Layout));
    }

    [Fact]
    public async Task A_tagged_key_already_holding_other_data_is_not_overwritten_and_the_untagged_one_is_kept()
    {
        await Db.StringSetAsync(Untagged("baseline:scorer:v1"), "earlier");
        await Db.StringSetAsync(Keys.Baseline("scorer", "v1"), "newer");
        await Db.StringSetAsync(Untagged("baseline:scorer:v2"), "only earlier");

        var result = await DriftLayoutUpgrade.RunAsync(Db, Keys, Ct);

        Assert.Equal([Untagged("baseline:scorer:v1")], result.Kept);
        Assert.Equal([Untagged("baseline:scorer:v2")], result.Moved);
        Assert.Equal("newer", (string?)await Db.StringGetAsync(Keys.Baseline("scorer", "v1")));
        Assert.Equal("earlier", (string?)await Db.StringGetAsync(Untagged("baseline:scorer:v1")));
        Assert.Equal("only earlier", (string?)await Db.StringGetAsync(Keys.Baseline("scorer", "v2")));
    }

    [Fact]
    public async Task Two_upgrades_at_once_move_each_key_once_and_lose_none()
    {
        const int Versions = 300;
        for (var v = 0; v < Versions; v++)
        {
            await Db.SortedSetAddAsync(Untagged($"history:scorer:v{v}"), [new SortedSetEntry($"w{v}", v), new SortedSetEntry($"x{v}", v + 0.5)]);
        }

        var runs = await Task.WhenAll(
            Task.Run(() => DriftLayoutUpgrade.RunAsync(Db, Keys, Ct), Ct),
            Task.Run(() => DriftLayoutUpgrade.RunAsync(Db, Keys, Ct), Ct));

        var moved = runs.SelectMany(r => r.Moved).ToList();
        Assert.Equal(Versions, moved.Count);
        Assert.Equal(Versions, moved.Distinct(StringComparer.Ordinal).Count());
        Assert.All(runs, r => Assert.Empty(r.Kept));
        for (var v = 0; v < Versions; v++)
        {
            Assert.False(await Db.KeyExistsAsync(Untagged($"history:scorer:v{v}")));
            var entries = await Db.SortedSetRangeByRankWithScoresAsync(Keys.History("scorer", $"v{v}"));
            Assert.Equal([($"w{v}", (double)v), ($"x{v}", v + 0.5)], entries.Select(e => ((string)e.Element!, e.Score)));
        }
    }

    /// <summary>Each kind of key the earlier monitor and <c>featurestore baseline</c> wrote, with its type.</summary>
    private protected async Task SeedEarlierLayoutAsync()
    {
        await Db.StringSetAsync(Untagged("baseline:scorer:v1"), """{"format":2,"model":"scorer","version":"v1","id":"scorer@v1#ab"}""");
        await Db.SortedSetAddAsync(Untagged("history:scorer:v1"), [new SortedSetEntry("""{"column":"score","window_end_ms":1000}""", 1000), new SortedSetEntry("""{"column":"score","window_end_ms":2000}""", 2000)]);
        await Db.HashSetAsync(Untagged("evaluated:scorer:v1:score"), [new HashEntry("preds:0", 399), new HashEntry("closed_end_ms", 2000)]);
        await Db.HashSetAsync(Untagged("incidents"), "scorer:v1:score:psi", """{"open":true,"alerted":true,"id":"scorer:v1:score:psi:1000"}""");
        await Db.HashSetAsync(Untagged("retrain"), "scorer:v1", """{"runs":{"score":2}}""");
        await Db.HashSetAsync(Untagged("outbox"), "scorer:v1:score:psi:1000:drift", """{"id":"scorer:v1:score:psi:1000:drift","status":"drift"}""");
        await Db.SortedSetAddAsync(Untagged("outbox:due"), "scorer:v1:score:psi:1000:drift", 1234);
        await Db.HashSetAsync(Untagged("outbox:attempts"), "scorer:v1:score:psi:1000:drift", 3);
        await Db.HashSetAsync(Untagged("outbox:rejected"), "x:drift", """{"id":"x:drift"}""");
    }

    /// <summary>Every seeded key's type and content, read under the names <paramref name="name"/> gives.</summary>
    private protected async Task<List<string>> SnapshotAsync(Func<string, string> name)
    {
        var snapshot = new List<string>();
        foreach (var rest in Seeded)
        {
            RedisKey key = name(rest);
            var type = await Db.KeyTypeAsync(key);
            snapshot.Add(type switch
            {
                RedisType.String => $"{rest} string {(string?)await Db.StringGetAsync(key)}",
                RedisType.SortedSet => $"{rest} zset {string.Join(",", (await Db.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}={e.Score}"))}",
                RedisType.Hash => $"{rest} hash {string.Join(",", (await Db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal))}",
                _ => $"{rest} {type}",
            });
        }

        return snapshot;
    }
}

[Trait("Category", "Integration")]
public sealed class RedisServerDriftLayoutUpgradeTests(RedisServerFixture fixture)
    : DriftLayoutUpgradeTests(fixture), IClassFixture<RedisServerFixture>;

[Trait("Category", "Integration")]
public sealed class GarnetDriftLayoutUpgradeTests(GarnetFixture fixture)
    : DriftLayoutUpgradeTests(fixture), IClassFixture<GarnetFixture>;

/// <summary>The same on a six-node Redis Cluster, where the untagged keys sit on other slots (and nodes) than the project's.</summary>
[Trait("Category", "Integration")]
public sealed class ClusterDriftLayoutUpgradeTests(RedisClusterFixture fixture)
    : DriftLayoutUpgradeTests(fixture), IClassFixture<RedisClusterFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_tagged_keys_share_one_slot_while_the_untagged_ones_were_spread_over_the_masters()
    {
        await SeedEarlierLayoutAsync();
        var multiplexer = Connection.Multiplexer;
        var untaggedSlots = Seeded.Select(rest => multiplexer.HashSlot(Untagged(rest))).Distinct().Count();
        Assert.True(untaggedSlots > 1, "the earlier layout's keys fall in several slots");

        await DriftLayoutUpgrade.RunAsync(Db, Keys, Ct);

        Assert.Equal([multiplexer.HashSlot("{fraud}")], Seeded.Select(rest => multiplexer.HashSlot($"{Keys.Base}:{rest}")).Distinct());
        Assert.Equal([multiplexer.HashSlot("{fraud}")], new[] { Keys.Layout, Keys.Incidents, Keys.Outbox }.Select(k => multiplexer.HashSlot(k)).Distinct());

        // And a transaction over them, as the monitor writes a window, is accepted.
        var transaction = Db.CreateTransaction();
        _ = transaction.SortedSetAddAsync(Keys.History("scorer", "v1"), "w", 3000);
        _ = transaction.HashSetAsync(Keys.Incidents, "k", "v");
        _ = transaction.HashSetAsync(Keys.Outbox, "a", "b");
        Assert.True(await transaction.ExecuteAsync());
    }

    [Fact]
    public async Task A_copy_left_by_a_run_stopped_before_its_delete_is_finished_by_the_next_run()
    {
        await Db.HashSetAsync(Untagged("incidents"), "scorer:v1:score:psi", "{\"open\":true}");
        // What a run stopped between RESTORE and DEL leaves: the same value under both names, no layout key.
        var dump = await Db.KeyDumpAsync(Untagged("incidents"));
        await Db.KeyRestoreAsync(Keys.Incidents, dump!);

        var result = await DriftLayoutUpgrade.RunAsync(Db, Keys, Ct);

        Assert.Equal([Untagged("incidents")], result.Moved);
        Assert.Empty(result.Kept);
        Assert.False(await Db.KeyExistsAsync(Untagged("incidents")));
        Assert.Equal("{\"open\":true}", (string?)await Db.HashGetAsync(Keys.Incidents, "scorer:v1:score:psi"));
    }
}
