namespace FeatureStore.Cli.Tests;

/// <summary><c>export</c>, <c>backfill</c> and <c>offline compact</c>: the checks made before anything is computed.</summary>
public sealed class OfflineCommandUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-offline-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Entities()
    {
        var path = Path.Combine(_dir, "rows.csv");
        File.WriteAllText(path, "user_id,merchant_id,event_timestamp\nu1,m1,2026-12-01T00:00:00Z\n");
        return path;
    }

    [Fact]
    public async Task A_missing_store_is_refused_with_its_path_by_export()
    {
        var store = Path.Combine(_dir, "offline");
        var (code, _, error) = await CliRun.RunAsync("export", "-f", CliRun.Example, "--store", store, "--entities", Entities(), "--features", "user_txn_stats", "-o", Path.Combine(_dir, "out.csv"));
        Assert.Equal(2, code);
        Assert.Contains(store, error, StringComparison.Ordinal);
        Assert.Contains("no offline store", error, StringComparison.Ordinal);
        Assert.DoesNotContain("events read", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "out.csv")));
    }

    [Fact]
    public async Task A_missing_store_is_refused_with_its_path_by_backfill_and_compact()
    {
        var store = Path.Combine(_dir, "offline");
        var (code, _, error) = await CliRun.RunAsync("backfill", "-f", CliRun.Example, "--store", store);
        Assert.Equal(2, code);
        Assert.Contains($"--store: no offline store at {store}", error, StringComparison.Ordinal);

        (code, _, error) = await CliRun.RunAsync("offline", "compact", "--store", store);
        Assert.Equal(2, code);
        Assert.Contains($"--store: no offline store at {store}", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(store));
    }

    [Fact]
    public async Task An_export_to_a_directory_is_refused_before_anything_is_computed()
    {
        var store = Directory.CreateDirectory(Path.Combine(_dir, "offline")).FullName;
        var (code, _, error) = await CliRun.RunAsync("export", "-f", CliRun.Example, "--store", store, "--entities", Entities(), "--features", "user_txn_stats", "-o", _dir);
        Assert.Equal(2, code);
        Assert.Contains($"--output: {_dir} is a directory", error, StringComparison.Ordinal);
        Assert.DoesNotContain("reading", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_export_into_a_missing_folder_is_refused_before_anything_is_computed()
    {
        var store = Directory.CreateDirectory(Path.Combine(_dir, "offline")).FullName;
        var output = Path.Combine(_dir, "no", "such", "out.csv");
        var (code, _, error) = await CliRun.RunAsync("export", "-f", CliRun.Example, "--store", store, "--entities", Entities(), "--features", "user_txn_stats", "-o", output);
        Assert.Equal(2, code);
        Assert.Contains("--output: the folder " + Path.GetDirectoryName(output) + " does not exist", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_prints_each_phase_once()
    {
        var store = Directory.CreateDirectory(Path.Combine(_dir, "offline")).FullName;
        var (code, _, error) = await CliRun.RunAsync("export", "-f", CliRun.Example, "--store", store, "--entities", Entities(), "--features", "user_txn_stats,merchant_txn_stats", "-o", Path.Combine(_dir, "out.csv"));
        Assert.True(code == 0, error);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(lines.Length, lines.Distinct(StringComparer.Ordinal).Count());
    }
}
