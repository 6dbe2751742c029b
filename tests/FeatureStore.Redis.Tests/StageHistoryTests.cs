using FeatureStore.Core.Models;
using FeatureStore.Redis.Models;
using FeatureStore.Testing;

namespace FeatureStore.Redis.Tests;

/// <summary>
/// The stage history and the policy's rollback on a real redis-server: each promotion recorded with its note in its own
/// transaction, a rollback written once however many members plan it, and the history bounded.
/// </summary>
[Trait("Category", "Integration")]
public sealed class StageHistoryTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private readonly string _prefix = "s" + Guid.NewGuid().ToString("N")[..10];

    private async Task<ModelRegistryStore> ThreeVersionsAsync()
    {
        var registry = new ModelRegistryStore(redis.Connection.Database, _prefix, "fraud");
        foreach (var version in (string[])["v1", "v2", "v3"])
        {
            await registry.RegisterAsync("scorer", version, ["f:x"], null, null);
        }

        await registry.PromoteAsync("scorer", "v1", ModelStage.Production);
        await registry.PromoteAsync("scorer", "v2", ModelStage.Production, new StageNote(StageChange.Cli, [new GateResult("roc_auc >= 0.8", 0.82, 0.8, true, null)], false, null));
        return registry;
    }

    [Fact]
    public async Task Promotions_are_recorded_with_their_gates_under_the_project_hash_tag()
    {
        var registry = await ThreeVersionsAsync();
        await registry.PromoteAsync("scorer", "v2", ModelStage.Production); // no change: nothing recorded
        var history = await registry.History.ReadAsync("scorer");
        Assert.Equal([("v1", (string?)null), ("v2", "v1")], history.Select(h => (h.Version, h.Replaced)));
        Assert.Equal(new GateResult("roc_auc >= 0.8", 0.82, 0.8, true, null), Assert.Single(history[1].Gates));
        Assert.Equal($"{_prefix}:{{fraud}}:stages:scorer", registry.History.Key("scorer").ToString());
        Assert.Equal(history[1].AtMs, (await registry.GetAsync("scorer", "v2"))!.StageChangedAtMs);
    }

    [Fact]
    public async Task Of_two_members_planning_one_rollback_only_one_writes_it()
    {
        var registry = await ThreeVersionsAsync();
        var db = redis.Connection.Database;
        var first = (await registry.PlanRollbackAsync("scorer", "v2"))!;
        var second = (await registry.PlanRollbackAsync("scorer", "v2"))!;
        Assert.Equal(("v1", "v2"), (first.Restored, first.Degraded));

        var a = db.CreateTransaction();
        registry.QueueRollback(a, first, "member a");
        var b = db.CreateTransaction();
        registry.QueueRollback(b, second, "member b");
        var committed = await Task.WhenAll(a.ExecuteAsync(), b.ExecuteAsync());
        Assert.Equal(1, committed.Count(c => c));

        Assert.Equal(ModelStage.Production, (await registry.GetAsync("scorer", "v1"))!.Stage);
        Assert.Equal(ModelStage.Archived, (await registry.GetAsync("scorer", "v2"))!.Stage);
        var rollback = Assert.Single(await registry.History.ReadAsync("scorer"), h => h.Action == "rollback");
        Assert.Equal(("v2", StageChange.Policy, "v1"), (rollback.Version, rollback.Actor, rollback.Replaced));

        // Planned again: v2 is not production any more, so there is nothing to roll back.
        Assert.Null(await registry.PlanRollbackAsync("scorer", "v2"));
    }

    [Fact]
    public async Task A_promotion_between_the_plan_and_the_write_cancels_the_rollback()
    {
        var registry = await ThreeVersionsAsync();
        var plan = (await registry.PlanRollbackAsync("scorer", "v2"))!;
        await registry.PromoteAsync("scorer", "v3", ModelStage.Production);
        var transaction = redis.Connection.Database.CreateTransaction();
        registry.QueueRollback(transaction, plan, "too late");
        Assert.False(await transaction.ExecuteAsync());
        Assert.Equal(ModelStage.Production, (await registry.GetAsync("scorer", "v3"))!.Stage);
        Assert.DoesNotContain(await registry.History.ReadAsync("scorer"), h => h.Action == "rollback");
    }

    [Fact]
    public async Task The_history_keeps_the_newest_entries()
    {
        var registry = new ModelRegistryStore(redis.Connection.Database, _prefix, "fraud");
        var db = redis.Connection.Database;
        for (var i = 0; i < StageHistory.Limit + 5; i++)
        {
            var transaction = db.CreateTransaction();
            registry.History.Append(transaction, new StageChange("busy", "v" + i, "promote", ModelStage.Staging, ModelStage.Production, i, StageChange.Cli, [], false, null, null));
            Assert.True(await transaction.ExecuteAsync());
        }

        var history = await registry.History.ReadAsync("busy");
        Assert.Equal(StageHistory.Limit, history.Count);
        Assert.Equal(("v5", "v" + (StageHistory.Limit + 4)), (history[0].Version, history[^1].Version));
        Assert.Equal(["v1003", "v1004"], (await registry.History.ReadAsync("busy", 2)).Select(h => h.Version));
    }
}
