using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Performance;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Monitor.Tests;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Testing;
using static FeatureStore.Monitor.Tests.Performance.PerformanceScenario;

namespace FeatureStore.Reliability;

/// <summary>
/// The degradation policy end to end: a `featurestore monitor` process over the embedded broker and a real
/// redis-server, a production version whose realized ROC AUC stays below its threshold for two windows: the previous
/// production version is production again, the running monitor follows at once, the signed rollback event arrives
/// once, and `model history` shows the rollback with its evidence.
/// </summary>
[Trait("Category", "Integration")]
[Collection(nameof(ProcessFaultCollection))]
public sealed class DegradationProcessTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private const int PerWindow = 600;
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-degrade-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_persistently_degraded_production_version_is_rolled_back_once_and_the_monitor_follows()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var (topic, labelsTopic, file, prefix, project, store, registry) = await ArrangeAsync("degrade", receiver);
        var db = redis.Connection.Database;

        await using var monitor = StartMonitor(file, prefix, "monitor-" + Guid.NewGuid().ToString("N"));
        await monitor.WaitForLineAsync(_ => true, TimeSpan.FromSeconds(60), Ct);

        // v1 in production: window 0 as calibrated, windows 1 and 2 with every label flipped (ROC AUC far below 0.6), window 3 fine again.
        var predictions = Enumerable.Range(0, 4).SelectMany(w => Predictions(seed: 80 + w, T0 + (w * WindowMs), PerWindow)).ToList();
        var labels = Labels(seed: 90, predictions, p => p.TimeMs >= T0 + WindowMs && p.TimeMs < T0 + (3 * WindowMs));
        using var producer = kafka.CreateProducer();
        Produce(producer, topic, predictions);
        Produce(producer, labelsTopic, labels);
        Produce(producer, topic, [new Prediction("closer", T0 + (6 * WindowMs), 0.5, "a")]);
        Produce(producer, labelsTopic, [new Label("closer", T0 + (6 * WindowMs) + 1, true)]);

        await Eventually.TrueAsync(async () => (await registry.VersionsAsync("ranker")).Single(v => v.Version == "v0").Stage == ModelStage.Production,
            TimeSpan.FromSeconds(120), "v0 production again", Ct);
        Assert.Equal(ModelStage.Archived, (await registry.GetAsync("ranker", "v1"))!.Stage);

        // The running monitor follows: predictions with no version now count as v0's.
        var after = Predictions(seed: 99, T0 + (7 * WindowMs), PerWindow);
        Produce(producer, topic, after, version: null);
        Produce(producer, labelsTopic, Labels(seed: 98, after));
        Produce(producer, topic, [new Prediction("closer2", T0 + (9 * WindowMs), 0.5, "a")], version: null);
        Produce(producer, labelsTopic, [new Label("closer2", T0 + (9 * WindowMs) + 1, true)]);
        await Eventually.TrueAsync(async () => (await store.HistoryAsync("ranker", "v0")).Any(h => h.Segment is null),
            TimeSpan.FromSeconds(120), "a window of v0 evaluated by the running monitor", Ct);

        var outbox = new AlertOutbox(db, PerformanceJob.OutboxKey(store.Keys));
        await Eventually.TrueAsync(async () => await outbox.PendingAsync() == 0 && receiver.Requests.Any(r => r.Event == "rollback"),
            TimeSpan.FromSeconds(60), "the rollback event delivered", Ct);
        monitor.Terminate();
        await monitor.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct);

        var rollback = Assert.Single(receiver.Requests, r => r.Event == "rollback");
        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(MonitorHarness.Secret), rollback.Body));
        Assert.Equal(expected, rollback.Signature);
        var body = JsonDocument.Parse(rollback.Body).RootElement;
        Assert.Equal(("rollback", "v1", "v0", "roc_auc", "realized"), (
            body.GetProperty("status").GetString(), body.GetProperty("version").GetString(), body.GetProperty("restored").GetString(),
            body.GetProperty("column").GetString(), body.GetProperty("method").GetString()));
        Assert.StartsWith("rollback:ranker:v1:roc_auc:realized:", rollback.IdempotencyKey, StringComparison.Ordinal);
        Assert.True(body.GetProperty("value").GetDouble() < 0.6, body.GetProperty("value").GetDouble().ToString(CultureInfo.InvariantCulture));

        var history = await registry.History.ReadAsync("ranker");
        Assert.Equal([("promote", "v0"), ("promote", "v1"), ("rollback", "v1")], history.Select(h => (h.Action, h.Version)));
        var entry = history[^1];
        Assert.Equal((ModelStage.Production, ModelStage.Archived, StageChange.Policy, "v0"), (entry.From!.Value, entry.To, entry.Actor, entry.Replaced));
        Assert.Contains("roc_auc realized", entry.Reason, StringComparison.Ordinal);
        Assert.Contains("2 consecutive windows", entry.Reason, StringComparison.Ordinal);

        // `model history` prints it.
        await using var cli = ChildProcess.StartDotnet(TestCli.Path, ["model", "history", "--project", project, "-m", "ranker", "--redis", redis.Connection.Endpoint, "--key-prefix", prefix]);
        Assert.Equal(0, await cli.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));
        Assert.Contains(cli.Lines, l => l.Contains("rollback v1 production → archived by policy, v0 production again", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Monitor_killed_before_and_right_after_the_rollback_rolls_back_once_and_sends_one_event()
    {
        const int Kills = 4;
        const int Chunk = 300;
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var (topic, labelsTopic, file, prefix, _, store, registry) = await ArrangeAsync("degradekill", receiver);
        var group = "monitor-" + Guid.NewGuid().ToString("N");
        var db = redis.Connection.Database;

        // v1: window 0 as calibrated, windows 1 to 3 with every label flipped, in chunks of 300 predictions with their
        // labels; each run of the monitor gets one to three chunks and is killed at a random instant (a fixed seed).
        var random = new Random(47);
        var predictions = Enumerable.Range(0, 4).SelectMany(w => Predictions(seed: 180 + w, T0 + (w * WindowMs), PerWindow)).ToList();
        var labels = Labels(seed: 190, predictions, p => p.TimeMs >= T0 + WindowMs);
        var labelOf = labels.ToDictionary(l => l.Id);
        using var producer = kafka.CreateProducer();
        var produced = 0;
        var closed = false;
        void ProduceChunks(int chunks)
        {
            var slice = predictions.Skip(produced).Take(chunks * Chunk).ToList();
            Produce(producer, topic, slice);
            Produce(producer, labelsTopic, slice.Select(p => labelOf[p.Id]));
            produced += slice.Count;
            if (produced == predictions.Count && !closed)
            {
                Produce(producer, topic, [new Prediction("closer", T0 + (6 * WindowMs), 0.5, "a")]);
                Produce(producer, labelsTopic, [new Label("closer", T0 + (6 * WindowMs) + 1, true)]);
                closed = true;
            }
        }

        var killedBeforeRollback = 0;
        for (var kill = 1; kill <= Kills; kill++)
        {
            await using var monitor = StartMonitor(file, prefix, group);
            await monitor.WaitForLineAsync(_ => true, TimeSpan.FromSeconds(60), Ct);
            ProduceChunks(random.Next(1, 4));
            await Task.Delay(random.Next(0, 2_500), Ct); // the random instant itself
            monitor.KillHard();
            await monitor.WaitForExitAsync(TimeSpan.FromSeconds(10), Ct);
            if ((await registry.History.ReadAsync("ranker")).All(h => h.Action != "rollback"))
            {
                killedBeforeRollback++;
            }
        }

        // One more run, killed the moment the rollback is in the registry: its event may still be in the outbox.
        ProduceChunks(predictions.Count);
        await using (var killed = StartMonitor(file, prefix, group))
        {
            await Eventually.TrueAsync(async () => (await registry.History.ReadAsync("ranker")).Any(h => h.Action == "rollback"),
                TimeSpan.FromSeconds(120), "the rollback in the registry", Ct);
            killed.KillHard();
            await killed.WaitForExitAsync(TimeSpan.FromSeconds(10), Ct);
        }

        var outbox = new AlertOutbox(db, PerformanceJob.OutboxKey(store.Keys));
        await using (var last = StartMonitor(file, prefix, group))
        {
            await Eventually.TrueAsync(async () => (await store.HistoryAsync("ranker", "v1")).Count(h => h.Segment is null) >= 4 && await outbox.PendingAsync() == 0
                    && receiver.Requests.Any(r => r.Event == "rollback"),
                TimeSpan.FromSeconds(120), "four windows evaluated and the rollback delivered", Ct);
            last.Terminate();
            await last.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct);
        }

        // One rollback in the registry and the history, one rollback event (deliveries of it share its idempotency key).
        Assert.Equal(ModelStage.Production, (await registry.GetAsync("ranker", "v0"))!.Stage);
        Assert.Equal(ModelStage.Archived, (await registry.GetAsync("ranker", "v1"))!.Stage);
        var history = await registry.History.ReadAsync("ranker");
        Assert.Equal([("promote", "v0"), ("promote", "v1"), ("rollback", "v1")], history.Select(h => (h.Action, h.Version)));
        var events = receiver.Requests.Where(r => r.Event == "rollback").GroupBy(r => r.IdempotencyKey).ToList();
        Assert.Single(events);
        Assert.True(killedBeforeRollback >= 1, $"a kill must land before the rollback ({killedBeforeRollback} of {Kills} did)");
        Figures.Report("process faults / degradation policy SIGKILL", $"kills={Kills + 1} (before the rollback {killedBeforeRollback}, right after it 1) seed=47 predictions={predictions.Count} rollbacks=1 events={events.Count} deliveries={events[0].Count()}");
    }

    // Topics, the repository file with the rollback policy, and v0 then v1 promoted to production, each with its reference.
    private async Task<(string Topic, string LabelsTopic, string File, string Prefix, string Project, PerformanceStore Store, ModelRegistryStore Registry)> ArrangeAsync(string name, WebhookReceiver receiver)
    {
        var topic = kafka.CreateTopic(name, partitions: 1);
        var labelsTopic = kafka.CreateTopic(name + "-labels", partitions: 1);
        kafka.Cluster.CreateTopic(topic + ".dlq", 1);
        kafka.Cluster.CreateTopic(labelsTopic + ".dlq", 1);
        var file = Path.Combine(_dir, name + ".yaml");
        await File.WriteAllTextAsync(file, Yaml(topic, labelsTopic, receiver.Url, MonitorHarness.SecretVariable)
            .Replace("    versions:\n", "    on_degradation: rollback\n    degradation_windows: 2\n    versions:\n", StringComparison.Ordinal), Ct);
        var project = Repository(topic, labelsTopic, receiver.Url).Project;
        var prefix = "d" + Guid.NewGuid().ToString("N")[..8];
        var store = new PerformanceStore(redis.Connection.Database, new DriftKeys(prefix, project));
        var registry = new ModelRegistryStore(redis.Connection.Database, prefix, project);
        foreach (var version in (string[])["v0", "v1"])
        {
            Assert.True(await registry.RegisterAsync("ranker", version, ["user_txn:amount"], null, null));
            await store.SaveReferenceAsync(Reference("ranker", version));
            await registry.PromoteAsync("ranker", version, ModelStage.Production);
        }

        return (topic, labelsTopic, file, prefix, project, store, registry);
    }

    private ChildProcess StartMonitor(string file, string keyPrefix, string group) => ChildProcess.StartDotnet(TestCli.Path,
        [
            "monitor", "-f", file, "--bootstrap-servers", kafka.BootstrapServers, "--redis", redis.Connection.Endpoint,
            "--key-prefix", keyPrefix, "--group", group, "--session-timeout-ms", "4000",
        ],
        new Dictionary<string, string> { [MonitorHarness.SecretVariable] = MonitorHarness.Secret });
}
