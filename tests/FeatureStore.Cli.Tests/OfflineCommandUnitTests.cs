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

    [Fact]
    public async Task Export_tells_epoch_units_apart_and_refuses_a_number_in_none()
    {
        var store = Directory.CreateDirectory(Path.Combine(_dir, "offline")).FullName;
        var rows = Path.Combine(_dir, "seconds.csv");
        await File.WriteAllTextAsync(rows, "user_id,event_timestamp\nu1,12345\n", TestContext.Current.CancellationToken);
        var (code, _, error) = await CliRun.RunAsync("export", "-f", CliRun.Example, "--store", store, "--entities", rows, "--features", "user_txn_stats", "-o", Path.Combine(_dir, "out.csv"));
        Assert.Equal(2, code);
        Assert.Contains("row 1, column event_timestamp: '12345' is no epoch time between 1980 and 2200", error, StringComparison.Ordinal);

        (code, _, error) = await CliRun.RunAsync("export", "-f", CliRun.Example, "--store", store, "--entities", rows, "--features", "user_txn_stats", "-o", Path.Combine(_dir, "out.csv"), "--timestamp-unit", "ms");
        Assert.True(code == 0, error);
    }

    [Fact]
    public async Task Get_as_of_takes_the_forms_of_the_entity_table()
    {
        var server = "http://127.0.0.1:" + FeatureStore.Testing.FreePort.Next();
        var (code, _, error) = await CliRun.RunAsync("get", "--server", server, "-e", "user_id=u1", "--features", "user_txn_stats", "--as-of", "12345");
        Assert.Equal(2, code);
        Assert.Contains("--as-of: '12345' is no epoch time", error, StringComparison.Ordinal);

        // Accepted forms get as far as the (absent) server.
        foreach (var form in new[] { "2026-12-06 21:50:00", "1796593800", "1796593800000", "2026-12-06T21:50:00Z" })
        {
            (code, _, error) = await CliRun.RunAsync("get", "--server", server, "-e", "user_id=u1", "--features", "user_txn_stats", "--as-of", form);
            Assert.True(code == 1 && error.Contains("cannot reach the server", StringComparison.Ordinal), $"{form}: {error}");
        }
    }
}
