using System.Globalization;
using Confluent.Kafka;
using FeatureStore.Ingest.Tests;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Monitor.Tests;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Testing;

namespace FeatureStore.Reliability;

/// <summary>
/// SIGKILL of `featurestore ingest` and `featurestore monitor` at random instants (a fixed seed), many
/// times in a row, then one last run: the online values equal the reference, and the webhook received
/// every alert once (no lost, no doubled alert; a redelivery carries the same idempotency key).
/// There is no all-in-one host on this branch yet, so no host process is killed here.
/// </summary>
[Trait("Category", "Integration")]
[Collection(nameof(ProcessFaultCollection))]
public sealed class ProcessFaultTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private const int SessionTimeoutMs = 4000;
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-proc-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Ingest_killed_at_random_instants_six_times_ends_exact()
    {
        const int Kills = 6;
        var scenario = new IngestScenario(kafka.CreateTopic("killloop", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 40_000, users: 400, seed: 21, nowMs: now);
        var db = redis.Connection.Database;
        var random = new Random(21);
        var file = Path.Combine(_dir, "ingest.yaml");
        await File.WriteAllTextAsync(file, scenario.RepositoryYaml, Ct);
        var killedMidStream = 0;

        for (var kill = 1; kill <= Kills; kill++)
        {
            var before = await scenario.CheckpointedAsync(db);

            // However fast this machine ingests, every run starts with at least 40 000 events still to apply, so
            // that its kill lands mid-stream: a fast machine applies the first 40 000 within a few runs.
            if (scenario.Count - before < 40_000)
            {
                scenario.Produce(kafka.BootstrapServers, count: 40_000, users: 400, seed: 21 + kill, nowMs: now, firstIndex: scenario.Count);
            }

            await using var ingest = ChildProcess.StartDotnet(TestCli.Path,
            [
                "ingest", "-f", file, "--bootstrap-servers", kafka.BootstrapServers, "--redis", redis.Connection.Endpoint,
                "--key-prefix", scenario.KeyPrefix, "--group", "ingest", "--session-timeout-ms", Invariant(SessionTimeoutMs),
                "--batch-events", "2000", // many batches, so every kill lands mid-stream
            ]);

            // Odd runs die after some progress of their own; even runs at a random instant from their start
            // (joining the group, seeking, or mid-batch).
            if (kill % 2 == 1)
            {
                var target = before + random.Next(300, 5_000);
                await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= target, TimeSpan.FromSeconds(90), $"run {kill} passes {target}", Ct);
            }
            else
            {
                await ingest.WaitForLineAsync(_ => true, TimeSpan.FromSeconds(60), Ct); // the process is up
                await Task.Delay(random.Next(0, 4_000), Ct); // the random instant itself
            }

            await Task.Delay(random.Next(0, 150), Ct);
            ingest.KillHard();
            await ingest.WaitForExitAsync(TimeSpan.FromSeconds(10), Ct);
            if (await scenario.CheckpointedAsync(db) < scenario.Count)
            {
                killedMidStream++;
            }
        }

        await using (var last = ChildProcess.StartDotnet(TestCli.Path,
        [
            "ingest", "-f", file, "--bootstrap-servers", kafka.BootstrapServers, "--redis", redis.Connection.Endpoint,
            "--key-prefix", scenario.KeyPrefix, "--group", "ingest", "--session-timeout-ms", Invariant(SessionTimeoutMs),
        ]))
        {
            await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(150), Ct);
        }

        Assert.True(killedMidStream >= Kills - 1, $"the kills must land mid-stream ({killedMidStream} of {Kills} did)");
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (61 * 60_000));
        Figures.Report("process faults / ingest SIGKILL", $"kills={Kills} (mid-stream {killedMidStream}) seed=21 events={scenario.Count} lost=0 doubled=0");
    }

    [Fact]
    public async Task Monitor_killed_at_random_instants_sends_every_alert_once()
    {
        const int Kills = 5;
        const int Chunk = 100;
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("monkill", partitions: 1);
        var db = redis.Connection.Database;
        var harness = await MonitorHarness.CreateAsync(db, topic, receiver.Url);
        var file = Path.Combine(_dir, "monitor.yaml");
        await File.WriteAllTextAsync(file, MonitorYaml(topic, receiver.Url), Ct);
        var group = "monitor-" + Guid.NewGuid().ToString("N");
        var random = new Random(31);

        // Four count windows: shifted, then normal three times. Expected: drift for psi and ks, then resolved for both.
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scores = MonitorScenario.Scores(seed: 2, count: MonitorScenario.Window, mean: 0.6)
            .Concat(MonitorScenario.Scores(seed: 4, count: 3 * MonitorScenario.Window, mean: 0.3)).ToArray();
        using var producer = kafka.CreateProducer();
        var produced = 0;
        void ProduceChunks(int chunks)
        {
            var n = Math.Min(chunks * Chunk, scores.Length - produced);
            MonitorScenario.Produce(producer, topic, scores.Skip(produced).Take(n), start + produced);
            produced += n;
        }

        for (var kill = 1; kill <= Kills; kill++)
        {
            await using var monitor = StartMonitor(file, harness.KeyPrefix, group);
            await monitor.WaitForLineAsync(_ => true, TimeSpan.FromSeconds(60), Ct);
            ProduceChunks(random.Next(1, 4));
            await Task.Delay(random.Next(0, 2_500), Ct); // the random instant itself
            monitor.KillHard();
            await monitor.WaitForExitAsync(TimeSpan.FromSeconds(10), Ct);
        }

        ProduceChunks(scores.Length);
        var outbox = new AlertOutbox(db, harness.Store(db).Keys);
        var history = harness.Store(db);
        var metricsPort = FreePort.Next();
        await using (var last = StartMonitor(file, harness.KeyPrefix, group, metricsPort))
        {
            await Eventually.TrueAsync(async () => (await history.HistoryAsync("scorer", "v1")).Count >= 8 && await outbox.PendingAsync() == 0
                    && receiver.Requests.Select(r => r.IdempotencyKey).Distinct().Count() >= 4,
                TimeSpan.FromSeconds(120), "four windows evaluated and their alerts delivered", Ct);

            // The last monitor serves its meters, counted from its start: the first scrape sees what it read.
            using var http = new HttpClient();
            var metrics = await http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics"), Ct);
            Assert.True(Series(metrics, "featurestore_monitor_predictions") > 0, "featurestore_monitor_predictions must count the last monitor's predictions:\n" + metrics);
            Assert.True(Series(metrics, "featurestore_monitor_windows") > 0, "featurestore_monitor_windows must count its windows:\n" + metrics);
            last.Terminate();
            await last.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct);
        }

        var alerts = receiver.Requests.GroupBy(r => r.IdempotencyKey).ToList();
        Assert.Equal(2, alerts.Count(g => g.First().Event == "drift"));
        Assert.Equal(2, alerts.Count(g => g.First().Event == "resolved"));
        Assert.Equal(4, alerts.Count);
        var evaluated = await history.HistoryAsync("scorer", "v1");
        Assert.Equal(8, evaluated.Count);
        Assert.All(evaluated, h => Assert.Equal(MonitorScenario.Window, h.Count));
        Assert.Equal([true, false, false, false], evaluated.Where(h => h.Column == "score").Select(h => h.Drifted));
        Figures.Report("process faults / monitor SIGKILL", $"kills={Kills} seed=31 predictions={produced} windows={evaluated.Count} alerts={alerts.Count} deliveries={receiver.Requests.Count} lost=0 doubled=0");
    }

    [Fact]
    public async Task Monitor_killed_after_a_commit_with_a_window_half_full_loses_and_doubles_nothing()
    {
        const int Kills = 4;
        const int Half = MonitorScenario.Window / 2;
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("monhalf", partitions: 1);
        var db = redis.Connection.Database;
        var harness = await MonitorHarness.CreateAsync(db, topic, receiver.Url);
        var file = Path.Combine(_dir, "monitor-half.yaml");
        await File.WriteAllTextAsync(file, MonitorYaml(topic, receiver.Url), Ct);
        var group = "monitor-" + Guid.NewGuid().ToString("N");
        var random = new Random(37);

        // Five count windows: shifted, normal, shifted, normal, normal. Expected per method of `score`:
        // drift, resolved, drift, resolved (the webhook's 1 s cooldown has passed by the second drift).
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        double[] scores =
        [
            .. MonitorScenario.Scores(seed: 2, count: MonitorScenario.Window, mean: 0.6),
            .. MonitorScenario.Scores(seed: 4, count: MonitorScenario.Window, mean: 0.3),
            .. MonitorScenario.Scores(seed: 6, count: MonitorScenario.Window, mean: 0.6),
            .. MonitorScenario.Scores(seed: 8, count: 2 * MonitorScenario.Window, mean: 0.3),
        ];
        var windows = scores.Length / MonitorScenario.Window;
        using var producer = kafka.CreateProducer();
        using var offsets = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = group }).Build();
        long Committed() => offsets.Committed([new TopicPartition(topic, 0)], TimeSpan.FromSeconds(10))[0].Offset.Value;
        var history = harness.Store(db);
        var produced = 0;
        void ProduceUpTo(int count)
        {
            MonitorScenario.Produce(producer, topic, scores.Skip(produced).Take(count - produced), start + produced);
            produced = count;
        }

        // Each run completes the window the previous run left half full and reads half of the next; it is
        // killed once the group's committed offset shows an auto-commit after the completed window (so the
        // half-read window's predictions had every chance to be committed), at a seeded instant after that.
        for (var kill = 1; kill <= Kills; kill++)
        {
            await using var monitor = StartMonitor(file, harness.KeyPrefix, group);
            await monitor.WaitForLineAsync(_ => true, TimeSpan.FromSeconds(60), Ct);
            ProduceUpTo((kill * MonitorScenario.Window) + Half);
            var boundary = kill * MonitorScenario.Window;
            await Eventually.TrueAsync(async () => Committed() >= boundary && (await history.HistoryAsync("scorer", "v1")).Count >= 2 * kill,
                TimeSpan.FromSeconds(90), $"run {kill} evaluates window {kill} and commits past it", Ct);
            await Task.Delay(random.Next(0, 1_500), Ct); // the instant itself, within the half-full window
            monitor.KillHard();
            await monitor.WaitForExitAsync(TimeSpan.FromSeconds(10), Ct);
        }

        ProduceUpTo(scores.Length);
        var outbox = new AlertOutbox(db, history.Keys);
        await using (var last = StartMonitor(file, harness.KeyPrefix, group))
        {
            // Everything read and committed, and every alert raised delivered.
            await Eventually.TrueAsync(async () => Committed() == scores.Length && await outbox.PendingAsync() == 0,
                TimeSpan.FromSeconds(120), "every prediction read and committed, every alert delivered", Ct);
            last.Terminate();
            await last.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct);
        }

        var evaluated = await history.HistoryAsync("scorer", "v1");
        foreach (var column in new[] { "score", "segment" })
        {
            // Window k covers exactly the predictions k·W … (k+1)·W − 1 (event time = start + index).
            var spans = evaluated.Where(h => h.Column == column).Select(h => (h.WindowStartMs - start, h.WindowEndMs - start, h.Count)).ToList();
            var expected = Enumerable.Range(0, windows).Select(k => ((long)k * MonitorScenario.Window, ((k + 1L) * MonitorScenario.Window) - 1, (long)MonitorScenario.Window)).ToList();
            Assert.Equal(expected, spans);
        }

        Assert.Equal([true, false, true, false, false], evaluated.Where(h => h.Column == "score").Select(h => h.Drifted));
        var alerts = receiver.Requests.GroupBy(r => r.IdempotencyKey).ToList();
        Assert.Equal(4, alerts.Count(g => g.First().Event == "drift"));
        Assert.Equal(4, alerts.Count(g => g.First().Event == "resolved"));
        Assert.Equal(8, alerts.Count);
        Figures.Report("process faults / monitor SIGKILL with a window half full", $"kills={Kills} seed=37 predictions={produced} windows={evaluated.Count} alerts={alerts.Count} deliveries={receiver.Requests.Count} lost=0 doubled=0");
    }

    private ChildProcess StartMonitor(string file, string keyPrefix, string group, int? metricsPort = null) => ChildProcess.StartDotnet(TestCli.Path,
        [
            "monitor", "-f", file, "--bootstrap-servers", kafka.BootstrapServers, "--redis", redis.Connection.Endpoint,
            "--key-prefix", keyPrefix, "--group", group, "--session-timeout-ms", Invariant(SessionTimeoutMs),
            .. (metricsPort is { } port ? new[] { "--metrics-port", Invariant(port) } : []),
        ],
        new Dictionary<string, string> { [MonitorHarness.SecretVariable] = MonitorHarness.Secret });

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The sum of a Prometheus series' samples in a scrape's text.</summary>
    private static double Series(string scrape, string name) => scrape.Split('\n')
        .Where(l => l.StartsWith(name, StringComparison.Ordinal) && !l.StartsWith(name + "_", StringComparison.Ordinal) || l.StartsWith(name + "_total", StringComparison.Ordinal))
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    /// <summary>The monitor scenario's repository as a file (MonitorScenario builds the same text in memory).</summary>
    internal static string MonitorYaml(string topic, string url) => $$"""
        project: drift_{{topic.Replace('-', '_')}}
        entities:
          - name: user
            join_keys: [user_id]
        sources:
          - name: txns
            kafka:
              topic: {{topic}}-txns
            timestamp_field: event_time
            fields:
              user_id: string
              amount: double
              event_time: timestamp
        feature_views:
          - name: user_txn
            entity: user
            source: txns
            ttl: 1d
            features:
              - name: amount
                aggregation: sum
                field: amount
                window: 1h
        models:
          - name: scorer
            prediction:
              topic: {{topic}}
              timestamp_field: event_time
              fields:
                score: double
                segment: string
                event_time: timestamp
            versions:
              - version: v1
                features: [user_txn:amount]
            monitors:
              - column: score
                methods: [psi, ks]
                window: { count: {{MonitorScenario.Window}} }
                alert: hook
              - column: segment
                methods: [chi2]
                window: { count: {{MonitorScenario.Window}} }
        alerts:
          webhooks:
            - name: hook
              url: {{url}}
              secret_env: {{MonitorHarness.SecretVariable}}
              cooldown: 1s
        """;
}

/// <summary>
/// The tests that SIGKILL child processes take turns: each starts many `featurestore` processes at once, and two such
/// bursts together starve a two-core machine long enough for a store call to time out.
/// </summary>
[CollectionDefinition(nameof(ProcessFaultCollection))]
public sealed class ProcessFaultCollection;
