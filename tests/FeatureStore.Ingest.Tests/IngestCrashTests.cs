using System.Reflection;
using FeatureStore.Testing;

namespace FeatureStore.Ingest.Tests;

/// <summary>
/// `featurestore ingest` as separate processes, killed with SIGKILL mid-stream and restarted, alone and in
/// a two-member group: the online values end exactly as the reference — nothing lost, nothing doubled.
/// </summary>
[Trait("Category", "Integration")]
public sealed class IngestCrashTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private static readonly string Cli = Path.GetFullPath(typeof(IngestCrashTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!);

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-crash-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Killed_three_times_while_consuming_and_restarted_ends_exact()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("crash", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 40_000, users: 400, seed: 3, nowMs: now);
        var db = redis.Connection.Database;
        var random = new Random(3);

        for (var kill = 1; kill <= 3; kill++)
        {
            var before = await scenario.CheckpointedAsync(db);

            // However fast this machine ingests, every run starts with at least 40 000 events still to apply, so
            // that its kill lands mid-stream.
            if (scenario.Count - before < 40_000)
            {
                scenario.Produce(kafka.BootstrapServers, count: 40_000, users: 400, seed: 3 + kill, nowMs: now, firstIndex: scenario.Count);
            }

            await using var ingest = StartIngest(scenario);
            // Kill at a random point after this run has made some progress of its own.
            var target = before + random.Next(500, 6_000);
            await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= target, TimeSpan.FromSeconds(90), $"run {kill} passes {target}", Ct);
            ingest.KillHard();
            await ingest.WaitForExitAsync(TimeSpan.FromSeconds(10), Ct);
        }

        Assert.True(await scenario.CheckpointedAsync(db) < scenario.Count, "every kill must land mid-stream");
        await using (var last = StartIngest(scenario))
        {
            await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        }

        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (61 * 60_000));
    }

    [Fact]
    public async Task Two_members_one_killed_mid_stream_end_exact()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("pair", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 40_000, users: 400, seed: 4, nowMs: now);
        var db = redis.Connection.Database;

        var metricsPort = FreePort.Next();
        await using var a = StartIngest(scenario);
        await using var b = StartIngest(scenario, metricsPort);
        await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= 8_000, TimeSpan.FromSeconds(90), "both members under way", Ct);
        a.KillHard();
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);

        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);

        // The survivor exports its meters to Prometheus: it applied events, and wrote batches.
        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics"), Ct);
        var applied = text.Split('\n').Where(l => l.StartsWith("featurestore_ingest_events", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(applied > 0, "featurestore_ingest_events must count the survivor's events:\n" + text);
        Assert.Contains("featurestore_ingest_batch_write", text, StringComparison.Ordinal);
    }

    private ChildProcess StartIngest(IngestScenario scenario, int? metricsPort = null)
    {
        var file = Path.Combine(_dir, scenario.Topic + ".yaml");
        if (!File.Exists(file))
        {
            File.WriteAllText(file, scenario.RepositoryYaml);
        }

        return ChildProcess.StartDotnet(Cli,
        [
            "ingest", "-f", file,
            "--bootstrap-servers", kafka.BootstrapServers,
            "--redis", redis.Connection.Endpoint,
            "--key-prefix", scenario.KeyPrefix,
            "--group", "ingest",
            "--session-timeout-ms", "6000",
            "--batch-events", "2000", // many batches, so every kill lands mid-stream
            .. (metricsPort is { } port ? new[] { "--metrics-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture) } : []),
        ]);
    }
}
