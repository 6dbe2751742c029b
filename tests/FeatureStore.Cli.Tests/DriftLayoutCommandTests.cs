using System.Text.Json;
using FeatureStore.Redis.Drift;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Cli.Tests;

/// <summary>
/// A baseline an earlier version's <c>featurestore baseline</c> stored without the hash tag
/// (<c>PREFIX:PROJECT:drift:baseline:…</c>) is moved to its tagged name by the first command that opens the drift
/// keys, and found by <c>model register</c> and <c>drift</c>.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DriftLayoutCommandTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-drift-layout-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_baseline_stored_without_the_hash_tag_is_moved_once_and_found_by_model_register_and_drift()
    {
        string[] Store(params string[] args) => [.. args, "--redis", redis.Connection.Endpoint, "--key-prefix", _prefix];
        var db = redis.Connection.Database;
        var keys = new DriftKeys(_prefix, "fraud");
        var training = Write("train.csv", 3000, seed: 1, scoreShift: 0);
        var current = Write("current.csv", 2000, seed: 2, scoreShift: 0.25);

        // The store as the earlier version left it: the same baseline JSON, under the name without the hash tag.
        var (code, output, error) = await CliRun.RunAsync(Store("baseline", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", training));
        Assert.True(code == 0, error);
        var id = JsonDocument.Parse(output).RootElement.GetProperty("id").GetString();
        var json = (string?)await db.StringGetAsync(keys.Baseline("fraud_detector", "v1"));
        Assert.NotNull(json);
        RedisKey untagged = $"{_prefix}:fraud:drift:baseline:fraud_detector:v1";
        await db.KeyDeleteAsync([keys.Baseline("fraud_detector", "v1"), keys.Layout]);
        await db.StringSetAsync(untagged, json);

        (code, output, error) = await CliRun.RunAsync(Store("model", "register", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1"));
        Assert.True(code == 0, error);
        Assert.Contains($"baseline {id}", output, StringComparison.Ordinal);
        Assert.Contains($"note: 1 drift keys of project fraud written without the hash tag moved to {_prefix}:{{fraud}}:drift:", error, StringComparison.Ordinal);
        Assert.False(await db.KeyExistsAsync(untagged));
        Assert.Equal(json, (string?)await db.StringGetAsync(keys.Baseline("fraud_detector", "v1")));

        (code, output, error) = await CliRun.RunAsync(Store("drift", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", current));
        Assert.True(code == 0, error);
        Assert.DoesNotContain("note:", error, StringComparison.Ordinal); // moved once
        using var report = JsonDocument.Parse(output);
        Assert.True(report.RootElement.GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("column").GetString() == "score").GetProperty("drifted").GetBoolean());
    }

    private string Write(string name, int rows, int seed, double scoreShift) => DriftCommandUnitTests.WritePredictions(_dir, name, rows, seed, scoreShift);
}
