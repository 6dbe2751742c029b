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
