using System.Buffers;
using FeatureStore.Core.Windows;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Redis.Tests;

/// <summary>
/// A batch written to a real six-node Redis Cluster without a transaction across slots: its shares one script
/// per slot, then its checkpoints; a share stamped further than the one replacing it refuses its slot's write
/// (a member working from an older state, or one that lost its partition), and no checkpoint moves.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ClusterBatchWriteTests(RedisClusterFixture fixture) : IClassFixture<RedisClusterFixture>
{
    private readonly string _prefix = "cw" + Guid.NewGuid().ToString("N")[..10];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IDatabase Db => fixture.Connection.Database;

    private RedisKey Checkpoints => "{" + _prefix + "}:cp";

    [Fact]
    public async Task Shares_of_keys_on_every_master_land_then_the_checkpoints_move()
    {
        var script = new BatchWriteScript();
        script.Start(Checkpoints, [("t:0", null)], [("t:0", "300:5")]);
        var keys = Enumerable.Range(0, 200).Select(i => (RedisKey)$"{_prefix}:e{i}").ToList();
        foreach (var key in keys)
        {
            script.State(key, "t:0", Stamped(100 + keys.IndexOf(key), 7), 60_000);
        }

        Assert.True(await WriteAsync(script));

        Assert.Equal("300:5", (string?)await Db.HashGetAsync(Checkpoints, "t:0"));
        var masters = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            Assert.Equal(Stamped(100 + keys.IndexOf(key), 7), (byte[])(await Db.HashGetAsync(key, "t:0"))!);
            masters.Add(fixture.Connection.Multiplexer.GetServer(key).EndPoint.ToString()!);
        }

        Assert.Equal(3, masters.Count);
    }

    [Fact]
    public async Task A_share_stamped_further_refuses_the_write_and_no_checkpoint_moves()
    {
        RedisKey ahead = _prefix + ":ahead";
        await Db.HashSetAsync(ahead, "t:0", Stamped(500, 1));
        await Db.HashSetAsync(Checkpoints, "t:0", "100:5");

        var script = new BatchWriteScript();
        script.Start(Checkpoints, [("t:0", "100:5")], [("t:0", "400:6")]);
        script.State(ahead, "t:0", Stamped(400, 2), 0);

        Assert.False(await WriteAsync(script));
        Assert.Equal(Stamped(500, 1), (byte[])(await Db.HashGetAsync(ahead, "t:0"))!);
        Assert.Equal("100:5", (string?)await Db.HashGetAsync(Checkpoints, "t:0"));

        // The same stamp (the same events applied again) and a further one are written.
        foreach (var offset in new long[] { 500, 600 })
        {
            script.Start(Checkpoints, [("t:0", "100:5")], [("t:0", offset + ":6")]);
            script.State(ahead, "t:0", Stamped(offset, 3), 0);
            Assert.True(await WriteAsync(script));
            Assert.Equal(Stamped(offset, 3), (byte[])(await Db.HashGetAsync(ahead, "t:0"))!);
            await Db.HashSetAsync(Checkpoints, "t:0", "100:5");
        }
    }

    [Fact]
    public async Task A_checkpoint_not_the_one_expected_refuses_the_move_after_the_shares_landed()
    {
        RedisKey key = _prefix + ":k";
        await Db.HashSetAsync(Checkpoints, "t:1", "50:5");
        var script = new BatchWriteScript();
        script.Start(Checkpoints, [("t:1", "40:5")], [("t:1", "90:6")]);
        script.State(key, "t:1", Stamped(90, 4), 0);

        Assert.False(await WriteAsync(script));

        // The share is ahead of its checkpoint, which its stamp makes harmless: the replay skips what it holds.
        Assert.Equal(Stamped(90, 4), (byte[])(await Db.HashGetAsync(key, "t:1"))!);
        Assert.Equal("50:5", (string?)await Db.HashGetAsync(Checkpoints, "t:1"));
    }

    private static byte[] Stamped(long offset, byte content)
    {
        var writer = new ArrayBufferWriter<byte>();
        ShareStamp.Write(writer, offset);
        writer.Write<byte>([5, content]);
        return writer.WrittenSpan.ToArray();
    }

    private Task<bool> WriteAsync(BatchWriteScript script) =>
        script.WriteBySlotAsync(fixture.Connection.Multiplexer, Db, TimeSpan.FromSeconds(2)).WaitAsync(TimeSpan.FromSeconds(30), Ct);
}
