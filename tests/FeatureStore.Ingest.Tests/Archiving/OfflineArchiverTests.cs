using System.Globalization;
using System.Reflection;
using FeatureStore.Core.Windows;
using FeatureStore.Ingest.Archiving;
using FeatureStore.Parquet.Compaction;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Tables;
using FeatureStore.Parquet.Tests;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Ingest.Tests.Archiving;

/// <summary>
/// The offline store end to end: events through the embedded Kafka cluster (real TCP) archived to the
/// event log beside the online ingest job on a real redis-server; exports equal both the online lookups at
/// the same instants and the §4 reference; an archiver killed with SIGKILL loses and doubles nothing.
/// </summary>
[Trait("Category", "Integration")]
public sealed class OfflineArchiverTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private static readonly string Cli = Path.GetFullPath(typeof(OfflineArchiverTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!);

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-archive-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Exports_equal_online_lookups_at_the_same_instants_after_real_ingestion()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario(kafka.CreateTopic("offline", OfflineScenario.Partitions), count: 8_000, users: 150, seed: 51, nowMs: now);
        scenario.Produce(kafka.BootstrapServers);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var db = redis.Connection.Database;
        var store = Path.Combine(_dir, "store");

        using var metrics = new IngestMetrics();
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            var online = IngestJobFactory.Create(scenario.Compiled, new IngestOptions
            {
                BootstrapServers = kafka.BootstrapServers,
                GroupId = "ingest",
                MaxBatchDelay = TimeSpan.FromMilliseconds(50),
                SessionTimeout = TimeSpan.FromSeconds(6),
            }, db, prefix, metrics, NullLogger.Instance);
            var archiver = new OfflineArchiver(scenario.Compiled, new OfflineArchiverOptions
            {
                BootstrapServers = kafka.BootstrapServers,
                Directory = store,
                GroupId = "ingest.offline",
                MaxBatchDelay = TimeSpan.FromMilliseconds(200),
                SessionTimeout = TimeSpan.FromSeconds(6),
            }, NullLogger.Instance);
            var runs = new[] { Task.Run(() => online.RunAsync(cts.Token), Ct), Task.Run(() => archiver.RunAsync(cts.Token), Ct) };
            await Eventually.TrueAsync(async () => Archived(store) >= 8_000 && await CheckpointedAsync(db, prefix, scenario.Topic) >= 8_000,
                TimeSpan.FromSeconds(120), "online and offline caught up", Ct);
            await cts.CancelAsync();
            await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30), Ct);
            Assert.Equal(8_000, archiver.EventsWritten);
        }

        await AssertExportsEqualOnlineAndReferenceAsync(scenario, store, db, prefix, [scenario.MaxTime, scenario.MaxTime - (17 * 60_000) - 1, now + (90 * 60_000)]);
    }

    [Fact]
    public async Task Stream_events_before_an_imported_historys_cutover_are_left_out_of_the_log_by_the_archiver()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario(kafka.CreateTopic("offline-handover", OfflineScenario.Partitions), count: 6_000, users: 150, seed: 57, nowMs: now);
        var cutover = now - 3_600_000;
        var store = Path.Combine(_dir, "store");
        var history = Path.Combine(_dir, "history.jsonl");
        await File.WriteAllLinesAsync(history, scenario.Events.Where(e => e.Time < cutover).Select(e => e.Json), Ct);
        var imported = await Parquet.History.HistoryImport.RunAsync(scenario.Compiled.Sources[0], scenario.Compiled.Repository.Settings,
            new Parquet.History.HistoryImportOptions([history]) { StoreDirectory = store, CutoverMs = cutover }, null, Ct);
        scenario.Produce(kafka.BootstrapServers); // the topic holds every event, the history's too
        var streamed = scenario.Events.Count - imported.Accepted;

        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            var archiver = new OfflineArchiver(scenario.Compiled, new OfflineArchiverOptions
            {
                BootstrapServers = kafka.BootstrapServers,
                Directory = store,
                GroupId = "ingest.offline",
                MaxBatchDelay = TimeSpan.FromMilliseconds(200),
                SessionTimeout = TimeSpan.FromSeconds(6),
            }, NullLogger.Instance);
            var run = Task.Run(() => archiver.RunAsync(cts.Token), Ct);
            await Eventually.TrueAsync(() => Task.FromResult(archiver.EventsWritten + archiver.EventsSkipped >= scenario.Events.Count),
                TimeSpan.FromSeconds(120), "the archiver read the topic", Ct);
            await cts.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
            Assert.Equal(streamed, archiver.EventsWritten);
        }

        Assert.Equal(scenario.Events.Count, await EventLogScan.CountRowsAsync(store, scenario.Compiled.Sources[0], Ct));
        var entities = scenario.EntityTable(rows: 400, seed: 58);
        var input = Path.Combine(_dir, "entities.parquet");
        await TableWriter.WriteAsync(entities, input, ExportFormat.Parquet, Ct);
        var output = Path.Combine(_dir, "train.parquet");
        await PointInTimeExport.RunAsync(scenario.Compiled, store, input, FeatureSelection.Parse(scenario.Compiled, ["user_stats", "merchant_stats"]), output, ExportFormat.Parquet, null, Ct);
        scenario.AssertFeaturesEqualReference(entities, await TableReader.ReadParquetAsync(output, Ct));
    }

    [Fact]
    public async Task After_the_cluster_is_replaced_by_a_fresh_one_every_event_of_the_new_one_reaches_the_export_and_the_online_store()
    {
        // The embedded broker of `run` starts empty each time: the offline markers and the online checkpoints
        // count offsets of a log that is gone, and the new one starts again at 0. Same store folder, same Redis.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario(EmbeddedKafkaFixture.UniqueTopic("reborn"), count: 3_000, users: 100, seed: 71, nowMs: now);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var db = redis.Connection.Database;
        var store = Path.Combine(_dir, "store");
        using (var old = Kafka.Embedded.EmbeddedKafkaCluster.Start())
        {
            old.CreateTopic(scenario.Topic, OfflineScenario.Partitions);
            scenario.Produce(old.BootstrapServers, to: 2_000);
            await RunBothAsync(scenario, old.BootstrapServers, db, prefix, store, 2_000);
        }

        using (var fresh = Kafka.Embedded.EmbeddedKafkaCluster.Start())
        {
            fresh.CreateTopic(scenario.Topic, OfflineScenario.Partitions);
            scenario.Produce(fresh.BootstrapServers, from: 2_000);
            await RunBothAsync(scenario, fresh.BootstrapServers, db, prefix, store, 3_000);
        }

        Assert.Equal(3_000, (await CommittedOffsetsAsync(store)).Count);
        await AssertExportsEqualOnlineAndReferenceAsync(scenario, store, db, prefix, [scenario.MaxTime, now + (90 * 60_000)]);
    }

    /// <summary>Runs the online job and the archiver until both have taken <paramref name="total"/> events (counted across topic incarnations).</summary>
    private static async Task RunBothAsync(OfflineScenario scenario, string bootstrap, IDatabase db, string prefix, string store, long total)
    {
        using var metrics = new IngestMetrics();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var online = IngestJobFactory.Create(scenario.Compiled, new IngestOptions
        {
            BootstrapServers = bootstrap,
            GroupId = "ingest",
            MaxBatchDelay = TimeSpan.FromMilliseconds(50),
            SessionTimeout = TimeSpan.FromSeconds(6),
        }, db, prefix, metrics, NullLogger.Instance);
        var archiver = new OfflineArchiver(scenario.Compiled, new OfflineArchiverOptions
        {
            BootstrapServers = bootstrap,
            Directory = store,
            GroupId = "ingest.offline",
            MaxBatchDelay = TimeSpan.FromMilliseconds(200),
            SessionTimeout = TimeSpan.FromSeconds(6),
        }, NullLogger.Instance);
        var runs = new[] { Task.Run(() => online.RunAsync(cts.Token), Ct), Task.Run(() => archiver.RunAsync(cts.Token), Ct) };
        await Eventually.TrueAsync(async () => runs.Any(r => r.IsCompleted) || (Archived(store) >= total && await CheckpointedAsync(db, prefix, scenario.Topic, counted: true) >= total),
            TimeSpan.FromSeconds(60), $"online and offline reach {total} events", Ct);
        await cts.CancelAsync();
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    /// <summary>Exports at each instant equal the online lookups there and the §4 reference.</summary>
    private async Task AssertExportsEqualOnlineAndReferenceAsync(OfflineScenario scenario, string store, IDatabase db, string prefix, long[] instants)
    {
        var reader = new OnlineStoreValues(db, new OnlineKeys(prefix, "offtest"));
        var users = scenario.Events.Select(e => e.User).Distinct().Order(StringComparer.Ordinal).ToArray();
        var merchants = scenario.Events.Select(e => e.Merchant).Distinct().Order(StringComparer.Ordinal).ToArray();
        var userView = scenario.Compiled.FindView("user_stats")!;
        var merchantView = scenario.Compiled.FindView("merchant_stats")!;
        foreach (var t in instants)
        {
            var rows = users.Length;
            var table = new Table(
            [
                new TableColumn("user_id", users.Cast<string?>().ToArray()),
                new TableColumn("merchant_id", Enumerable.Range(0, rows).Select(i => (string?)merchants[i % merchants.Length]).ToArray()),
                new TableColumn("event_timestamp", Enumerable.Repeat((long?)t, rows).ToArray()),
            ], rows);
            var input = Path.Combine(_dir, "rows.parquet");
            var output = Path.Combine(_dir, "train.parquet");
            await TableWriter.WriteAsync(table, input, ExportFormat.Parquet, Ct);
            await PointInTimeExport.RunAsync(scenario.Compiled, store, input, FeatureSelection.Parse(scenario.Compiled, ["user_stats", "merchant_stats"]),
                output, ExportFormat.Parquet, null, Ct);
            var exported = await TableReader.ReadParquetAsync(output, Ct);

            var (values, exact) = await reader.ReadAsync(
                [new ViewRead(userView, users), new ViewRead(merchantView, [.. table.Columns[1].Values.Cast<string>()])], t);
            Assert.True(exact);
            for (var r = 0; r < rows; r++)
            {
                for (var f = 0; f < userView.Features.Count; f++)
                {
                    AssertSame(values[0][r][f], exported.Find("user_stats__" + userView.Definition.Features[f].Name)!.Values.GetValue(r), $"user_stats f{f} {users[r]} at {t}");
                }

                for (var f = 0; f < merchantView.Features.Count; f++)
                {
                    AssertSame(values[1][r][f], exported.Find("merchant_stats__" + merchantView.Definition.Features[f].Name)!.Values.GetValue(r), $"merchant_stats f{f} at {t}");
                }
            }

            scenario.AssertFeaturesEqualReference(table, exported);
        }
    }

    [Fact]
    public async Task An_archiver_killed_three_times_mid_stream_loses_and_doubles_no_row()
    {
        // Enough events that three runs of a few thousand each, plus what a loaded machine archives between seeing
        // the target and the kill, stay well short of the end.
        const int Events = 60_000;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario(kafka.CreateTopic("offcrash", OfflineScenario.Partitions), count: Events, users: 300, seed: 61, nowMs: now);
        scenario.Produce(kafka.BootstrapServers);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var store = Path.Combine(_dir, "store");
        var file = Path.Combine(_dir, "repo.yaml");
        await File.WriteAllTextAsync(file, scenario.RepositoryYaml, Ct);
        var random = new Random(61);

        for (var kill = 1; kill <= 3; kill++)
        {
            var before = Archived(store);
            await using var ingest = StartIngest(file, prefix, store);
            var target = before + random.Next(500, 5_000);
            await Eventually.TrueAsync(() => Task.FromResult(Archived(store) >= target), TimeSpan.FromSeconds(90), $"run {kill} passes {target}", Ct);
            ingest.KillHard();
            await ingest.WaitForExitAsync(TimeSpan.FromSeconds(10), Ct);
        }

        Assert.True(Archived(store) < Events, $"every kill must land mid-stream: {Archived(store)} of {Events} archived after the third");
        await using (var last = StartIngest(file, prefix, store))
        {
            await Eventually.TrueAsync(() => Task.FromResult(Archived(store) >= Events), TimeSpan.FromSeconds(120), "archive complete", Ct);
        }

        // Every (partition, offset) of the topic exactly once among the committed files, nothing else on disk.
        var seen = await CommittedOffsetsAsync(store);
        Assert.Equal(Events, seen.Count);
        var onDisk = Directory.GetFiles(Path.Combine(store, "events", "payments"), "*.parquet", SearchOption.AllDirectories);
        Assert.Equal(EventLogReader.CommittedFiles(store, "payments").Count, onDisk.Length);
    }

    [Fact]
    public async Task Compaction_beside_a_live_archiver_and_its_restart_loses_and_doubles_no_row()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario(kafka.CreateTopic("offcompact", OfflineScenario.Partitions), count: 12_000, users: 200, seed: 81, nowMs: now);
        scenario.Produce(kafka.BootstrapServers);
        var store = Path.Combine(_dir, "store");
        var compactor = new EventLogCompactor(store, new EventLogCompactionOptions { TargetRows = 1_500, RowGroupRows = 500 });
        var merged = 0;

        // The archiver runs twice (a restart resumes from the compacted log); compaction runs all along.
        foreach (var until in new[] { 5_000, 12_000 })
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var archiver = new OfflineArchiver(scenario.Compiled, new OfflineArchiverOptions
            {
                BootstrapServers = kafka.BootstrapServers,
                Directory = store,
                GroupId = "ingest.offline",
                MaxBatchEvents = 150,
                MaxBatchDelay = TimeSpan.FromMilliseconds(50),
                SessionTimeout = TimeSpan.FromSeconds(6),
            }, NullLogger.Instance);
            var archiving = Task.Run(() => archiver.RunAsync(cts.Token), Ct);
            var compacting = Task.Run(async () =>
            {
                while (!cts.IsCancellationRequested)
                {
                    Interlocked.Add(ref merged, (await compactor.RunAsync(null, Ct)).Runs.Count);
                }
            }, Ct);
            await Eventually.TrueAsync(() => Archived(store) >= until, TimeSpan.FromSeconds(120), $"{until} events archived", Ct);
            await cts.CancelAsync();
            await Task.WhenAll(archiving, compacting).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        }

        Assert.True(merged > 0, "compaction merged batches while the archiver wrote");
        await new EventLogCompactor(store, new EventLogCompactionOptions { TargetRows = 1_500, Grace = TimeSpan.Zero }).RunAsync(null, Ct);
        var seen = await CommittedOffsetsAsync(store);
        Assert.Equal(12_000, seen.Count);
        Assert.True(EventLogReader.CommittedFiles(store, "payments").Count < Archived(store) / 150, "fewer files than batches");
        var onDisk = Directory.GetFiles(Path.Combine(store, "events", "payments"), "*.parquet", SearchOption.AllDirectories);
        Assert.Equal(EventLogReader.CommittedFiles(store, "payments").Count, onDisk.Length);
    }

    [Fact]
    public async Task An_import_killed_with_sigkill_midway_and_run_again_leaves_exactly_one_copy_and_the_online_state_of_an_uninterrupted_import()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario("killed-import", count: 450_000, users: 5_000, seed: 71, nowMs: now);
        var file = Path.Combine(_dir, "repo.yaml");
        await File.WriteAllTextAsync(file, scenario.RepositoryYaml, Ct);
        var history = Path.Combine(_dir, "history.jsonl");
        scenario.WriteEventsFile(history);
        var store = Path.Combine(_dir, "store");
        var folder = EventLogWriter.SourceFolder(store, scenario.Compiled.Sources[0].Definition.Name);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        string[] args = ["import", "-f", file, "--input", history, "--store", store, "--redis", redis.Connection.Endpoint, "--key-prefix", prefix];

        // Killed once its first files (200 000 rows buffered) are on disk, before its marker.
        await using (var first = ChildProcess.StartDotnet(Cli, args))
        {
            await Eventually.TrueAsync(() => Directory.Exists(folder) && Directory.EnumerateFiles(folder, "h-*.parquet", SearchOption.AllDirectories).Any(),
                TimeSpan.FromSeconds(90), "the import wrote its first files", Ct);
            first.KillHard();
            await first.WaitForExitAsync(TimeSpan.FromSeconds(10), Ct);
        }

        Assert.Equal(0, await EventLogScan.CountRowsAsync(store, scenario.Compiled.Sources[0], Ct));
        await using (var again = ChildProcess.StartDotnet(Cli, args))
        {
            await again.WaitForExitAsync(TimeSpan.FromSeconds(120), Ct);
            Assert.True(again.ExitCode == 0, again.ErrorText);
        }

        Assert.Equal(scenario.Events.Count, await EventLogScan.CountRowsAsync(store, scenario.Compiled.Sources[0], Ct));
        var named = EventLogReader.CommittedFiles(store, scenario.Compiled.Sources[0].Definition.Name).Select(Path.GetFileName).ToHashSet();
        Assert.All(Directory.EnumerateFiles(folder, "*.parquet", SearchOption.AllDirectories), f => Assert.Contains(Path.GetFileName(f), named));

        // Exact online too: the killed and rerun import left the very bytes an uninterrupted import of the file leaves.
        var clean = "c" + Guid.NewGuid().ToString("N")[..8];
        await using (var uninterrupted = ChildProcess.StartDotnet(Cli, ["import", "-f", file, "--input", history, "--store", Path.Combine(_dir, "clean"), "--redis", redis.Connection.Endpoint, "--key-prefix", clean]))
        {
            await uninterrupted.WaitForExitAsync(TimeSpan.FromSeconds(120), Ct);
            Assert.True(uninterrupted.ExitCode == 0, uninterrupted.ErrorText);
        }

        var rerun = await StoreSnapshots.OnlineAsync(redis.Connection, prefix);
        Assert.NotEmpty(rerun);
        Assert.Equal((await StoreSnapshots.OnlineAsync(redis.Connection, clean)).Select(line => line[clean.Length..]), rerun.Select(line => line[prefix.Length..]));
    }

    [Fact]
    public async Task A_skewed_unsorted_history_then_the_stream_after_its_cutover_export_and_look_up_as_the_reference_and_importing_it_again_changes_nothing()
    {
        const int HistoryCount = 54_000;
        const int StreamCount = 12_000;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var cutover = now - 3_600_000;
        var scenario = new OfflineScenario(kafka.CreateTopic("history-e2e", OfflineScenario.Partitions), count: 0, users: 1, seed: 0, nowMs: now);

        // Users Pareto-skewed (Lomax, shape 1.16: a few users hold most events), times unsorted over the three
        // hours before the cut-over, a tenth repeating an earlier time (ties for last); then an hour of stream.
        var random = new Random(81);
        void Draw(int count, long from, long to)
        {
            var first = scenario.Events.Count;
            for (var i = 0; i < count; i++)
            {
                var user = Math.Min(100_000, (int)(2 * (Math.Pow(1 - random.NextDouble(), -1 / 1.16) - 1)));
                var time = random.Next(10) == 0 && i > 0 ? scenario.Events[first + random.Next(i)].Time : random.NextInt64(from, to);
                var amount = random.Next(20) == 0 ? (double?)null : Math.Round(random.NextDouble() * 500, 2);
                scenario.Events.Add(new OfflineScenario.Payment("u" + user.ToString(CultureInfo.InvariantCulture), "m" + random.Next(50).ToString(CultureInfo.InvariantCulture),
                    amount, new[] { "FR", "DE", "IT", "ES" }[random.Next(4)], time, scenario.Events.Count));
            }
        }

        Draw(HistoryCount, cutover - (3 * 3_600_000), cutover);
        Draw(StreamCount, cutover, now);
        var history = Path.Combine(_dir, "history.jsonl");
        await File.WriteAllLinesAsync(history, scenario.Events.Take(HistoryCount).Select(e => e.Json), Ct);
        var heavy = scenario.Events.Take(HistoryCount).GroupBy(e => e.User).Count(g => g.Count() > 5_000);
        Assert.True(heavy >= 3, $"{heavy} users with more than 5 000 history events");

        var db = redis.Connection.Database;
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var store = Path.Combine(_dir, "store");
        var source = scenario.Compiled.Sources[0];
        var options = new Parquet.History.HistoryImportOptions([history])
        {
            StoreDirectory = store,
            CutoverMs = cutover,
            MaxBufferedRows = 10_000, // several files per import, so the interrupted one leaves some
            MaxSpillRecords = 16_000, // several sorted runs per view to merge
            SpillDirectory = _dir,
        };
        Task<Parquet.History.HistoryImportResult> ImportAsync(IProgress<ExportProgress>? progress, CancellationToken cancellationToken) =>
            History.SourceHistoryImport.RunAsync(scenario.Compiled, source, options, db, prefix, progress, cancellationToken);

        // An import stopped midway (files on disk, no marker) and run again: exactly one copy, as the checks below show.
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            var progress = new InlineProgress<ExportProgress>(p =>
            {
                if (p.Done >= 20_000)
                {
                    stop.Cancel();
                }
            });
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ImportAsync(progress, stop.Token));
            Assert.NotEmpty(Directory.EnumerateFiles(store, "h-*.parquet", SearchOption.AllDirectories));
        }

        var imported = await ImportAsync(null, Ct);
        Assert.Equal((HistoryCount, 0L, false), (imported.Accepted, imported.Rejected, imported.AlreadyImported));
        var importSeconds = clock.Elapsed.TotalSeconds;

        // The topic holds the history's events too (in file order), then the stream's: ingest and the archiver
        // leave those before the cut-over to the history.
        scenario.Produce(kafka.BootstrapServers);
        using var metrics = new IngestMetrics();
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            var online = IngestJobFactory.Create(scenario.Compiled, new IngestOptions
            {
                BootstrapServers = kafka.BootstrapServers,
                GroupId = "ingest",
                MaxBatchDelay = TimeSpan.FromMilliseconds(50),
                SessionTimeout = TimeSpan.FromSeconds(6),
            }, db, prefix, metrics, NullLogger.Instance);
            var archiver = new OfflineArchiver(scenario.Compiled, new OfflineArchiverOptions
            {
                BootstrapServers = kafka.BootstrapServers,
                Directory = store,
                GroupId = "ingest.offline",
                MaxBatchDelay = TimeSpan.FromMilliseconds(200),
                SessionTimeout = TimeSpan.FromSeconds(6),
            }, NullLogger.Instance);
            var runs = new[] { Task.Run(() => online.RunAsync(cts.Token), Ct), Task.Run(() => archiver.RunAsync(cts.Token), Ct) };
            var total = HistoryCount + StreamCount;
            await Eventually.TrueAsync(() => Task.FromResult(runs.Any(r => r.IsCompleted)
                    || (metrics.EventsTotal + metrics.HistoryOwnedTotal >= total && archiver.EventsWritten + archiver.EventsSkipped >= total)),
                TimeSpan.FromSeconds(120), "ingest and the archiver read the topic", Ct);
            await cts.CancelAsync();
            await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30), Ct);
            Assert.Equal((StreamCount, HistoryCount, 0L), (metrics.EventsTotal, metrics.HistoryOwnedTotal, metrics.DeadLetteredTotal));
            Assert.Equal((StreamCount, HistoryCount), (archiver.EventsWritten, archiver.EventsSkipped));
        }

        var streamSeconds = clock.Elapsed.TotalSeconds - importSeconds;

        // Exports at random instants on both sides of the cut-over equal the §4 reference over the raw events.
        var entities = scenario.EntityTable(rows: 600, seed: 82);
        var times = (long?[])entities.Find("event_timestamp")!.Values;
        Assert.True(times.Count(t => t < cutover) >= 100 && times.Count(t => t >= cutover) >= 100, "instants on both sides of the cut-over");
        var input = Path.Combine(_dir, "entities.parquet");
        await TableWriter.WriteAsync(entities, input, ExportFormat.Parquet, Ct);
        var output = Path.Combine(_dir, "train.parquet");
        await PointInTimeExport.RunAsync(scenario.Compiled, store, input, FeatureSelection.Parse(scenario.Compiled, ["user_stats", "merchant_stats"]), output, ExportFormat.Parquet, null, Ct);
        scenario.AssertFeaturesEqualReference(entities, await TableReader.ReadParquetAsync(output, Ct));

        // Lookups of every user and merchant at now (and past the newest event) equal the export there and the reference.
        await AssertExportsEqualOnlineAndReferenceAsync(scenario, store, db, prefix, [now, now + (90 * 60_000)]);

        // The same file again: found done, the online bytes and the offline log as they were.
        var onlineBefore = await StoreSnapshots.OnlineAsync(redis.Connection, prefix);
        var offlineBefore = StoreSnapshots.Files(store);
        var again = await ImportAsync(null, Ct);
        Assert.True(again.AlreadyImported);
        Assert.Equal(onlineBefore, await StoreSnapshots.OnlineAsync(redis.Connection, prefix));
        Assert.Equal(offlineBefore, StoreSnapshots.Files(store));
        Assert.Equal(HistoryCount + StreamCount, await EventLogScan.CountRowsAsync(store, source, Ct));
        TestContext.Current.SendDiagnosticMessage(
            $"history end to end: {HistoryCount} history events ({heavy} users over 5 000, {scenario.Events.Select(e => e.User).Distinct().Count()} users), {StreamCount} streamed; "
            + $"imports {importSeconds:0.0} s, stream {streamSeconds:0.0} s, total {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private ChildProcess StartIngest(string file, string prefix, string store) => ChildProcess.StartDotnet(Cli,
    [
        "ingest", "-f", file,
        "--bootstrap-servers", kafka.BootstrapServers,
        "--redis", redis.Connection.Endpoint,
        "--key-prefix", prefix,
        "--group", "ingest",
        "--session-timeout-ms", "6000",
        "--offline", store,
        "--offline-batch-events", "300",
    ]);

    /// <summary>Offsets covered by commit markers, summed over partitions.</summary>
    private static long Archived(string store)
    {
        var folder = Path.Combine(store, "events", "payments", CommitMarker.Folder);
        if (!Directory.Exists(folder))
        {
            return 0;
        }

        return Directory.GetFiles(folder, "p*.json")
            .Select(p => CommitMarker.Parse(File.ReadAllBytes(p)))
            .GroupBy(m => m.Partition)
            .Sum(g => g.Max(m => m.NextOffset));
    }

    /// <summary>
    /// Sum of the stored checkpoints' next offsets; with <paramref name="counted"/>, offsets counted across topic
    /// incarnations (each plus its base).
    /// </summary>
    private static async Task<long> CheckpointedAsync(IDatabase db, string prefix, string topic, bool counted = false)
    {
        long total = 0;
        for (var p = 0; p < OfflineScenario.Partitions; p++)
        {
            var stored = await db.HashGetAsync(new OnlineKeys(prefix, "offtest").Checkpoints("ingest"), OnlineKeys.PartitionField(topic, p));
            if (!stored.IsNull)
            {
                var checkpoint = PartitionCheckpoint.Parse(stored.ToString());
                total += checkpoint.NextOffset + (counted ? checkpoint.OffsetBase : 0);
            }
        }

        return total;
    }

    private static void AssertSame(FeatureValue online, object? exported, string what) =>
        Assert.True(OfflineScenario.Same(online.Boxed, exported), $"{what}: online {online.Boxed ?? "null"}, export {exported ?? "null"}");

    /// <summary>The (partition, offset) of every event among the committed files; fails on one seen twice.</summary>
    private static async Task<HashSet<(int, long)>> CommittedOffsetsAsync(string store)
    {
        var seen = new HashSet<(int, long)>();
        foreach (var path in EventLogReader.CommittedFiles(store, "payments"))
        {
            var reader = await global::Parquet.ParquetReader.CreateAsync(path, cancellationToken: Ct);
            await using (reader)
            {
                var fields = reader.Schema.DataFields;
                for (var g = 0; g < reader.RowGroupCount; g++)
                {
                    using var group = reader.OpenRowGroupReader(g);
                    var partitions = await ParquetColumns.ReadRequiredAsync<int>(group, fields.Single(f => f.Name == EventLogSchema.PartitionColumn), Ct);
                    var offsets = await ParquetColumns.ReadRequiredAsync<long>(group, fields.Single(f => f.Name == EventLogSchema.OffsetColumn), Ct);
                    for (var i = 0; i < offsets.Length; i++)
                    {
                        Assert.True(seen.Add((partitions[i], offsets[i])), $"partition {partitions[i]} offset {offsets[i]} archived twice");
                    }
                }
            }
        }

        return seen;
    }
}
