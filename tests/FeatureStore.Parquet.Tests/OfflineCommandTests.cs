using System.Reflection;
using FeatureStore.Parquet.Tables;
using FeatureStore.Testing;

namespace FeatureStore.Parquet.Tests;

/// <summary>`featurestore export` and `backfill` as a user runs them: exit codes, messages, files.</summary>
public sealed class OfflineCommandTests : IDisposable
{
    private static readonly string Cli = Path.GetFullPath(typeof(OfflineCommandTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!);

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-cli-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Export_and_backfill_run_from_the_command_line_with_their_exit_codes()
    {
        var scenario = new OfflineScenario("pay", count: 1_000, users: 20, seed: 71, nowMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var store = Path.Combine(_dir, "store");
        await scenario.WriteLogAsync(store, Ct);
        var repo = Path.Combine(_dir, "repo.yaml");
        await File.WriteAllTextAsync(repo, scenario.RepositoryYaml, Ct);
        var entities = scenario.EntityTable(rows: 50, seed: 72);
        var rows = Path.Combine(_dir, "rows.csv");
        await TableWriter.WriteAsync(entities, rows, ExportFormat.Csv, Ct);
        var output = Path.Combine(_dir, "train.parquet");

        var (code, error) = await RunAsync("export", "-f", repo, "--store", store, "--entities", rows, "--features", "user_stats:n_1h,user_stats:last_country", "-o", output);
        Assert.True(code == 0, error);
        Assert.Contains("export: 50 rows × 2 features", error, StringComparison.Ordinal);
        var table = await TableReader.ReadParquetAsync(output, Ct);
        Assert.Equal(["label", "user_id", "event_timestamp", "note", "merchant_id", "weight", "user_stats__n_1h", "user_stats__last_country"], table.Columns.Select(c => c.Name));

        (code, error) = await RunAsync("export", "-f", repo, "--store", store, "--entities", rows, "--model", "scorer", "-o", output);
        Assert.Equal(2, code);
        Assert.Contains("--features/--model: unknown model 'scorer'", error, StringComparison.Ordinal);

        (code, error) = await RunAsync("export", "-f", repo, "--store", store, "--entities", rows, "--features", "user_stats:nope", "-o", output);
        Assert.Equal(2, code);
        Assert.Contains("view 'user_stats' has no feature 'nope'", error, StringComparison.Ordinal);

        await File.WriteAllTextAsync(rows, "user_id,event_timestamp\nu1,\"2026-01-01T00:00:00Z\n", Ct);
        (code, error) = await RunAsync("export", "-f", repo, "--store", store, "--entities", rows, "--features", "user_stats", "-o", output);
        Assert.Equal(2, code);
        Assert.Contains(rows + ":2:4: quoted field never closed", error, StringComparison.Ordinal);

        (code, error) = await RunAsync("backfill", "-f", repo, "--store", store, "--view", "user_stats");
        Assert.True(code == 0, error);
        Assert.Contains("backfill user_stats: 1000 events, 20 entities", error, StringComparison.Ordinal);

        (code, _) = await RunAsync("export", "--help");
        Assert.Equal(0, code);
    }

    [Fact]
    public async Task Offline_compact_merges_the_log_reports_it_and_exports_stay_the_same()
    {
        var scenario = new OfflineScenario("pay", count: 1_000, users: 20, seed: 73, nowMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var store = Path.Combine(_dir, "store");
        await scenario.WriteLogAsync(store, Ct, batch: 40);
        var repo = Path.Combine(_dir, "repo.yaml");
        await File.WriteAllTextAsync(repo, scenario.RepositoryYaml, Ct);
        var rows = Path.Combine(_dir, "rows.csv");
        await TableWriter.WriteAsync(scenario.EntityTable(rows: 50, seed: 74), rows, ExportFormat.Csv, Ct);
        var (code, error) = await RunAsync("export", "-f", repo, "--store", store, "--entities", rows, "--features", "user_stats", "-o", Path.Combine(_dir, "before.csv"));
        Assert.True(code == 0, error);

        await using (var process = ChildProcess.StartDotnet(Cli, ["offline", "compact", "--store", store, "-f", repo, "--target-rows", "100000", "--grace", "0s"]))
        {
            Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct) == 0, process.ErrorText);
            Assert.Contains(process.Lines, line => line.StartsWith("payments partition ", StringComparison.Ordinal) && line.Contains(" files → ", StringComparison.Ordinal));
            Assert.Contains(" runs merged in 1 sources", process.ErrorText, StringComparison.Ordinal);
        }

        (code, error) = await RunAsync("export", "-f", repo, "--store", store, "--entities", rows, "--features", "user_stats", "-o", Path.Combine(_dir, "after.csv"));
        Assert.True(code == 0, error);
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(_dir, "before.csv"), Ct), await File.ReadAllTextAsync(Path.Combine(_dir, "after.csv"), Ct));

        (code, error) = await RunAsync("offline", "compact", "--store", store, "--source", "clicks");
        Assert.Equal(2, code);
        Assert.Contains("--source: no event log of source 'clicks' (sources: payments)", error, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Error)> RunAsync(params string[] args)
    {
        await using var process = ChildProcess.StartDotnet(Cli, args);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct);
        return (code, process.ErrorText);
    }
}
