using System.Reflection;
using System.Text;
using FeatureStore.Ingest.Tests;
using FeatureStore.Parquet.History;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Host.Tests;

/// <summary>
/// A source's <c>history</c> declared in the repository, imported by the host before its jobs start: once (a
/// second start finds it done and writes nothing), online and offline, and the stream after it through the host's
/// own jobs. Embedded Kafka cluster, real redis-server, the host in process.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DeclaredHistoryTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private const int HistoryEvents = 3_000;

    private static readonly string Cli = Path.GetFullPath(typeof(DeclaredHistoryTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!);

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-host-history-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Store => Path.Combine(_dir, "store");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_declared_history_is_imported_at_the_first_start_before_the_jobs_and_found_done_at_the_next()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("declared", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var cutover = now - 3_600_000;
        var history = WriteHistory(scenario, cutover, badLine: 100);
        var config = WriteConfig(scenario, $"history: {{ path: history/payments.jsonl, cutover: {cutover} }}");
        var db = redis.Connection.Database;

        var firstLogs = new CapturedLogs();
        using (var loggers = LoggerFactory.Create(b => b.AddProvider(firstLogs)))
        {
            await using var host = await FeatureStoreHost.CreateAsync(HostConfiguration.Load(config), loggers, cancellationToken: Ct);

            // Imported before any job ran: online values and the offline log hold the history.
            await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
            Assert.Equal(HistoryEvents, await CommittedRowsAsync());
            Assert.Equal(cutover, HistoryImport.RecordedCutover(Store, "payments"));

            // The host's ingest job read the cut-over at its start: the stream's events before it are the history's.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var run = host.RunAsync(stop.Token);
            scenario.Produce(kafka.BootstrapServers, count: 2_000, users: 150, seed: 8, nowMs: now, firstIndex: HistoryEvents + 1, countsFrom: cutover);
            await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(90), Ct);
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(60), Ct);
            await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        }

        Assert.Contains(firstLogs.Records, r => r.StartsWith("Information", StringComparison.Ordinal)
            && r.Contains($"{HistoryEvents} events imported, 1 rejected", StringComparison.Ordinal) && r.Contains(history, StringComparison.Ordinal));
        Assert.Contains(firstLogs.Records, r => r.StartsWith("Warning", StringComparison.Ordinal)
            && r.Contains("1 rows refused", StringComparison.Ordinal) && r.Contains(HistoryImport.RejectsFile(history), StringComparison.Ordinal));
        Assert.True(File.Exists(HistoryImport.RejectsFile(history)));

        // The next start reads the file's bytes again for the import id, finds its marker, and writes nothing.
        var onlineBefore = await StoreSnapshots.OnlineAsync(redis.Connection, scenario.KeyPrefix);
        var offlineBefore = StoreSnapshots.Files(Store);
        var secondLogs = new CapturedLogs();
        using (var loggers = LoggerFactory.Create(b => b.AddProvider(secondLogs)))
        {
            await using var again = await FeatureStoreHost.CreateAsync(HostConfiguration.Load(config), loggers, cancellationToken: Ct);
        }

        Assert.Contains(secondLogs.Records, r => r.Contains("imported before", StringComparison.Ordinal) && r.Contains(history, StringComparison.Ordinal));
        Assert.DoesNotContain(secondLogs.Records, r => r.Contains("events imported", StringComparison.Ordinal));
        Assert.Equal(onlineBefore, await StoreSnapshots.OnlineAsync(redis.Connection, scenario.KeyPrefix));
        Assert.Equal(offlineBefore, StoreSnapshots.Files(Store));
    }

    [Fact]
    public async Task A_missing_declared_history_file_stops_the_start_with_its_path()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("declared-missing", partitions: 4));
        var config = WriteConfig(scenario, "history: { path: history/nowhere.jsonl }");

        var error = await Assert.ThrowsAsync<HostConfigurationException>(() => FeatureStoreHost.CreateAsync(HostConfiguration.Load(config), NullLoggerFactory.Instance, cancellationToken: Ct));

        Assert.Contains(Path.Combine(_dir, "history", "nowhere.jsonl") + ": no such file or folder", error.Message, StringComparison.Ordinal);
        Assert.Contains("'payments'", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Store));
    }

    [Fact]
    public async Task Run_with_a_missing_declared_history_file_exits_2_naming_it()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("declared-missing-run", partitions: 4));
        var config = WriteConfig(scenario, "history: { path: history/nowhere.jsonl }");

        await using var run = ChildProcess.StartDotnet(Cli, ["run", "-c", config]);

        Assert.Equal(2, await run.WaitForExitAsync(TimeSpan.FromSeconds(90), Ct));
        Assert.Contains(Path.Combine(_dir, "history", "nowhere.jsonl") + ": no such file or folder", run.ErrorText, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.ErrorText, StringComparison.Ordinal);
        Assert.DoesNotContain(run.Lines, l => l.StartsWith("running: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_online_store_that_cannot_be_reached_for_a_declared_import_stops_the_start_with_its_address()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("declared-no-store", partitions: 4));
        WriteHistory(scenario, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 3_600_000, badLine: null);
        var settings = HostConfiguration.Load(WriteConfig(scenario, "history: { path: history/payments.jsonl }"));
        var nowhere = $"127.0.0.1:{FreePort.Next()}";
        settings.Redis.Configuration = nowhere + ",asyncTimeout=1000,syncTimeout=1000";

        var error = await Assert.ThrowsAsync<Redis.OnlineStoreUnavailableException>(() => FeatureStoreHost.CreateAsync(settings, NullLoggerFactory.Instance, cancellationToken: Ct));

        Assert.Contains("the history of source 'payments'", error.Message, StringComparison.Ordinal);
        Assert.Contains(nowhere, error.Message, StringComparison.Ordinal);
        Assert.Equal(0, Directory.Exists(Store) ? EventLogMarkers() : 0);
    }

    private int EventLogMarkers() => Directory.EnumerateFiles(Store, "*.json", SearchOption.AllDirectories).Count();

    [Fact]
    public async Task A_history_folder_imports_each_file_once_so_a_file_added_later_is_imported_alone()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("declared-folder", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var first = WriteHistory(scenario, now - 3_600_000, badLine: null, name: "a.jsonl");
        var config = WriteConfig(scenario, "history: { path: history }");
        await using (await FeatureStoreHost.CreateAsync(HostConfiguration.Load(config), NullLoggerFactory.Instance, cancellationToken: Ct))
        {
        }

        var second = WriteHistory(scenario, now - 3_600_000, badLine: 7, name: "b.jsonl", firstIndex: HistoryEvents);
        var logs = new CapturedLogs();
        using (var loggers = LoggerFactory.Create(b => b.AddProvider(logs)))
        {
            await using var host = await FeatureStoreHost.CreateAsync(HostConfiguration.Load(config), loggers, cancellationToken: Ct);
        }

        // b's rejects file, beside it in the folder, is no history file of a third start.
        var third = new CapturedLogs();
        using (var loggers = LoggerFactory.Create(b => b.AddProvider(third)))
        {
            await using var host = await FeatureStoreHost.CreateAsync(HostConfiguration.Load(config), loggers, cancellationToken: Ct);
        }

        Assert.Contains(logs.Records, r => r.Contains("imported before", StringComparison.Ordinal) && r.Contains(first, StringComparison.Ordinal));
        Assert.Contains(logs.Records, r => r.Contains($"{HistoryEvents} events imported, 1 rejected", StringComparison.Ordinal) && r.Contains(second, StringComparison.Ordinal));
        Assert.Equal(2, third.Records.Count(r => r.Contains("imported before", StringComparison.Ordinal)));
        Assert.DoesNotContain(third.Records, r => r.Contains("events imported", StringComparison.Ordinal));
        Assert.Equal(2 * HistoryEvents, await CommittedRowsAsync());
        await scenario.AssertOnlineEqualsReferenceAsync(redis.Connection.Database, scenario.MaxTime);
    }

    [Fact]
    public async Task A_start_beside_another_import_of_the_same_history_waits_for_it_instead_of_failing()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("declared-busy", partitions: 4));
        var history = WriteHistory(scenario, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 3_600_000, badLine: null);
        var config = WriteConfig(scenario, "history: { path: history/payments.jsonl }");
        var logs = new CapturedLogs();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));

        // Another replica's import holds the source's lock in the shared store.
        var folder = Directory.CreateDirectory(Path.Combine(Store, "events", "payments")).FullName;
        Task<FeatureStoreHost> starting;
        using (new FileStream(Path.Combine(folder, ".import.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            starting = FeatureStoreHost.CreateAsync(HostConfiguration.Load(config), loggers, cancellationToken: Ct);
            await Eventually.TrueAsync(() => Task.FromResult(logs.Records.Any(r => r.Contains("another import of source 'payments'", StringComparison.Ordinal))),
                TimeSpan.FromSeconds(30), "the start waits for the other import", Ct);
            Assert.False(starting.IsCompleted);
        }

        await using var host = await starting.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Contains(logs.Records, r => r.Contains($"{HistoryEvents} events imported, 0 rejected", StringComparison.Ordinal) && r.Contains(history, StringComparison.Ordinal));
        Assert.Equal(HistoryEvents, await CommittedRowsAsync());
    }

    // Unsorted events before the cut-over (drawn by the scenario, so its reference counts them), with one
    // malformed line at line badLine + 1.
    private string WriteHistory(IngestScenario scenario, long cutover, int? badLine, string name = "payments.jsonl", int firstIndex = 0)
    {
        var random = new Random(5 + firstIndex);
        var lines = new List<string>();
        for (var i = 0; i < HistoryEvents; i++)
        {
            var user = "u" + random.Next(200).ToString(System.Globalization.CultureInfo.InvariantCulture);
            lines.Add(Encoding.UTF8.GetString(scenario.Draw(random, user, cutover - 1, firstIndex + i, counts: true)));
        }

        if (badLine is { } at)
        {
            lines.Insert(at, "{\"user_id\": \"u1\", \"amount\": ");
        }

        var folder = Directory.CreateDirectory(Path.Combine(_dir, "history")).FullName;
        var path = Path.Combine(folder, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    // The scenario's repository with `history` under its source, and a host configuration on the test's services.
    private string WriteConfig(IngestScenario scenario, string history)
    {
        const string Anchor = "    timestamp_format: epoch_ms\n";
        Assert.Contains(Anchor, scenario.RepositoryYaml, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(_dir, "featurestore.yaml"), scenario.RepositoryYaml.Replace(Anchor, Anchor + "    " + history + "\n", StringComparison.Ordinal));
        var config = Path.Combine(_dir, "host.yaml");
        File.WriteAllText(config, $"""
            repository: featurestore.yaml
            redis:
              configuration: {redis.Connection.Endpoint}
              keyPrefix: {scenario.KeyPrefix}
            kafka:
              bootstrapServers: {kafka.BootstrapServers}
              sessionTimeout: 6s
            offline:
              directory: store
            jobs:
              ingest: {"{"} group: ingest {"}"}
              offline: {"{"} enabled: false {"}"}
              serve: {"{"} enabled: false {"}"}
              monitor: {"{"} enabled: false {"}"}
            """);
        return config;
    }

    /// <summary>Rows of the source's event log, summed over its commit markers (only the history's here: the archiver is off).</summary>
    private async Task<long> CommittedRowsAsync()
    {
        long rows = 0;
        foreach (var marker in Directory.EnumerateFiles(Path.Combine(Store, "events", "payments", "_commits"), "*.json"))
        {
            using var json = System.Text.Json.JsonDocument.Parse(await File.ReadAllBytesAsync(marker, Ct));
            rows += json.RootElement.GetProperty("rows").GetInt64();
        }

        return rows;
    }
}
