using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.History;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Parquet.Tests;

/// <summary>History imported into the event log: exports on both sides of the cut-over, exactly once.</summary>
public sealed class HistoryImportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-history-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Store => Path.Combine(_dir, "offline");

    // Payments over three hours, the cut-over an hour before the newest: the file holds all of them unsorted
    // (the import leaves the stream's part out), the stream's part goes to the log as the archiver writes it.
    private (OfflineScenario Scenario, string File, long Cutover) HistoryAndStream(int count, int seed)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario("pay", count, users: 80, seed, nowMs: now);
        var file = Path.Combine(_dir, "history.jsonl");
        scenario.WriteEventsFile(file);
        return (scenario, file, now - 3_600_000);
    }

    private async Task<Table> ExportAsync(OfflineScenario scenario, Table entities)
    {
        var input = Path.Combine(_dir, "entities.parquet");
        await TableWriter.WriteAsync(entities, input, ExportFormat.Parquet, Ct);
        var output = Path.Combine(_dir, "train.parquet");
        var features = FeatureSelection.Parse(scenario.Compiled, ["user_stats", "merchant_stats"]);
        await PointInTimeExport.RunAsync(scenario.Compiled, Store, input, features, output, ExportFormat.Parquet, null, Ct);
        return await TableReader.ReadParquetAsync(output, Ct);
    }

    [Fact]
    public async Task Imported_history_and_the_stream_after_the_cutover_export_the_reference_on_both_sides()
    {
        var (scenario, file, cutover) = HistoryAndStream(count: 8_000, seed: 31);
        var source = scenario.Compiled.Sources[0];
        var historyCount = scenario.Events.Count(e => e.Time < cutover);
        Assert.InRange(historyCount, 1_000, 7_000);

        var done = await HistoryImport.RunAsync(source, scenario.Compiled.Repository.Settings,
            new HistoryImportOptions([file]) { StoreDirectory = Store, CutoverMs = cutover, MaxBufferedRows = 1_000 }, null, Ct);
        await scenario.WriteLogAsync(Store, Ct, where: e => e.Time >= cutover);

        Assert.Equal(historyCount, done.Accepted);
        Assert.Equal(scenario.Events.Count - historyCount, done.AfterCutover);
        Assert.Equal(cutover, done.CutoverMs);
        Assert.Equal(scenario.Events.Count, await EventLogScan.CountRowsAsync(Store, source, Ct));
        var entities = scenario.EntityTable(rows: 800, seed: 32);
        var times = (long?[])entities.Find("event_timestamp")!.Values;
        Assert.Contains(times, t => t < cutover);
        Assert.Contains(times, t => t >= cutover);
        scenario.AssertFeaturesEqualReference(entities, await ExportAsync(scenario, entities));
    }

    [Fact]
    public async Task Importing_the_same_file_again_adds_nothing()
    {
        var (scenario, file, _) = HistoryAndStream(count: 3_000, seed: 41);
        var source = scenario.Compiled.Sources[0];
        var options = new HistoryImportOptions([file]) { StoreDirectory = Store };
        var first = await HistoryImport.RunAsync(source, scenario.Compiled.Repository.Settings, options, null, Ct);
        var entities = scenario.EntityTable(rows: 300, seed: 42);
        var before = await ExportAsync(scenario, entities);

        var again = await HistoryImport.RunAsync(source, scenario.Compiled.Repository.Settings, options, null, Ct);

        Assert.False(first.AlreadyImported);
        Assert.Equal(scenario.MaxTime + 1, first.CutoverMs);
        Assert.True(again.AlreadyImported);
        Assert.Equal(first.ImportId, again.ImportId);
        Assert.Equal(first.CutoverMs, again.CutoverMs);
        Assert.Equal(scenario.Events.Count, await EventLogScan.CountRowsAsync(Store, source, Ct));
        var after = await ExportAsync(scenario, entities);
        for (var c = 0; c < before.Columns.Count; c++)
        {
            Assert.Equal(before.Columns[c].Values.Cast<object?>(), after.Columns[c].Values.Cast<object?>());
        }

        scenario.AssertFeaturesEqualReference(entities, after);
    }

    [Fact]
    public async Task Compaction_keeps_the_history_as_it_is_so_a_rerun_still_finds_its_import()
    {
        var (scenario, file, cutover) = HistoryAndStream(count: 4_000, seed: 61);
        var source = scenario.Compiled.Sources[0];
        var options = new HistoryImportOptions([file]) { StoreDirectory = Store, CutoverMs = cutover };
        await HistoryImport.RunAsync(source, scenario.Compiled.Repository.Settings, options, null, Ct);
        await scenario.WriteLogAsync(Store, Ct, batch: 100, where: e => e.Time >= cutover);

        var compacted = await new Compaction.EventLogCompactor(Store, new Compaction.EventLogCompactionOptions { Grace = TimeSpan.Zero }).RunAsync(null, Ct);
        var again = await HistoryImport.RunAsync(source, scenario.Compiled.Repository.Settings, options, null, Ct);

        Assert.NotEmpty(compacted.Runs);
        Assert.DoesNotContain(compacted.Runs, r => r.Partition < 0);
        Assert.True(again.AlreadyImported);
        Assert.Equal(scenario.Events.Count, await EventLogScan.CountRowsAsync(Store, source, Ct));
        var entities = scenario.EntityTable(rows: 300, seed: 62);
        scenario.AssertFeaturesEqualReference(entities, await ExportAsync(scenario, entities));
    }

    [Fact]
    public async Task An_import_stopped_midway_leaves_nothing_visible_and_its_rerun_gives_exactly_one_copy()
    {
        var (scenario, file, _) = HistoryAndStream(count: 20_000, seed: 51);
        var source = scenario.Compiled.Sources[0];
        var options = new HistoryImportOptions([file]) { StoreDirectory = Store, MaxBufferedRows = 1_000 };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var progress = new InlineProgress<ExportProgress>(p =>
        {
            if (p.Done > 0)
            {
                stop.Cancel(); // after the first files are written, before the marker
            }
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => HistoryImport.RunAsync(source, scenario.Compiled.Repository.Settings, options, progress, stop.Token));

        var folder = EventLogWriter.SourceFolder(Store, source.Definition.Name);
        Assert.NotEmpty(Directory.EnumerateFiles(folder, "h-*.parquet", SearchOption.AllDirectories));
        Assert.Equal(0, await EventLogScan.CountRowsAsync(Store, source, Ct));

        var rerun = await HistoryImport.RunAsync(source, scenario.Compiled.Repository.Settings, options, null, Ct);

        Assert.False(rerun.AlreadyImported);
        Assert.Equal(scenario.Events.Count, await EventLogScan.CountRowsAsync(Store, source, Ct));
        var named = EventLogReader.CommittedFiles(Store, source.Definition.Name).Select(Path.GetFileName).ToHashSet();
        Assert.All(Directory.EnumerateFiles(folder, "*.parquet", SearchOption.AllDirectories), f => Assert.Contains(Path.GetFileName(f), named));
    }
}
