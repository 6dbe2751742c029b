using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Redis.Tests;

/// <summary>
/// The batch write script against each store the product supports: it writes shares, expiries and checkpoints
/// when every check holds and nothing when one fails, and two members racing on one partition never both land
/// (the script runs as one atomic step; on Garnet that needs its Lua transaction mode, which the embedded
/// server turns on).
/// </summary>
public abstract class BatchWriteScriptTests(IOnlineStoreFixture fixture)
{
    private readonly string _prefix = "bw" + Guid.NewGuid().ToString("N")[..10];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IDatabase Db => fixture.Connection.Database;

    private RedisKey Checkpoints => _prefix + ":cp";

    [Fact]
    public async Task Writes_shares_expiries_and_checkpoints_when_every_check_holds()
    {
        await Db.HashSetAsync(Checkpoints, "t:0", "10:5");
        var script = new BatchWriteScript();
        script.Start(Checkpoints, [("t:0", "10:5"), ("t:1", null)], [("t:0", "20:6"), ("t:1", "3:1")]);
        script.State(_prefix + ":a", "t:0", new byte[] { 1, 2, 3 }, 60_000);
        script.State(_prefix + ":b", "t:1", new byte[] { 4 }, 0);
        script.State(_prefix + ":a", "t:1", Array.Empty<byte>(), 0);

        Assert.True(await SendAsync(script));

        Assert.Equal(new byte[] { 1, 2, 3 }, (byte[])(await Db.HashGetAsync(_prefix + ":a", "t:0"))!);
        Assert.Equal(Array.Empty<byte>(), (byte[])(await Db.HashGetAsync(_prefix + ":a", "t:1"))!);
        Assert.Equal(new byte[] { 4 }, (byte[])(await Db.HashGetAsync(_prefix + ":b", "t:1"))!);
        var ttl = await Db.KeyTimeToLiveAsync(_prefix + ":a");
        Assert.InRange(ttl!.Value.TotalSeconds, 1, 60);
        Assert.Null(await Db.KeyTimeToLiveAsync(_prefix + ":b")); // expiry 0: left alone (none set)
        Assert.Equal("20:6", (string?)await Db.HashGetAsync(Checkpoints, "t:0"));
        Assert.Equal("3:1", (string?)await Db.HashGetAsync(Checkpoints, "t:1"));
    }

    [Theory]
    [InlineData("10:5", "9:5", null)] // the stored checkpoint moved on
    [InlineData(null, "9:5", null)] // expected, but none stored
    [InlineData("10:5", null, null)] // expected absent, but one stored
    [InlineData(null, null, "4:4")] // the first check holds, the second does not
    public async Task Writes_nothing_when_a_check_fails(string? stored, string? expected, string? storedOther)
    {
        if (stored is not null)
        {
            await Db.HashSetAsync(Checkpoints, "t:0", stored);
        }

        if (storedOther is not null)
        {
            await Db.HashSetAsync(Checkpoints, "t:1", storedOther);
        }

        var script = new BatchWriteScript();
        script.Start(Checkpoints, [("t:0", expected), ("t:1", storedOther is null ? null : "other")], [("t:0", "20:6")]);
        script.State(_prefix + ":a", "t:0", new byte[] { 1 }, 60_000);

        Assert.False(await SendAsync(script));

        Assert.False(await Db.KeyExistsAsync(_prefix + ":a"));
        Assert.Equal(stored, (string?)await Db.HashGetAsync(Checkpoints, "t:0"));
    }

    [Fact]
    public async Task A_mark_is_set_by_the_first_batch_that_carries_it_and_later_batches_do_not_move_it()
    {
        var script = new BatchWriteScript();
        script.Start(Checkpoints, [("t:0", null)], [("t:0", "10:5")], [("build:v:s1:t:0", "0")]);
        script.State(_prefix + ":a", "t:0", new byte[] { 1 }, 0);
        Assert.True(await SendAsync(script));
        Assert.Equal("0", (string?)await Db.HashGetAsync(Checkpoints, "build:v:s1:t:0"));

        // The next batch starts where the first ended: its mark would say 10, but the group's share began at 0.
        script.Start(Checkpoints, [("t:0", "10:5")], [("t:0", "20:6")], [("build:v:s1:t:0", "10"), ("build:v:s2:t:0", "10")]);
        script.State(_prefix + ":a", "t:0", new byte[] { 2 }, 0);
        Assert.True(await SendAsync(script));

        Assert.Equal("0", (string?)await Db.HashGetAsync(Checkpoints, "build:v:s1:t:0"));
        Assert.Equal("10", (string?)await Db.HashGetAsync(Checkpoints, "build:v:s2:t:0"));
        Assert.Equal("20:6", (string?)await Db.HashGetAsync(Checkpoints, "t:0"));
        Assert.Equal(new byte[] { 2 }, (byte[])(await Db.HashGetAsync(_prefix + ":a", "t:0"))!);
    }

    [Fact]
    public async Task A_batch_refused_by_a_check_writes_no_mark()
    {
        await Db.HashSetAsync(Checkpoints, "t:0", "10:5");
        var script = new BatchWriteScript();
        script.Start(Checkpoints, [("t:0", "9:5")], [("t:0", "20:6")], [("build:v:s:t:0", "9")]);
        script.State(_prefix + ":a", "t:0", new byte[] { 1 }, 0);

        Assert.False(await SendAsync(script));

        Assert.False(await Db.HashExistsAsync(Checkpoints, "build:v:s:t:0"));
        Assert.Equal("10:5", (string?)await Db.HashGetAsync(Checkpoints, "t:0"));
    }

    [Fact]
    public async Task Of_two_members_racing_from_the_same_checkpoint_exactly_one_lands()
    {
        // Each round, two writers on two connections (which a multi-threaded store serves in parallel) expect
        // the same stored checkpoint and write many shares: were the check and the writes not one atomic step,
        // both could pass the check before either moved the checkpoint.
        await using var other = await FeatureStore.Redis.OnlineStoreConnection.ConnectAsync(fixture.Connection.Endpoint);
        var databases = new[] { Db, other.Database };
        const int Rounds = 40;
        const int States = 2_000;
        var share = new byte[64];
        await Db.HashSetAsync(Checkpoints, "t:0", "0:0");
        for (var round = 0; round < Rounds; round++)
        {
            var writers = new[] { "x", "y" }.Select(member =>
            {
                var script = new BatchWriteScript();
                script.Start(Checkpoints, [("t:0", $"{round}:0")], [("t:0", $"{round + 1}:0")]);
                for (var i = 0; i < States; i++)
                {
                    script.State($"{_prefix}:{round}:{i}", "t:0", share, 0);
                }

                script.State($"{_prefix}:{round}:winner", member, share, 0);
                return script;
            }).ToArray();

            var landed = await Task.WhenAll(writers.Select((script, w) => SendAsync(script, databases[w])));

            Assert.Equal(1, landed.Count(l => l));
            var winners = await Db.HashKeysAsync($"{_prefix}:{round}:winner");
            Assert.Single(winners);
            Assert.Equal($"{round + 1}:0", (string?)await Db.HashGetAsync(Checkpoints, "t:0"));
        }
    }

    private Task<bool> SendAsync(BatchWriteScript script) => SendAsync(script, Db);

    private static async Task<bool> SendAsync(BatchWriteScript script, IDatabase database)
    {
        using var reply = await script.SendAsync(database).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        return BatchWriteScript.Written(reply);
    }
}

[Trait("Category", "Integration")]
public sealed class RedisServerBatchWriteScriptTests(RedisServerFixture fixture)
    : BatchWriteScriptTests(fixture), IClassFixture<RedisServerFixture>;

[Trait("Category", "Integration")]
public sealed class GarnetBatchWriteScriptTests(GarnetFixture fixture)
    : BatchWriteScriptTests(fixture), IClassFixture<GarnetFixture>;
