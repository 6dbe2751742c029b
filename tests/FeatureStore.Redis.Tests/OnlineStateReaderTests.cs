using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Redis.Tests;

/// <summary>Serving's reader of stored shares, by each strategy, against redis-server and Garnet.</summary>
public abstract class OnlineStateReaderTests(IOnlineStoreFixture fixture)
{
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..10];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(OnlineReadStrategy.Script)]
    [InlineData(OnlineReadStrategy.Pipeline)]
    [InlineData(OnlineReadStrategy.Transaction)]
    public async Task Every_keys_shares_are_read_in_key_order_and_a_missing_key_has_none(OnlineReadStrategy strategy)
    {
        var db = fixture.Connection.Database;
        byte[] big = [.. Enumerable.Range(0, 100_000).Select(i => (byte)i)];
        await db.HashSetAsync($"{_prefix}:a", [new HashEntry("t:0", new byte[] { 1, 2 }), new HashEntry("t:1", big)]);
        await db.HashSetAsync($"{_prefix}:c", [new HashEntry("t:0", new byte[] { 3 })]);
        RedisKey[] keys = [$"{_prefix}:a", $"{_prefix}:b", $"{_prefix}:c", $"{_prefix}:a"];

        using var shares = await new OnlineStateReader(db, strategy).ReadAsync(keys, 3, TimeSpan.FromSeconds(10), Ct);
        var read = Walk(shares, 3);

        Assert.Equal(3, read.Count);
        Assert.Equal(2, read[0].Count);
        Assert.Contains(read[0], s => s.SequenceEqual(new byte[] { 1, 2 }));
        Assert.Contains(read[0], s => s.SequenceEqual(big));
        Assert.Empty(read[1]);
        Assert.Equal([new byte[] { 3 }], read[2]);
    }

    [Fact]
    public async Task A_key_can_be_skipped_or_its_shares_read_twice()
    {
        var db = fixture.Connection.Database;
        await db.HashSetAsync($"{_prefix}:a", [new HashEntry("t:0", new byte[] { 1 })]);
        await db.HashSetAsync($"{_prefix}:b", [new HashEntry("t:0", new byte[] { 2 })]);
        RedisKey[] keys = [$"{_prefix}:a", $"{_prefix}:b"];

        using var shares = await new OnlineStateReader(db, OnlineReadStrategy.Script).ReadAsync(keys, 2, TimeSpan.FromSeconds(10), Ct);
        var (first, again) = SkipThenReadTwice(shares);

        Assert.Equal([2], first);
        Assert.Equal([2], again);
    }

    private static List<List<byte[]>> Walk(StoredShares shares, int count)
    {
        var reader = shares.Reader();
        var keys = new List<List<byte[]>>();
        for (var k = 0; k < count; k++)
        {
            var read = new List<byte[]>();
            for (var s = reader.NextKey(); s > 0; s--)
            {
                read.Add(reader.NextShare().ToArray());
            }

            keys.Add(read);
        }

        Assert.Throws<InvalidOperationException>(() => Past(shares, count));
        return keys;
    }

    private static void Past(StoredShares shares, int count)
    {
        var reader = shares.Reader();
        for (var k = 0; k <= count; k++)
        {
            reader.SkipKey();
        }
    }

    private static (byte[] First, byte[] Again) SkipThenReadTwice(StoredShares shares)
    {
        var reader = shares.Reader();
        reader.SkipKey();
        Assert.Equal(1, reader.NextKey());
        var mark = reader.Mark();
        return (reader.NextShare().ToArray(), mark.NextShare().ToArray());
    }
}

[Trait("Category", "Integration")]
public sealed class RedisServerOnlineStateReaderTests(RedisServerFixture fixture)
    : OnlineStateReaderTests(fixture), IClassFixture<RedisServerFixture>;

[Trait("Category", "Integration")]
public sealed class GarnetOnlineStateReaderTests(GarnetFixture fixture)
    : OnlineStateReaderTests(fixture), IClassFixture<GarnetFixture>;
