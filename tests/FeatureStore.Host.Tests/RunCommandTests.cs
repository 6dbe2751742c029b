using System.Globalization;
using System.Reflection;
using FeatureStore.Ingest.Tests;
using FeatureStore.Testing;
using Parquet;

namespace FeatureStore.Host.Tests;

/// <summary>
/// `featurestore run` as a separate process with every job enabled, stopped with SIGTERM mid-stream and started
/// again: the online values end equal to the §4 reference and the offline event log holds every event exactly once.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RunCommandTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private const int Half = 15_000;

    private static readonly string Cli = Path.GetFullPath(typeof(RunCommandTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!);

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-run-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Stopped_with_sigterm_mid_stream_and_restarted_loses_and_doubles_nothing_online_or_offline()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("run", partitions: 4));
        var config = WriteConfig(scenario);
        var db = redis.Connection.Database;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var http = FreePort.Next();

        await using (var first = Start(config, http))
        {
            await first.WaitForLineAsync(l => l.StartsWith("running: ", StringComparison.Ordinal), TimeSpan.FromSeconds(90), Ct);
            scenario.Produce(kafka.BootstrapServers, count: Half, users: 300, seed: 11, nowMs: now);
            await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= 2_000, TimeSpan.FromSeconds(90), "first run under way", Ct);

            using var client = new HttpClient();
            var health = await client.GetStringAsync(new Uri($"http://127.0.0.1:{http}/healthz"), Ct);
            Assert.Contains("\"jobs\"", health, StringComparison.Ordinal);
            Assert.Contains("ingest", health, StringComparison.Ordinal);

            first.Terminate();
            Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(90), Ct));
            Assert.Contains(first.Lines, l => l.Contains("job ingest stopped", StringComparison.Ordinal));
            Assert.Contains(first.Lines, l => l.Contains("job offline stopped", StringComparison.Ordinal));
        }

        Assert.True(await scenario.CheckpointedAsync(db) < 2L * Half, "the stop must land mid-stream");

        await using (var second = Start(config, http))
        {
            await second.WaitForLineAsync(l => l.StartsWith("running: ", StringComparison.Ordinal), TimeSpan.FromSeconds(90), Ct);
            scenario.Produce(kafka.BootstrapServers, count: Half, users: 300, seed: 12, nowMs: now, firstIndex: Half);
            await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(180), Ct);
            await Eventually.TrueAsync(async () => (await ArchivedAsync()).Count >= 2 * Half, TimeSpan.FromSeconds(180), "offline log complete", Ct);
            second.Terminate();
            Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromSeconds(90), Ct));
        }

        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (61 * 60_000));

        var archived = await ArchivedAsync();
        Assert.Equal(2 * Half, archived.Count);
        Assert.Equal(2 * Half, archived.Distinct().Count());
    }

    [Fact]
    public async Task Killed_with_sigkill_at_random_instants_and_restarted_loses_and_doubles_nothing_online_or_offline()
    {
        const int Kills = 3;
        var random = new Random(47); // fixed seed: the kill points are the same on every run
        var scenario = new IngestScenario(kafka.CreateTopic("run-kill", partitions: 4));
        var config = WriteConfig(scenario);
        var db = redis.Connection.Database;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var http = FreePort.Next();
        scenario.Produce(kafka.BootstrapServers, count: 2 * Half, users: 300, seed: 13, nowMs: now);

        var killedAt = new List<long>();
        for (var kill = 0; kill < Kills; kill++)
        {
            // Somewhere in the kill-th quarter of the stream, online progress counted by checkpoints.
            var target = (2L * Half * kill / (Kills + 1)) + random.Next(1_000, (2 * Half / (Kills + 1)) - 1_000);
            await using var run = Start(config, http);
            await run.WaitForLineAsync(l => l.StartsWith("running: ", StringComparison.Ordinal), TimeSpan.FromSeconds(90), Ct);
            await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= target, TimeSpan.FromSeconds(120), $"run {kill + 1} past {target} events", Ct);
            run.KillHard();
            await run.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct);
            killedAt.Add(await scenario.CheckpointedAsync(db));
        }

        Assert.True(killedAt[^1] < 2L * Half, $"the last kill must land mid-stream (checkpointed {killedAt[^1]})");
        await using (var last = Start(config, http))
        {
            await last.WaitForLineAsync(l => l.StartsWith("running: ", StringComparison.Ordinal), TimeSpan.FromSeconds(90), Ct);
            await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(180), Ct);
            await Eventually.TrueAsync(async () => (await ArchivedAsync()).Count >= 2 * Half, TimeSpan.FromSeconds(180), "offline log complete", Ct);
            last.Terminate();
            Assert.Equal(0, await last.WaitForExitAsync(TimeSpan.FromSeconds(90), Ct));
        }

        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        var archived = await ArchivedAsync();
        Assert.Equal(2 * Half, archived.Count);
        Assert.Equal(2 * Half, archived.Distinct().Count());
        TestContext.Current.SendDiagnosticMessage($"host SIGKILL: {Kills} kills at {string.Join(", ", killedAt)} checkpointed events; {2 * Half} events checked online and offline, 0 lost, 0 doubled");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Ingest_metrics_count_every_event_from_process_start_at_the_first_scrape(bool serve)
    {
        const int Events = 32;
        var scenario = new IngestScenario(kafka.CreateTopic(serve ? "run-metrics-serve" : "run-metrics-health", partitions: 4));
        var port = FreePort.Next();
        var config = WriteConfig(scenario, $"""
            jobs:
              ingest: {"{"} group: ingest {"}"}
              offline: {"{"} enabled: false {"}"}
              serve: {"{"} enabled: {(serve ? "true" : "false")} {"}"}
              monitor: {"{"} enabled: false {"}"}
            {(serve ? "" : $"health: {"{"} port: {port} {"}"}")}
            """);

        // With serve, /metrics is on its HTTP port; without, on the health endpoint's.
        await using var run = Start(config, port);
        await run.WaitForLineAsync(l => l.StartsWith("running: ", StringComparison.Ordinal), TimeSpan.FromSeconds(90), Ct);
        scenario.Produce(kafka.BootstrapServers, count: Events, users: 8, seed: 21, nowMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(redis.Connection.Database) >= Events, TimeSpan.FromSeconds(90), $"{Events} events applied", Ct);

        // Every event is counted from the process's start, none lost to a meter nobody listened to before the
        // first scrape. (An event counts once its write's reply is read, which may follow the checkpoint by a
        // moment; a meter that started listening at the first scrape would stay below for good.)
        using var client = new HttpClient();
        var metrics = "";
        double counted = 0;
        await Eventually.TrueAsync(async () =>
            {
                metrics = await client.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"), Ct);
                counted = System.Text.RegularExpressions.Regex.Matches(metrics, "^featurestore_ingest_events(?:_total)?(\\{[^}]*\\})? (\\S+)$", System.Text.RegularExpressions.RegexOptions.Multiline)
                    .Sum(m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
                return counted >= Events;
            },
            TimeSpan.FromSeconds(10), "every event counted", Ct);
        Assert.True(counted == Events, $"featurestore_ingest_events sums to {counted}, not {Events}:\n{string.Join('\n', metrics.Split('\n').Where(l => l.StartsWith("featurestore_", StringComparison.Ordinal)))}");

        run.Terminate();
        Assert.Equal(0, await run.WaitForExitAsync(TimeSpan.FromSeconds(90), Ct));
    }

    private ChildProcess Start(string config, int httpPort) => ChildProcess.StartDotnet(Cli, ["run", "-c", config], new Dictionary<string, string>
    {
        // Environment variables override the file, as in a container.
        ["FEATURESTORE__JOBS__SERVE__HTTPPORT"] = httpPort.ToString(CultureInfo.InvariantCulture),
        ["FEATURESTORE__JOBS__SERVE__GRPCPORT"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
    });

    private string WriteConfig(IngestScenario scenario) => WriteConfig(scenario, """
        offline:
          directory: store
        jobs:
          ingest: { group: ingest, batchEvents: 2000 }
          offline: { group: ingest.offline, batchEvents: 2000, batchDelay: 200ms }
          serve: { enabled: true }
          monitor: { enabled: true }
          backfill: { enabled: true, interval: 5s }
        """);

    /// <summary>The scenario's repository and a host configuration on the test's services, with <paramref name="rest"/> after them.</summary>
    private string WriteConfig(IngestScenario scenario, string rest)
    {
        File.WriteAllText(Path.Combine(_dir, "featurestore.yaml"), scenario.RepositoryYaml);
        var config = Path.Combine(_dir, "host.yaml");
        File.WriteAllText(config, $"""
            repository: featurestore.yaml
            redis:
              configuration: {redis.Connection.Endpoint}
              keyPrefix: {scenario.KeyPrefix}
            kafka:
              bootstrapServers: {kafka.BootstrapServers}
              sessionTimeout: 6s

            """ + rest);
        return config;
    }

    /// <summary>(partition, offset) of every row in the committed files of the event log (named by a commit marker).</summary>
    private async Task<List<(int Partition, long Offset)>> ArchivedAsync()
    {
        var folder = Path.Combine(_dir, "store", "events", "payments");
        var markers = Path.Combine(folder, "_commits");
        var rows = new List<(int, long)>();
        if (!Directory.Exists(markers))
        {
            return rows;
        }

        foreach (var marker in Directory.EnumerateFiles(markers, "p*.json"))
        {
            using var json = System.Text.Json.JsonDocument.Parse(await File.ReadAllBytesAsync(marker, Ct));
            foreach (var file in json.RootElement.GetProperty("files").EnumerateArray())
            {
                await using var reader = await ParquetReader.CreateAsync(Path.Combine(folder, file.GetString()!), cancellationToken: Ct);
                var fields = reader.Schema.DataFields;
                for (var g = 0; g < reader.RowGroupCount; g++)
                {
                    using var group = reader.OpenRowGroupReader(g);
                    var partitions = new int[group.RowCount];
                    var offsets = new long[group.RowCount];
                    await group.ReadAsync(fields.Single(f => f.Name == "_partition"), partitions.AsMemory(), cancellationToken: Ct);
                    await group.ReadAsync(fields.Single(f => f.Name == "_offset"), offsets.AsMemory(), cancellationToken: Ct);
                    rows.AddRange(partitions.Zip(offsets));
                }
            }
        }

        return rows;
    }
}
