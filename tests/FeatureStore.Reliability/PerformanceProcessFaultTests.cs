using System.Globalization;
using System.Text.Json;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Performance;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Monitor.Tests;
using FeatureStore.Redis.Drift;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using static FeatureStore.Monitor.Tests.Performance.PerformanceScenario;

namespace FeatureStore.Reliability;

/// <summary>
/// SIGKILL of `featurestore monitor` at random instants (a fixed seed) while it joins labels to predictions, then one
/// clean run: every distinct label joined once, every duplicate counted once, the performance history identical to
/// one uninterrupted run's, and every alert delivered (no lost, no doubled incident).
/// </summary>
[Trait("Category", "Integration")]
[Collection(nameof(ProcessFaultCollection))]
public sealed class PerformanceProcessFaultTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private const int SessionTimeoutMs = 4000;
    private const int PerWindow = 600;
    private const int Chunk = 300;
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-perf-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Monitor_killed_at_random_instants_during_the_join_joins_every_label_once()
    {
        const int Kills = 4;
        await using var receiver = new WebhookReceiver(FreePort.Next());
        await using var referenceReceiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("perfkill", partitions: 1);
        var labelsTopic = kafka.CreateTopic("perfkill-labels", partitions: 1);
        kafka.Cluster.CreateTopic(topic + ".dlq", 1);
        kafka.Cluster.CreateTopic(labelsTopic + ".dlq", 1);
        var db = redis.Connection.Database;
        var file = Path.Combine(_dir, "performance.yaml");
        await File.WriteAllTextAsync(file, Yaml(topic, labelsTopic, receiver.Url, MonitorHarness.SecretVariable), Ct);
        var repository = Repository(topic, labelsTopic, referenceReceiver.Url);
        var prefix = "r" + Guid.NewGuid().ToString("N")[..8];
        var group = "monitor-" + Guid.NewGuid().ToString("N");
        var store = new PerformanceStore(db, new DriftKeys(prefix, repository.Project));
        await store.SaveReferenceAsync(Reference("ranker", "v1"));
        var random = new Random(43);

        // Five windows; in window 2 the labels of country b are flipped. Forty labels delivered twice, the copy right
        // after the first. Each topic stays in event-time order; chunks of 300 predictions with their labels.
        var predictions = Enumerable.Range(0, 5).SelectMany(w => Predictions(seed: 60 + w, T0 + (w * WindowMs), PerWindow)).ToList();
        var labels = Labels(seed: 70, predictions, p => p.TimeMs >= T0 + (2 * WindowMs) && p.TimeMs < T0 + (3 * WindowMs) && p.Country == "b");
        var duplicated = labels.Where(_ => random.NextDouble() < 40.0 / labels.Count).ToHashSet();
        var labelOf = labels.ToDictionary(l => l.Id);
        var closer = new Prediction("closer", T0 + (6 * WindowMs), 0.5, "a");
        var closerLabel = new Label("closer", T0 + (6 * WindowMs) + 1, true);
        using var producer = kafka.CreateProducer();
        var produced = 0;
        void ProduceChunks(int chunks)
        {
            var slice = predictions.Skip(produced).Take(chunks * Chunk).ToList();
            Produce(producer, topic, slice);
            Produce(producer, labelsTopic, slice.SelectMany(p => duplicated.Contains(labelOf[p.Id]) ? [labelOf[p.Id], labelOf[p.Id]] : new[] { labelOf[p.Id] }));
            produced += slice.Count;
        }

        var killedMidStream = 0;
        for (var kill = 1; kill <= Kills; kill++)
        {
            await using var monitor = StartMonitor(file, prefix, group);
            await monitor.WaitForLineAsync(_ => true, TimeSpan.FromSeconds(60), Ct);
            ProduceChunks(random.Next(1, 4));
            await Task.Delay(random.Next(0, 2_500), Ct); // the random instant itself
            monitor.KillHard();
            await monitor.WaitForExitAsync(TimeSpan.FromSeconds(10), Ct);
            var counts = await store.LabelCountsAsync("ranker");
            if (counts.Joined + counts.Pending < produced)
            {
                killedMidStream++;
            }
        }

        ProduceChunks(predictions.Count);
        Produce(producer, topic, [closer]);
        Produce(producer, labelsTopic, [closerLabel]);
        var outbox = new AlertOutbox(db, PerformanceJob.OutboxKey(store.Keys));
        await using (var last = StartMonitor(file, prefix, group))
        {
            await Eventually.TrueAsync(async () => (await store.HistoryAsync("ranker", "v1")).Count >= 15 && await outbox.PendingAsync() == 0
                    && receiver.Requests.Select(r => r.IdempotencyKey).Distinct().Count() >= 4,
                TimeSpan.FromSeconds(120), "five windows evaluated and their alerts delivered", Ct);
            last.Terminate();
            await last.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct);
        }

        // One uninterrupted run of the same stream, in this process, in a store of its own.
        var referencePrefix = "r" + Guid.NewGuid().ToString("N")[..8];
        var referenceStore = new PerformanceStore(db, new DriftKeys(referencePrefix, repository.Project));
        await referenceStore.SaveReferenceAsync(Reference("ranker", "v1"));
        using (var metrics = MonitorMetrics.ForPerformance())
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            var options = MonitorScenario.Options(kafka.BootstrapServers, referencePrefix, MonitorHarness.Secret);
            var job = new PerformanceJob(repository, db, referencePrefix, options, metrics, NullLogger.Instance);
            var run = Task.Run(() => job.RunAsync(stop.Token), CancellationToken.None);
            await Eventually.TrueAsync(async () => (await referenceStore.HistoryAsync("ranker", "v1")).Count >= 15, TimeSpan.FromSeconds(120), "the uninterrupted run's five windows", Ct);
            await stop.CancelAsync();
            await run;
        }

        var history = await store.HistoryAsync("ranker", "v1");
        Assert.Equal(15, history.Count);
        Assert.Equal(Json(await referenceStore.HistoryAsync("ranker", "v1")), Json(history));
        Assert.Equal(new LabelCounts(labels.Count + 1, duplicated.Count, 0, 0, 0), await store.LabelCountsAsync("ranker"));
        Assert.True(killedMidStream >= Kills - 1, $"the kills must land mid-stream ({killedMidStream} of {Kills} did)");

        var alerts = receiver.Requests.GroupBy(r => r.IdempotencyKey).ToList();
        Assert.Equal(2, alerts.Count(g => g.First().Event == "performance"));
        Assert.Equal(2, alerts.Count(g => g.First().Event == "resolved"));
        Assert.Equal(4, alerts.Count);
        Figures.Report("process faults / performance join SIGKILL", $"kills={Kills} (mid-stream {killedMidStream}) seed=43 predictions={predictions.Count} labels={labels.Count} duplicates={duplicated.Count} windows={history.Count} alerts={alerts.Count} deliveries={receiver.Requests.Count} lost=0 doubled=0");
    }

    private static string Json(IEnumerable<PerformanceEvaluation> history) =>
        string.Join("\n", history.Select(h => JsonSerializer.Serialize(h, PerformanceStore.Json)));

    private ChildProcess StartMonitor(string file, string keyPrefix, string group) => ChildProcess.StartDotnet(TestCli.Path,
        [
            "monitor", "-f", file, "--bootstrap-servers", kafka.BootstrapServers, "--redis", redis.Connection.Endpoint,
            "--key-prefix", keyPrefix, "--group", group, "--session-timeout-ms", SessionTimeoutMs.ToString(CultureInfo.InvariantCulture),
        ],
        new Dictionary<string, string> { [MonitorHarness.SecretVariable] = MonitorHarness.Secret });
}
