using FeatureStore.Testing;

namespace FeatureStore.Cli.Tests;

/// <summary><c>featurestore import --redis</c>: the history's share of each entity in the online store.</summary>
public sealed class ImportOnlineCommandTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-import-online-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Import_with_an_online_store_writes_a_history_share_per_recent_entity_and_a_rerun_does_nothing()
    {
        var recent = DateTimeOffset.UtcNow.AddHours(-2).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        var old = DateTimeOffset.UtcNow.AddDays(-60).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        var input = Path.Combine(_dir, "history.jsonl");
        await File.WriteAllLinesAsync(input,
        [
            $$"""{"transaction_id":"t1","user_id":"u1","merchant_id":"m1","amount":10,"event_time":"{{recent}}"}""",
            $$"""{"transaction_id":"t2","user_id":"u2","merchant_id":"m1","amount":20,"event_time":"{{old}}"}""",
        ], TestContext.Current.CancellationToken);
        var prefix = "imp" + Guid.NewGuid().ToString("N")[..6];
        string[] args = ["import", "-f", CliRun.Example, "--input", input, "--store", Path.Combine(_dir, "offline"), "--redis", redis.Server.Endpoint, "--key-prefix", prefix];

        var (code, _, error) = await CliRun.RunAsync(args);

        Assert.True(code == 0, error);
        Assert.Contains("user_txn_stats: 2 entities, 2 events, 1 entities online", error, StringComparison.Ordinal);
        var db = redis.Connection.Database;
        var keys = new List<string>();
        await foreach (var key in redis.Connection.Multiplexer.GetServers()[0].KeysAsync(pattern: prefix + ":fraud:fv:user_txn_stats:*"))
        {
            keys.Add(key.ToString());
        }

        var share = Assert.Single(keys);
        Assert.EndsWith(":u1", share, StringComparison.Ordinal);
        var fields = await db.HashKeysAsync(share);
        Assert.StartsWith("history:", Assert.Single(fields).ToString(), StringComparison.Ordinal);
        Assert.True((await db.KeyTimeToLiveAsync(share)) > TimeSpan.FromDays(6));

        (code, _, error) = await CliRun.RunAsync(args);
        Assert.Equal(0, code);
        Assert.Contains("imported before", error, StringComparison.Ordinal);
    }
}
