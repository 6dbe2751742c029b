using System.Text;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Parquet.Compaction;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Tables;
using Parquet;

namespace FeatureStore.Parquet.Tests;

/// <summary>
/// Compaction of the event log: fewer files with the same rows, beside a live writer, and exactly once for
/// readers and the writer's recovery whatever step a crash stops it at.
/// </summary>
public sealed class EventLogCompactorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-compact-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Folder => Path.Combine(_dir, "events", "payments");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Compaction_merges_small_files_and_an_export_reads_exactly_the_same_rows()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario("pay", count: 3_000, users: 40, seed: 5, nowMs: now);
        await scenario.WriteLogAsync(_dir, Ct, batch: 50);
        var entities = scenario.EntityTable(rows: 300, seed: 6);
        var input = Path.Combine(_dir, "entities.parquet");
        await TableWriter.WriteAsync(entities, input, ExportFormat.Parquet, Ct);
        var features = FeatureSelection.Parse(scenario.Compiled, ["user_stats", "merchant_stats:sum_1h"]);
        await PointInTimeExport.RunAsync(scenario.Compiled, _dir, input, features, Path.Combine(_dir, "before.parquet"), ExportFormat.Parquet, null, Ct);
        var rowsBefore = await CommittedRowsAsync();
        var filesBefore = EventLogReader.CommittedFiles(_dir, "payments").Count;
        var positions = Positions(scenario.Compiled.Sources[0]);

        var result = await new EventLogCompactor(_dir, new EventLogCompactionOptions { TargetRows = 10_000, Grace = TimeSpan.Zero }).RunAsync(null, Ct);

        Assert.Equal(OfflineScenario.Partitions, result.Runs.Count);
        var filesAfter = EventLogReader.CommittedFiles(_dir, "payments").Count;
        Assert.True(filesAfter <= 4 * OfflineScenario.Partitions, $"{filesBefore} files became {filesAfter}");
        Assert.Equal(filesBefore - filesAfter, result.Runs.Sum(r => r.FilesBefore - r.FilesAfter));
        Assert.Equal(rowsBefore.Count - CountNewest(), result.Runs.Sum(r => r.Rows));
        Assert.Equal(rowsBefore, await CommittedRowsAsync());
        Assert.Equal(positions, Positions(scenario.Compiled.Sources[0]));
        Assert.Equal(filesAfter, Directory.GetFiles(Folder, "*.parquet", SearchOption.AllDirectories).Length);

        await PointInTimeExport.RunAsync(scenario.Compiled, _dir, input, features, Path.Combine(_dir, "after.parquet"), ExportFormat.Parquet, null, Ct);
        var before = await TableReader.ReadParquetAsync(Path.Combine(_dir, "before.parquet"), Ct);
        var after = await TableReader.ReadParquetAsync(Path.Combine(_dir, "after.parquet"), Ct);
        for (var c = 0; c < before.Columns.Count; c++)
        {
            Assert.Equal(before.Columns[c].Values.Cast<object?>(), after.Columns[c].Values.Cast<object?>());
        }

        // Nothing left to merge: a second run changes nothing.
        Assert.Empty((await new EventLogCompactor(_dir, new EventLogCompactionOptions { TargetRows = 10_000 }).RunAsync(null, Ct)).Runs);
    }

    [Fact]
    public async Task A_compacted_file_keeps_offset_order_row_groups_of_the_set_size_and_its_range()
    {
        var source = Source();
        var writer = new EventLogWriter(_dir, source);
        for (var b = 0; b < 6; b++)
        {
            Assert.True(await writer.CommitAsync("pay", 3, b * 100, (b + 1) * 100, b, Rows(source.Schema, b * 100, 100), Ct));
        }

        var result = await new EventLogCompactor(_dir, new EventLogCompactionOptions { TargetRows = 1_000, RowGroupRows = 64, Grace = TimeSpan.Zero }).RunAsync(null, Ct);

        var run = Assert.Single(result.Runs);
        Assert.Equal(new CompactedRun("payments", 3, 0, 500, 5, 10, 2, 500), run);
        var files = EventLogReader.CommittedFiles(_dir, "payments");
        Assert.Equal(4, files.Count); // two compacted (one per date), then the newest batch's two
        foreach (var path in files.Take(2))
        {
            Assert.StartsWith("c0003-0000000000000000000-0000000000000000499-", Path.GetFileName(path), StringComparison.Ordinal);
            await using var reader = await ParquetReader.CreateAsync(path, cancellationToken: Ct);
            Assert.Equal("500", reader.CustomMetadata["featurestore.next_offset"]);
            var offsets = new List<long>();
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                Assert.True(group.RowCount <= 64);
                offsets.AddRange(await ParquetColumns.ReadRequiredAsync<long>(group, reader.Schema.DataFields.Single(f => f.Name == EventLogSchema.OffsetColumn), Ct));
            }

            Assert.Equal(250, offsets.Count);
            Assert.Equal(offsets.Order(), offsets);
        }

        Assert.Equal(new LogPosition(600, 5), writer.Recover(3));
    }

    [Fact]
    public async Task Compaction_beside_a_writer_appending_loses_and_doubles_nothing()
    {
        var source = Source();
        var writer = new EventLogWriter(_dir, source);
        // Replaced files stay for the default grace, as readers that listed them just before a switch need.
        var compactor = new EventLogCompactor(_dir, new EventLogCompactionOptions { TargetRows = 700, RowGroupRows = 100 });
        const int Batches = 120;
        long committed = 0;
        var writing = Task.Run(async () =>
        {
            for (var b = 0; b < Batches; b++)
            {
                var position = writer.Recover(0); // as after a restart: the position comes from disk
                Assert.Equal(b * 10L, position.NextOffset);
                Assert.True(await writer.CommitAsync("pay", 0, position.NextOffset, position.NextOffset + 10, b, Rows(source.Schema, position.NextOffset, 10), Ct));
                Volatile.Write(ref committed, position.NextOffset + 10);
            }
        }, Ct);
        var compacting = Task.Run(async () =>
        {
            var runs = 0;
            while (!writing.IsCompleted)
            {
                runs += (await compactor.RunAsync(null, Ct)).Runs.Count;
            }

            return runs;
        }, Ct);
        var reads = 0;
        while (!writing.IsCompleted)
        {
            // A reader at any instant sees each offset once, every batch committed before it listed among them.
            var before = Volatile.Read(ref committed);
            var rows = await CommittedRowsAsync();
            Assert.Equal(rows.Count, rows.Distinct().Count());
            Assert.Equal(Enumerable.Range(0, (int)before).Select(i => (0, (long)i)), rows.Take((int)before));
            reads++;
        }

        await writing;
        var merged = await compacting;
        merged += (await new EventLogCompactor(_dir, new EventLogCompactionOptions { TargetRows = 700, Grace = TimeSpan.Zero }).RunAsync(null, Ct)).Runs.Count;
        Assert.True(merged > 0, "compaction ran while the writer appended");
        Assert.True(reads > 0);
        Assert.Equal(Enumerable.Range(0, Batches * 10).Select(i => (0, (long)i)), await CommittedRowsAsync());
        Assert.Equal(new LogPosition(Batches * 10, Batches - 1), writer.Recover(0));
        Assert.Equal(EventLogReader.CommittedFiles(_dir, "payments").Count, Directory.GetFiles(Folder, "*.parquet", SearchOption.AllDirectories).Length);
    }

    [Theory]
    [InlineData(nameof(CompactionStep.FileWritten))]
    [InlineData(nameof(CompactionStep.MarkerWritten))]
    [InlineData(nameof(CompactionStep.Switched))]
    [InlineData(nameof(CompactionStep.ReplacedFileDeleted))]
    [InlineData(nameof(CompactionStep.LeftoverDeleted))]
    public async Task A_crash_at_any_step_leaves_each_event_visible_once_and_the_next_run_cleans_up(string stepName)
    {
        var step = Enum.Parse<CompactionStep>(stepName);
        var source = Source();
        var writer = new EventLogWriter(_dir, source);
        for (var b = 0; b < 8; b++)
        {
            Assert.True(await writer.CommitAsync("pay", 1, b * 50, (b + 1) * 50, b, Rows(source.Schema, b * 50, 50), Ct));
        }

        var expected = await CommittedRowsAsync();
        var options = new EventLogCompactionOptions { TargetRows = 200, Grace = TimeSpan.Zero };
        if (step == CompactionStep.LeftoverDeleted)
        {
            // Leftovers to clean first: a run stopped before its switch.
            await CrashAtAsync(options, CompactionStep.MarkerWritten);
        }

        await CrashAtAsync(options, step);

        // Readers and the writer's recovery, right after the crash.
        Assert.Equal(expected, await CommittedRowsAsync());
        Assert.Equal(new LogPosition(400, 7), writer.Recover(1));
        if (step is CompactionStep.FileWritten or CompactionStep.MarkerWritten)
        {
            Assert.NotEmpty(Directory.GetFiles(Folder, "c0001-*", SearchOption.AllDirectories)); // recovery spares a compaction's files
        }

        // Then more batches and a compaction that completes.
        Assert.True(await writer.CommitAsync("pay", 1, 400, 450, 8, Rows(source.Schema, 400, 50), Ct));
        var result = await new EventLogCompactor(_dir, options).RunAsync(null, Ct);
        Assert.Equal(step is CompactionStep.FileWritten or CompactionStep.MarkerWritten or CompactionStep.LeftoverDeleted, result.LeftoversDeleted > 0);
        Assert.Equal(Enumerable.Range(0, 450).Select(i => (1, (long)i)), await CommittedRowsAsync());
        Assert.Equal(new LogPosition(450, 8), writer.Recover(1));
        Assert.Equal(EventLogReader.CommittedFiles(_dir, "payments").Count, Directory.GetFiles(Folder, "*.parquet", SearchOption.AllDirectories).Length);
        Assert.Empty(Directory.GetFiles(Folder, ".tmp*", SearchOption.AllDirectories));
        Assert.Equal(
            EventLogReader.Visible(EventLogReader.ReadMarkers(Path.Combine(Folder, CommitMarker.Folder))).Count,
            Directory.GetFiles(Path.Combine(Folder, CommitMarker.Folder), "p*.json").Length);
    }

    [Fact]
    public async Task Replaced_files_stay_for_readers_until_the_grace_passes()
    {
        var source = Source();
        var writer = new EventLogWriter(_dir, source);
        for (var b = 0; b < 4; b++)
        {
            Assert.True(await writer.CommitAsync("pay", 0, b * 10, (b + 1) * 10, b, Rows(source.Schema, b * 10, 10), Ct));
        }

        var listed = EventLogReader.CommittedFiles(_dir, "payments");
        var clock = new ManualTime(DateTimeOffset.UtcNow);
        var options = new EventLogCompactionOptions { TargetRows = 1_000, Grace = TimeSpan.FromMinutes(10) };

        var first = await new EventLogCompactor(_dir, options, clock).RunAsync(null, Ct);
        Assert.Single(first.Runs);
        Assert.Equal(6, first.ReplacedFilesWaiting);
        Assert.All(listed, path => Assert.True(File.Exists(path), "a reader that listed before the switch can still read " + path));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (0, (long)i)), await CommittedRowsAsync());

        clock.Now += TimeSpan.FromMinutes(11);
        var second = await new EventLogCompactor(_dir, options, clock).RunAsync(null, Ct);
        Assert.Empty(second.Runs);
        Assert.Equal(6, second.ReplacedFilesDeleted);
        Assert.Equal(4, Directory.GetFiles(Folder, "*.parquet", SearchOption.AllDirectories).Length); // two compacted, the newest batch's two
        Assert.Equal(2, Directory.GetFiles(Path.Combine(Folder, CommitMarker.Folder), "p*.json").Length);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (0, (long)i)), await CommittedRowsAsync());
    }

    [Fact]
    public async Task A_stale_writer_committing_inside_a_compacted_range_is_never_seen()
    {
        var source = Source();
        var writer = new EventLogWriter(_dir, source);
        for (var b = 0; b < 4; b++)
        {
            Assert.True(await writer.CommitAsync("pay", 2, b * 10, (b + 1) * 10, b, Rows(source.Schema, b * 10, 10), Ct));
        }

        var compactor = new EventLogCompactor(_dir, new EventLogCompactionOptions { TargetRows = 1_000, Grace = TimeSpan.Zero });
        Assert.Single((await compactor.RunAsync(null, Ct)).Runs);

        // The replaced markers (the fence at offsets 10 and 20) are gone: a writer that still believes it is at
        // offset 10 can commit there, beyond the end of the compacted range too, but nobody reads it.
        var stale = new EventLogWriter(_dir, source);
        Assert.True(await stale.CommitAsync("pay", 2, 10, 45, 99, Rows(source.Schema, 10, 35), Ct));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (2, (long)i)), await CommittedRowsAsync());
        Assert.Equal(new LogPosition(40, 3), writer.Recover(2));

        await compactor.RunAsync(null, Ct);
        Assert.False(File.Exists(Path.Combine(Folder, CommitMarker.Folder, CommitMarker.FileName(2, 10))));
        Assert.Equal(EventLogReader.CommittedFiles(_dir, "payments").Count, Directory.GetFiles(Folder, "*.parquet", SearchOption.AllDirectories).Length);
    }

    [Fact]
    public async Task A_source_being_compacted_elsewhere_is_skipped()
    {
        var source = Source();
        var writer = new EventLogWriter(_dir, source);
        for (var b = 0; b < 3; b++)
        {
            Assert.True(await writer.CommitAsync("pay", 0, b * 10, (b + 1) * 10, b, Rows(source.Schema, b * 10, 10), Ct));
        }

        var compactor = new EventLogCompactor(_dir, new EventLogCompactionOptions { TargetRows = 1_000, Grace = TimeSpan.Zero });
        await using (new FileStream(Path.Combine(Folder, ".compaction.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var busy = await compactor.RunAsync(null, Ct);
            Assert.Equal(["payments"], busy.BusySources);
            Assert.Empty(busy.Runs);
        }

        Assert.Single((await compactor.RunAsync(null, Ct)).Runs);
    }

    [Fact]
    public void The_visible_chain_prefers_the_newest_generation_and_hides_what_it_covers()
    {
        CommitMarker M(int partition, long first, long next, int generation = 0) => new(partition, first, next, 0, next - first, [], generation);
        var markers = new[]
        {
            M(0, 0, 10), M(0, 10, 20), M(0, 20, 30), M(0, 0, 20, 1), M(0, 0, 30, 2), M(0, 30, 40), M(0, 15, 45),
            M(1, 0, 5), M(1, 5, 9),
        };

        var visible = EventLogReader.Visible(markers).Select(m => (m.Partition, m.FirstOffset, m.NextOffset, m.Generation));

        Assert.Equal([(0, 0L, 30L, 2), (0, 30L, 40L, 0), (1, 0L, 5L, 0), (1, 5L, 9L, 0)], visible);
        Assert.Equal("p0000-0000000000000000000-g000002.json", CommitMarker.FileName(0, 0, 2));
        Assert.Equal(2, CommitMarker.Parse(M(0, 0, 30, 2).Serialize()).Generation);
        Assert.Equal(0, CommitMarker.Parse(M(0, 0, 30).Serialize()).Generation);
    }

    private async Task CrashAtAsync(EventLogCompactionOptions options, CompactionStep step)
    {
        var compactor = new EventLogCompactor(_dir, options) { AfterStep = s => s == step ? throw new SimulatedCrash() : Task.CompletedTask };
        await Assert.ThrowsAsync<SimulatedCrash>(() => compactor.RunAsync(null, Ct));
    }

    private int CountNewest() =>
        EventLogReader.Visible(EventLogReader.ReadMarkers(Path.Combine(Folder, CommitMarker.Folder)))
            .GroupBy(m => m.Partition).Sum(g => (int)g.Last().Rows);

    private Dictionary<int, LogPosition> Positions(CompiledSource source)
    {
        var writer = new EventLogWriter(_dir, source);
        return Enumerable.Range(0, OfflineScenario.Partitions).ToDictionary(p => p, writer.Recover);
    }

    /// <summary>(partition, offset) of every row readers see, sorted.</summary>
    private async Task<List<(int Partition, long Offset)>> CommittedRowsAsync()
    {
        var rows = new List<(int, long)>();
        foreach (var path in EventLogReader.CommittedFiles(_dir, "payments"))
        {
            await using var reader = await ParquetReader.CreateAsync(path, cancellationToken: Ct);
            var fields = reader.Schema.DataFields;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var partitions = await ParquetColumns.ReadRequiredAsync<int>(group, fields.Single(f => f.Name == EventLogSchema.PartitionColumn), Ct);
                var offsets = await ParquetColumns.ReadRequiredAsync<long>(group, fields.Single(f => f.Name == EventLogSchema.OffsetColumn), Ct);
                rows.AddRange(partitions.Zip(offsets));
            }
        }

        rows.Sort();
        return rows;
    }

    private static CompiledSource Source() => new OfflineScenario("pay", count: 0, users: 1, seed: 0, nowMs: 0).Compiled.Sources[0];

    // Events on two dates, so every batch has two files.
    private static Dictionary<long, EventRowBuffer> Rows(EventSchema schema, long firstOffset, int count)
    {
        var parser = new EventParser(schema);
        var rows = new Dictionary<long, EventRowBuffer>();
        for (var i = 0; i < count; i++)
        {
            var time = 1_800_000_000_000 + ((i % 2) * 86_400_000L) + i;
            var json = $$"""{"user_id":"u{{i % 7}}","merchant_id":"m","amount":{{i}},"country":"FR","ts":{{time}}}""";
            Assert.Equal(ParseError.None, parser.Parse(Encoding.UTF8.GetBytes(json)));
            var day = time / 86_400_000;
            if (!rows.TryGetValue(day, out var buffer))
            {
                buffer = new EventRowBuffer(schema);
                rows[day] = buffer;
            }

            buffer.Add(parser, firstOffset + i);
        }

        return rows;
    }

    private sealed class SimulatedCrash : Exception;

    private sealed class ManualTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
