using FeatureStore.Testing;

namespace FeatureStore.Cli.Tests;

[Trait("Category", "Integration")]
public sealed class ApplyCommandTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-apply-").FullName;
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..8];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Apply_stores_versions_shows_plans_and_skips_unchanged_content()
    {
        var endpoint = redis.Connection.Endpoint;
        var first = await CliRun.RunAsync("apply", "-f", CliRun.Example, "--redis", endpoint, "--key-prefix", _prefix);
        Assert.Equal(0, first.Code);
        Assert.Contains("+ feature_view user_txn_stats", first.Out, StringComparison.Ordinal);
        Assert.Contains("applied as version 1", first.Out, StringComparison.Ordinal);

        var changed = Path.Combine(_dir, "featurestore.yaml");
        var text = await File.ReadAllTextAsync(CliRun.Example, TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(changed, text.Replace("    ttl: 2d", "    ttl: 3d", StringComparison.Ordinal), TestContext.Current.CancellationToken);

        var dry = await CliRun.RunAsync("apply", "-f", changed, "--redis", endpoint, "--key-prefix", _prefix, "--dry-run");
        Assert.Contains("~ feature_view merchant_txn_stats ttl_ms 172800000 -> 259200000", dry.Out, StringComparison.Ordinal);
        Assert.Contains("dry run", dry.Out, StringComparison.Ordinal);

        var second = await CliRun.RunAsync("apply", "-f", changed, "--redis", endpoint, "--key-prefix", _prefix);
        Assert.Contains("applied as version 2", second.Out, StringComparison.Ordinal);

        var again = await CliRun.RunAsync("apply", "-f", changed, "--redis", endpoint, "--key-prefix", _prefix);
        Assert.Equal(0, again.Code);
        Assert.Contains("no changes", again.Out, StringComparison.Ordinal);
        Assert.Contains("unchanged: version 2 is current", again.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_prints_each_feature_of_a_changed_view_with_its_effect_and_refuses_a_rebuild_the_event_log_cannot_cover()
    {
        var endpoint = redis.Connection.Endpoint;
        var store = Path.Combine(_dir, "offline");
        Assert.Equal(0, (await CliRun.RunAsync("apply", "-f", CliRun.Example, "--redis", endpoint, "--key-prefix", _prefix, "--store", store)).Code);

        // The transactions log: two partitions archived from offset 0, 40 events on each of the last 3 days.
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        for (var d = 0; d < 3; d++)
        {
            WriteMarker(store, 0, d * 1000L, 30, today.AddDays(-d));
            WriteMarker(store, 1, d * 1000L, 10, today.AddDays(-d));
        }

        var changed = Path.Combine(_dir, "featurestore.yaml");
        var text = await File.ReadAllTextAsync(CliRun.Example, TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(changed, text
            .Replace("      - name: amount_max_24h\n", "      - name: amount_min_1h\n        aggregation: min\n        field: amount\n        window: 1h\n      - name: amount_max_24h\n", StringComparison.Ordinal)
            .Replace("ttl: 7d\n    features:\n      - name: txn_count_1h\n        aggregation: count\n        window: 1h\n", "ttl: 7d\n    features:\n      - name: txn_count_1h\n        aggregation: count\n        window: 2h\n", StringComparison.Ordinal),
            TestContext.Current.CancellationToken);

        var plan = await CliRun.RunAsync("apply", "-f", changed, "--redis", endpoint, "--key-prefix", _prefix, "--store", store, "--dry-run", "--allow-partial");
        Assert.Equal(0, plan.Code);
        Assert.Contains("+ feature user_txn_stats:amount_min_1h", plan.Out, StringComparison.Ordinal);
        Assert.Contains("dry run: nothing stored", plan.Out, StringComparison.Ordinal);
        // A 1h window reads today's files, and yesterday's too in the first hour of a day.
        Assert.Matches(@"\n  \+ user_txn_stats:amount_min_1h added: rebuilt from the event log, reading (40|80) events \(BUILDING until it is switched in\)\r?\n", plan.Out);
        Assert.Contains("  ~ user_txn_stats:txn_count_1h changed (window 1h -> 2h): rebuilt from the event log, reading ", plan.Out, StringComparison.Ordinal);
        Assert.Contains("    user_txn_stats:amount_mean_24h unchanged: state kept", plan.Out, StringComparison.Ordinal);
        Assert.Contains("    user_txn_stats:amount_stddev_7d unchanged: state kept", plan.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("merchant_txn_stats:", plan.Out.Split("per feature")[1], StringComparison.Ordinal);

        // The log covers both rebuilds (every partition from offset 0): applied, the two features built beside.
        var applied = await CliRun.RunAsync("apply", "-f", changed, "--redis", endpoint, "--key-prefix", _prefix, "--store", store);
        Assert.Equal(0, applied.Code);
        Assert.Contains("applied as version 2", applied.Out, StringComparison.Ordinal);
        Assert.Matches(@"user_txn_stats: building (amount_min_1h, txn_count_1h|txn_count_1h, amount_min_1h) beside the serving state \(group [0-9a-f]{8}\)", applied.Out);
        Assert.DoesNotContain("merchant_txn_stats: building", applied.Out, StringComparison.Ordinal);

        // The same change over a log that starts 3 days ago and not at offset 0 cannot make a 7d window whole.
        var longer = text.Replace("        aggregation: stddev\n        field: amount\n        window: 7d", "        aggregation: stddev\n        field: amount\n        window: 6d", StringComparison.Ordinal);
        await File.WriteAllTextAsync(changed, longer, TestContext.Current.CancellationToken);
        WriteMarker(store, 2, 500, 5, today);
        var refused = await CliRun.RunAsync("apply", "-f", changed, "--redis", endpoint, "--key-prefix", _prefix, "--store", store);
        Assert.Equal(2, refused.Code);
        Assert.Contains("~ user_txn_stats:amount_stddev_7d changed (window 7d -> 6d): rebuilt from the event log, reading 125 events — REFUSED: the 6d window needs events from ",
            refused.Out, StringComparison.Ordinal);
        Assert.Contains("1 feature(s) would serve values that miss events", refused.Err, StringComparison.Ordinal);
        Assert.Contains("nothing applied", refused.Err, StringComparison.Ordinal);

        var partial = await CliRun.RunAsync("apply", "-f", changed, "--redis", endpoint, "--key-prefix", _prefix, "--store", store, "--allow-partial");
        Assert.Equal(0, partial.Code);
        Assert.Contains("applied as version 3", partial.Out, StringComparison.Ordinal);
    }

    /// <summary>A commit marker of the transactions log (the format the archiver writes), for one day's batch.</summary>
    private static void WriteMarker(string store, int partition, long firstOffset, long rows, DateOnly day)
    {
        var markers = Path.Combine(store, "events", "transactions", "_commits");
        Directory.CreateDirectory(markers);
        var file = $"date={day:yyyy-MM-dd}/p{partition:D4}-{firstOffset:D19}-{firstOffset + rows - 1:D19}-0000abcd.parquet";
        File.WriteAllText(
            Path.Combine(markers, $"p{partition:D4}-{firstOffset:D19}.json"),
            $$"""{"partition":{{partition}},"first_offset":{{firstOffset}},"next_offset":{{firstOffset + rows}},"watermark_ms":0,"rows":{{rows}},"files":["{{file}}"]}""");
    }

    [Fact]
    public async Task Invalid_files_are_never_applied()
    {
        var bad = Path.Combine(_dir, "bad.yaml");
        await File.WriteAllTextAsync(bad, "project: fraud\nentities: []\nsources: []\nfeature_views:\n  - name: v\n", TestContext.Current.CancellationToken);
        var result = await CliRun.RunAsync("apply", "-f", bad, "--redis", redis.Connection.Endpoint, "--key-prefix", _prefix);
        Assert.Equal(2, result.Code);
        Assert.Contains("nothing applied", result.Err, StringComparison.Ordinal);
        Assert.False(await redis.Connection.Database.KeyExistsAsync($"{_prefix}:{{fraud}}:registry:head"));
    }

    [Fact]
    public async Task An_unreachable_store_fails_with_exit_1()
    {
        var result = await CliRun.RunAsync("apply", "-f", CliRun.Example, "--redis", $"127.0.0.1:{FreePort.Next()},connectTimeout=500");
        Assert.Equal(1, result.Code);
        Assert.Contains("cannot connect to the online store", result.Err, StringComparison.Ordinal);
    }
}
