using FeatureStore.Testing;

namespace FeatureStore.Cli.Tests;

/// <summary><c>featurestore rebuild</c>: builds what the registry has building from the event log, switches it in, exits.</summary>
public sealed class RebuildCommandTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-rebuild-cli-").FullName;
    private readonly string _prefix = "rb" + Guid.NewGuid().ToString("N")[..6];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Store => Path.Combine(_dir, "offline");

    private string[] Shared => ["--redis", redis.Server.Endpoint, "--key-prefix", _prefix];

    [Fact]
    public async Task Rebuild_with_nothing_building_says_so_and_exits_0()
    {
        Directory.CreateDirectory(Store);
        var (code, _, error) = await CliRun.RunAsync(["apply", "-f", CliRun.Example, .. Shared]);
        Assert.True(code == 0, error);

        (code, var output, error) = await CliRun.RunAsync(["rebuild", "-f", CliRun.Example, "--store", Store, .. Shared]);

        Assert.True(code == 0, error);
        Assert.Contains("project fraud: nothing to build", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rebuild_builds_an_added_feature_from_the_event_log_and_switches_it_in()
    {
        var recent = DateTimeOffset.UtcNow.AddHours(-2).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        var input = Path.Combine(_dir, "history.jsonl");
        await File.WriteAllLinesAsync(input,
        [
            $$"""{"transaction_id":"t1","user_id":"u1","merchant_id":"m1","amount":10,"event_time":"{{recent}}"}""",
            $$"""{"transaction_id":"t2","user_id":"u1","merchant_id":"m2","amount":32.5,"event_time":"{{recent}}"}""",
            $$"""{"transaction_id":"t3","user_id":"u2","merchant_id":"m1","amount":20,"event_time":"{{recent}}"}""",
        ], TestContext.Current.CancellationToken);
        var (code, _, error) = await CliRun.RunAsync(["apply", "-f", CliRun.Example, .. Shared]);
        Assert.True(code == 0, error);
        (code, _, error) = await CliRun.RunAsync(["import", "-f", CliRun.Example, "--input", input, "--store", Store, .. Shared]);
        Assert.True(code == 0, error);

        var changed = Path.Combine(_dir, "featurestore.yaml");
        var text = await File.ReadAllTextAsync(CliRun.Example, TestContext.Current.CancellationToken);
        const string anchor = "      - name: txn_count_lifetime\n        aggregation: count\n";
        Assert.Contains(anchor, text, StringComparison.Ordinal);
        await File.WriteAllTextAsync(changed, text.Replace(anchor, anchor + "      - name: amount_sum_lifetime\n        aggregation: sum\n        field: amount\n", StringComparison.Ordinal),
            TestContext.Current.CancellationToken);
        (code, _, error) = await CliRun.RunAsync(["apply", "-f", changed, "--store", Store, "--allow-partial", .. Shared]);
        Assert.True(code == 0, error);

        (code, var output, error) = await CliRun.RunAsync(["rebuild", "-f", changed, "--store", Store, .. Shared]);

        Assert.True(code == 0, error);
        Assert.Contains("building amount_sum_lifetime", error, StringComparison.Ordinal);
        Assert.Matches(@"user_txn_stats:[0-9a-f]{8}: 3 event-log rows read, 2 entities written; switched in as registry version 3", output);
        var keys = new List<string>();
        await foreach (var key in redis.Connection.Multiplexer.GetServers()[0].KeysAsync(pattern: _prefix + ":fraud:fv:user_txn_stats:*:u1"))
        {
            keys.Add(key.ToString());
        }

        Assert.Equal(2, keys.Count); // the serving group (history share) and the group switched in (rebuild)
        Assert.Contains(keys, k => redis.Connection.Database.HashExists(k, "rebuild"));

        (code, output, error) = await CliRun.RunAsync(["rebuild", "-f", changed, "--store", Store, .. Shared]);
        Assert.True(code == 0, error);
        Assert.Contains("nothing to build", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rebuild_of_a_missing_store_is_refused_with_its_path()
    {
        var (code, _, error) = await CliRun.RunAsync(["rebuild", "-f", CliRun.Example, "--store", Path.Combine(_dir, "nowhere"), .. Shared]);

        Assert.Equal(2, code);
        Assert.Contains("--store: no offline store at", error, StringComparison.Ordinal);
    }
}
