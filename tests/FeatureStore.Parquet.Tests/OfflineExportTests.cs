using Apache.Arrow.Ipc;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Snapshots;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Parquet.Tests;

/// <summary>Exports and backfills over an event log on disk, checked against the §4 reference.</summary>
public sealed class OfflineExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-offline-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Parquet_export_from_the_event_log_equals_the_reference_and_passes_columns_through()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario("pay", count: 4_000, users: 60, seed: 11, nowMs: now);
        await scenario.WriteLogAsync(_dir, Ct);
        var entities = scenario.EntityTable(rows: 600, seed: 12);
        var input = Path.Combine(_dir, "entities.parquet");
        await TableWriter.WriteAsync(entities, input, ExportFormat.Parquet, Ct);
        var output = Path.Combine(_dir, "train.parquet");
        var features = FeatureSelection.Parse(scenario.Compiled, ["user_stats", "merchant_stats:sum_1h"]);

        var result = await PointInTimeExport.RunAsync(scenario.Compiled, _dir, input, features, output, ExportFormat.Parquet, null, Ct);

        Assert.Equal(600, result.Rows);
        Assert.Equal(10, result.FeatureColumns);
        var table = await TableReader.ReadParquetAsync(output, Ct);
        Assert.Equal(["label", "user_id", "event_timestamp", "note", "merchant_id", "weight",
            "user_stats__n_1h", "user_stats__sum_1h", "user_stats__mean_2h", "user_stats__max_30m", "user_stats__min_30m",
            "user_stats__sd_3h", "user_stats__merchants_3h", "user_stats__last_country", "user_stats__n_all", "merchant_stats__sum_1h"],
            table.Columns.Select(c => c.Name));
        for (var c = 0; c < entities.Columns.Count; c++)
        {
            Assert.Equal(entities.Columns[c].Values.Cast<object?>(), table.Columns[c].Values.Cast<object?>());
        }

        scenario.AssertFeaturesEqualReference(entities, table);
    }

    [Fact]
    public async Task A_log_larger_than_the_memory_limit_is_read_in_parts_giving_the_same_values()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario("pay", count: 3_000, users: 50, seed: 13, nowMs: now);
        await scenario.WriteLogAsync(_dir, Ct);
        var entities = scenario.EntityTable(rows: 500, seed: 14);
        var input = Path.Combine(_dir, "entities.parquet");
        await TableWriter.WriteAsync(entities, input, ExportFormat.Parquet, Ct);
        var features = FeatureSelection.Parse(scenario.Compiled, ["user_stats", "merchant_stats:sum_1h"]);
        await PointInTimeExport.RunAsync(scenario.Compiled, _dir, input, features, Path.Combine(_dir, "whole.parquet"), ExportFormat.Parquet, null, Ct);

        // Two views over a 3 000-event log hold 6 000 events; a limit of 1 000 splits the entities into 6 parts.
        var stages = new List<string>();
        var result = await PointInTimeExport.RunAsync(scenario.Compiled, _dir, input, features, Path.Combine(_dir, "parts.parquet"), ExportFormat.Parquet,
            new SynchronousProgress(p => stages.Add(p.Stage)), Ct, maxEventsInMemory: 1_000);

        Assert.Contains("user_stats: computing (part 6 of 6)", stages);
        Assert.DoesNotContain(stages, s => s.Contains("part 7", StringComparison.Ordinal));
        Assert.Equal(6 * 3_000, result.EventsRead); // each part reads the log once
        var whole = await TableReader.ReadParquetAsync(Path.Combine(_dir, "whole.parquet"), Ct);
        var parts = await TableReader.ReadParquetAsync(Path.Combine(_dir, "parts.parquet"), Ct);
        Assert.Equal(whole.Columns.Select(c => c.Name), parts.Columns.Select(c => c.Name));
        for (var c = 0; c < whole.Columns.Count; c++)
        {
            Assert.Equal(whole.Columns[c].Values.Cast<object?>(), parts.Columns[c].Values.Cast<object?>());
        }

        scenario.AssertFeaturesEqualReference(entities, parts);
    }

    [Fact]
    public async Task Csv_in_csv_and_arrow_out_carry_the_same_values()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario("pay", count: 1_500, users: 30, seed: 21, nowMs: now);
        await scenario.WriteLogAsync(_dir, Ct);
        var entities = scenario.EntityTable(rows: 200, seed: 22);
        var input = Path.Combine(_dir, "entities.csv");
        await TableWriter.WriteAsync(entities, input, ExportFormat.Csv, Ct);
        var features = FeatureSelection.Parse(scenario.Compiled, ["user_stats:sum_1h,user_stats:last_country", "user_stats:n_1h"]);

        await PointInTimeExport.RunAsync(scenario.Compiled, _dir, input, features, Path.Combine(_dir, "out.csv"), ExportFormat.Csv, null, Ct);
        await PointInTimeExport.RunAsync(scenario.Compiled, _dir, input, features, Path.Combine(_dir, "out.arrow"), ExportFormat.Arrow, null, Ct);

        var csv = TableReader.ReadCsv(Path.Combine(_dir, "out.csv"));
        Assert.Equal(200, csv.RowCount);
        Assert.Equal(File.ReadLines(input).First() + ",user_stats__sum_1h,user_stats__last_country,user_stats__n_1h", File.ReadLines(Path.Combine(_dir, "out.csv")).First());
        Assert.Equal(entities.Find("note")!.Values.Cast<object?>(), csv.Find("note")!.Values.Cast<object?>());
        using var stream = File.OpenRead(Path.Combine(_dir, "out.arrow"));
        using var reader = new ArrowFileReader(stream);
        var batch = await reader.ReadNextRecordBatchAsync(Ct);
        Assert.Equal(200, batch.Length);
        var sums = (Apache.Arrow.DoubleArray)batch.Column("user_stats__sum_1h");
        var countries = (Apache.Arrow.StringArray)batch.Column("user_stats__last_country");
        var counts = (Apache.Arrow.Int64Array)batch.Column("user_stats__n_1h");
        var view = scenario.Compiled.FindView("user_stats")!;
        var users = (string?[])entities.Find("user_id")!.Values;
        var times = (long?[])entities.Find("event_timestamp")!.Values;
        for (var r = 0; r < 200; r++)
        {
            Assert.True(OfflineScenario.Same(scenario.Expected(view, 1, users[r]!, times[r]!.Value), sums.GetValue(r)), $"row {r} sum");
            Assert.Equal(scenario.Expected(view, 7, users[r]!, times[r]!.Value), countries.GetString(r));
            Assert.Equal(scenario.Expected(view, 0, users[r]!, times[r]!.Value), counts.GetValue(r));
            var fromCsv = csv.Find("user_stats__n_1h")!.Values.GetValue(r);
            Assert.Equal(counts.GetValue(r)?.ToString(System.Globalization.CultureInfo.InvariantCulture), fromCsv);
        }
    }

    [Fact]
    public async Task Export_after_a_backfill_from_the_log_starts_from_a_snapshot_and_still_equals_the_reference()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario("pay", count: 3_000, users: 40, seed: 31, nowMs: now);
        await scenario.WriteLogAsync(_dir, Ct, to: 2_000);
        var view = scenario.Compiled.FindView("user_stats")!;

        var backfill = await TileBackfill.RunAsync(view, _dir, null, null, Ct);
        Assert.Equal(2_000, backfill.Events);
        Assert.True(backfill.Snapshots >= 1);

        // Rows from the first snapshot boundary on, so the snapshot precedes every row.
        var boundary = ((scenario.MinTime / 86_400_000) + 1) * 86_400_000;
        var entities = scenario.EntityTable(rows: 400, seed: 32);
        var times = (long?[])entities.Find("event_timestamp")!.Values;
        for (var r = 0; r < times.Length; r++)
        {
            times[r] = Math.Max(times[r]!.Value, boundary + r);
        }

        // Events archived after the backfill (some older than its boundary) must still count.
        await scenario.WriteLogAsync(_dir, Ct, from: 2_000);
        var input = Path.Combine(_dir, "entities.parquet");
        await TableWriter.WriteAsync(entities, input, ExportFormat.Parquet, Ct);
        var result = await PointInTimeExport.RunAsync(scenario.Compiled, _dir, input, FeatureSelection.Parse(scenario.Compiled, ["user_stats"]),
            Path.Combine(_dir, "train.parquet"), ExportFormat.Parquet, null, Ct);

        Assert.Equal(1, result.SnapshotsUsed);
        scenario.AssertFeaturesEqualReference(entities, await TableReader.ReadParquetAsync(Path.Combine(_dir, "train.parquet"), Ct));
    }

    [Fact]
    public async Task Backfill_from_an_events_file_serves_exports_with_an_empty_log()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario("pay", count: 2_000, users: 30, seed: 41, nowMs: now);
        var file = Path.Combine(_dir, "history.jsonl");
        scenario.WriteEventsFile(file);
        File.AppendAllLines(file, ["{\"user_id\":\"u1\",\"ts\":\"soon\"}", "not json"]);
        var view = scenario.Compiled.FindView("user_stats")!;

        var backfill = await TileBackfill.RunAsync(view, _dir, file, null, Ct);
        Assert.Equal(2_000, backfill.Events);
        Assert.Equal(2, backfill.Skipped);
        Assert.Contains(backfill.Problems, p => p.StartsWith(file + ":2001:", StringComparison.Ordinal));

        // After the last event's day every event is in the last snapshot: rows there need nothing else.
        var after = ((scenario.MaxTime / 86_400_000) + 1) * 86_400_000;
        var entities = scenario.EntityTable(rows: 100, seed: 42);
        var times = (long?[])entities.Find("event_timestamp")!.Values;
        for (var r = 0; r < times.Length; r++)
        {
            times[r] = after + (r * 60_000);
        }

        var input = Path.Combine(_dir, "entities.parquet");
        await TableWriter.WriteAsync(entities, input, ExportFormat.Parquet, Ct);
        var result = await PointInTimeExport.RunAsync(scenario.Compiled, _dir, input, FeatureSelection.Parse(scenario.Compiled, ["user_stats"]),
            Path.Combine(_dir, "train.parquet"), ExportFormat.Parquet, null, Ct);

        Assert.Equal(1, result.SnapshotsUsed);
        Assert.Equal(0, result.EventsRead);
        scenario.AssertFeaturesEqualReference(entities, await TableReader.ReadParquetAsync(Path.Combine(_dir, "train.parquet"), Ct));
    }

    [Fact]
    public async Task A_log_file_without_a_needed_column_fails_the_export_naming_it_and_leaves_no_output()
    {
        // Many files, read on every core: the bad one in the middle must stop the others and be the error reported.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario("pay", count: 3_000, users: 40, seed: 21, nowMs: now);
        await scenario.WriteLogAsync(_dir, Ct, batch: 100);
        var files = EventLogReader.CommittedFiles(_dir, scenario.Compiled.Sources[0].Definition.Name);
        Assert.True(files.Count > 8, $"{files.Count} files");
        var bad = files[files.Count / 2];
        var original = await TableReader.ReadParquetAsync(bad, Ct);
        await TableWriter.WriteAsync(new Table([.. original.Columns.Where(c => c.Name != "amount")], original.RowCount), bad, ExportFormat.Parquet, Ct);
        var input = Path.Combine(_dir, "entities.parquet");
        await TableWriter.WriteAsync(scenario.EntityTable(rows: 200, seed: 22), input, ExportFormat.Parquet, Ct);
        var output = Path.Combine(_dir, "train.parquet");

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => PointInTimeExport.RunAsync(scenario.Compiled, _dir, input,
            FeatureSelection.Parse(scenario.Compiled, ["user_stats", "merchant_stats:sum_1h"]), output, ExportFormat.Parquet, null, Ct));

        Assert.Equal($"{bad}: no column 'amount'", error.Message);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Bad_csv_files_are_reported_with_file_line_and_column()
    {
        var path = Path.Combine(_dir, "bad.csv");
        File.WriteAllText(path, "user_id,event_timestamp,label\nu1,2026-01-01T00:00:00Z,1\nu2,\"2026-01-01T00:00:00Z\"x,0\n");
        var error = Assert.Throws<TableFileException>(() => TableReader.ReadCsv(path));
        Assert.StartsWith(path + ":3:26:", error.Message, StringComparison.Ordinal);

        File.WriteAllText(path, "user_id,event_timestamp\nu1,2026-01-01T00:00:00Z\nu2,1,extra\n");
        error = Assert.Throws<TableFileException>(() => TableReader.ReadCsv(path));
        Assert.StartsWith(path + ":3:6:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_timestamp_or_missing_key_names_the_file_row_and_column()
    {
        var scenario = new OfflineScenario("pay", count: 10, users: 2, seed: 1, nowMs: 1_800_000_000_000);
        var path = Path.Combine(_dir, "rows.csv");
        File.WriteAllText(path, "user_id,event_timestamp\nu1,2026-01-01T00:00:00Z\nu2,yesterday\n");
        var features = FeatureSelection.Parse(scenario.Compiled, ["user_stats:n_1h"]);
        var error = await Assert.ThrowsAsync<TableFileException>(() =>
            PointInTimeExport.RunAsync(scenario.Compiled, _dir, path, features, Path.Combine(_dir, "o.parquet"), ExportFormat.Parquet, null, Ct));
        Assert.Equal($"{path}: row 2, column event_timestamp: 'yesterday' is not an RFC 3339 time, a 'YYYY-MM-DD HH:MM:SS' time (UTC) or an epoch number", error.Message);

        File.WriteAllText(path, "customer,event_timestamp\nu1,2026-01-01T00:00:00Z\n");
        error = await Assert.ThrowsAsync<TableFileException>(() =>
            PointInTimeExport.RunAsync(scenario.Compiled, _dir, path, features, Path.Combine(_dir, "o.parquet"), ExportFormat.Parquet, null, Ct));
        Assert.Contains("no 'user_id' column", error.Message, StringComparison.Ordinal);

        var unknown = Assert.Throws<ArgumentException>(() => FeatureSelection.Parse(scenario.Compiled, ["user_stats:nope"]));
        Assert.Contains("view 'user_stats' has no feature 'nope'", unknown.Message, StringComparison.Ordinal);
        AssertNoOutputLeft("o.parquet");
    }

    [Fact]
    public async Task An_export_stopped_while_writing_leaves_neither_the_output_nor_a_temporary_file()
    {
        var scenario = new OfflineScenario("pay", count: 2_000, users: 30, seed: 5, nowMs: 1_800_000_000_000);
        await scenario.WriteLogAsync(_dir, Ct);
        var input = Path.Combine(_dir, "entities.parquet");
        await TableWriter.WriteAsync(scenario.EntityTable(rows: 300, seed: 6), input, ExportFormat.Parquet, Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var progress = new SynchronousProgress(p =>
        {
            if (p.Stage.StartsWith("writing", StringComparison.Ordinal))
            {
                stop.Cancel();
            }
        });

        foreach (var format in new[] { ExportFormat.Parquet, ExportFormat.Arrow, ExportFormat.Csv })
        {
            var output = "stopped." + format.ToString().ToLowerInvariant();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => PointInTimeExport.RunAsync(scenario.Compiled, _dir, input,
                FeatureSelection.Parse(scenario.Compiled, ["user_stats"]), Path.Combine(_dir, output), format, progress, stop.Token));
            AssertNoOutputLeft(output);
            stop.TryReset();
        }
    }

    private void AssertNoOutputLeft(string output)
    {
        Assert.False(File.Exists(Path.Combine(_dir, output)), output + " was left behind");
        Assert.Empty(Directory.EnumerateFiles(_dir, ".tmp-*"));
    }

    /// <summary>Reports on the caller's thread, so a test can act at an exact stage.</summary>
    private sealed class SynchronousProgress(Action<ExportProgress> report) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => report(value);
    }
}
