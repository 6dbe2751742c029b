using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Parquet.Tables;
using FeatureStore.Redis.Models;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Monitor.Tests;

/// <summary>
/// The monitor with the model registry on a real redis-server: a promotion switches the baseline that
/// unversioned predictions and versions without a baseline are compared with, without a restart; persistent
/// drift fires one signed retrain alert per incident.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ModelRegistryMonitorTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>
{
    private const int Window = 300;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_promotion_switches_the_fallback_baseline_without_a_restart()
    {
        var topic = kafka.CreateTopic("promote", partitions: 1);
        var (repository, prefix) = await SetUpAsync(topic, "http://127.0.0.1:9/unused");
        var registry = new ModelRegistryStore(redis.Connection.Database, prefix, repository.Project);
        await registry.RegisterAsync("scorer", "v1", ["user_txn:amount"], "v1.parquet", null);
        await registry.RegisterAsync("scorer", "v2", ["user_txn:amount"], "v2.parquet", null);
        await registry.RegisterAsync("scorer", "v3", ["user_txn:amount"], null, null); // not declared in the repository, no baseline
        await registry.PromoteAsync("scorer", "v1", ModelStage.Production);
        await using var monitor = Start(repository, prefix, retrainAfter: 0);
        using var producer = kafka.CreateProducer();
        var t = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // No version: counted as the production version v1, compared with v1's baseline (mean 0.3): drifted.
        Produce(producer, topic, null, seed: 2, mean: 0.6, t);
        await Eventually.TrueAsync(async () => (await monitor.Job.Store.HistoryAsync("scorer", "v1")).Count >= 1, TimeSpan.FromSeconds(60), "v1 window", Ct);
        var v1 = (await monitor.Job.Store.HistoryAsync("scorer", "v1")).Single();
        Assert.True(v1.Drifted);
        Assert.StartsWith("scorer@v1#", v1.BaselineId, StringComparison.Ordinal);

        // Promote v2 (baseline mean 0.6): the running monitor follows.
        await registry.PromoteAsync("scorer", "v2", ModelStage.Production);
        await Eventually.TrueAsync(() => monitor.Job.ProductionVersion("scorer") == "v2", TimeSpan.FromSeconds(30), "monitor sees v2 in production", Ct);
        Produce(producer, topic, null, seed: 3, mean: 0.6, t + 10_000);
        Produce(producer, topic, "v3", seed: 4, mean: 0.6, t + 20_000);
        await Eventually.TrueAsync(async () => (await monitor.Job.Store.HistoryAsync("scorer", "v2")).Count >= 1
            && (await monitor.Job.Store.HistoryAsync("scorer", "v3")).Count >= 1, TimeSpan.FromSeconds(60), "v2 and v3 windows", Ct);

        var v2 = (await monitor.Job.Store.HistoryAsync("scorer", "v2")).Single();
        Assert.False(v2.Drifted);
        Assert.StartsWith("scorer@v2#", v2.BaselineId, StringComparison.Ordinal);
        var v3 = (await monitor.Job.Store.HistoryAsync("scorer", "v3")).Single();
        Assert.False(v3.Drifted);
        Assert.Equal(v2.BaselineId, v3.BaselineId); // no baseline of its own: production's
        Assert.Single(await monitor.Job.Store.HistoryAsync("scorer", "v1"));
    }

    [Fact]
    public async Task Drift_persisting_n_windows_fires_one_signed_retrain_alert_per_incident()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("retrain", partitions: 1);
        var (repository, prefix) = await SetUpAsync(topic, receiver.Url);
        await using var monitor = Start(repository, prefix, retrainAfter: 3);
        using var producer = kafka.CreateProducer();
        var t = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        for (var i = 0; i < 5; i++)
        {
            Produce(producer, topic, "v1", seed: 10 + i, mean: 0.6, t + (i * 1000)); // five drifted windows
        }

        await Eventually.TrueAsync(() => monitor.Metrics.Windows >= 5, TimeSpan.FromSeconds(90), "five windows", Ct);
        await Eventually.TrueAsync(() => receiver.Requests.Any(r => r.Event == "retrain"), TimeSpan.FromSeconds(60), "retrain alert", Ct);
        Produce(producer, topic, "v1", seed: 20, mean: 0.3, t + 5_000); // back within the thresholds: the incident closes
        for (var i = 0; i < 3; i++)
        {
            Produce(producer, topic, "v1", seed: 30 + i, mean: 0.6, t + 6_000 + (i * 1000)); // a new persistent incident
        }

        await Eventually.TrueAsync(() => monitor.Metrics.Windows >= 9, TimeSpan.FromSeconds(90), "nine windows", Ct);
        await Eventually.TrueAsync(() => receiver.Requests.Count(r => r.Event == "retrain") >= 2, TimeSpan.FromSeconds(60), "second retrain alert", Ct);
        await Eventually.TrueAsync(async () => await monitor.Job.Outbox.PendingAsync() == 0, TimeSpan.FromSeconds(30), "outbox empty", Ct);

        var retrains = receiver.Requests.Where(r => r.Event == "retrain").ToList();
        Assert.Equal(2, retrains.Count);
        Assert.Equal(2, retrains.Select(r => r.IdempotencyKey).Distinct().Count());
        var first = JsonDocument.Parse(retrains[0].Body).RootElement;
        Assert.Equal("retrain", first.GetProperty("status").GetString());
        Assert.Equal("v1", first.GetProperty("version").GetString());
        Assert.Equal(3, first.GetProperty("value").GetDouble());
        Assert.StartsWith("retrain:scorer:v1:", first.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.All(retrains, r => Assert.StartsWith("sha256=", r.Signature, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Persistent_drift_of_a_production_version_without_performance_monitors_rolls_it_back_once()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("degrade", partitions: 1);
        var (repository, prefix) = await SetUpAsync(topic, receiver.Url, "    on_degradation: rollback\n    degradation_windows: 2\n");
        var registry = new ModelRegistryStore(redis.Connection.Database, prefix, repository.Project);
        foreach (var version in (string[])["v1", "v2"])
        {
            await registry.RegisterAsync("scorer", version, ["user_txn:amount"], null, null);
            await registry.PromoteAsync("scorer", version, ModelStage.Production);
        }

        await using var monitor = Start(repository, prefix, retrainAfter: 0);
        await Eventually.TrueAsync(() => monitor.Job.ProductionVersion("scorer") == "v2", TimeSpan.FromSeconds(30), "monitor sees v2 in production", Ct);
        using var producer = kafka.CreateProducer();
        var t = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 0; i < 3; i++)
        {
            Produce(producer, topic, "v2", seed: 40 + i, mean: 0.3, t + (i * 1000)); // v2's baseline has mean 0.6: three drifted windows
        }

        await Eventually.TrueAsync(() => monitor.Job.ProductionVersion("scorer") == "v1", TimeSpan.FromSeconds(90), "the monitor follows the rollback to v1", Ct);
        Assert.Equal(ModelStage.Archived, (await registry.GetAsync("scorer", "v2"))!.Stage);
        await Eventually.TrueAsync(() => monitor.Metrics.Windows >= 3, TimeSpan.FromSeconds(60), "three windows", Ct);
        await Eventually.TrueAsync(async () => receiver.Requests.Any(r => r.Event == "rollback") && await monitor.Job.Outbox.PendingAsync() == 0,
            TimeSpan.FromSeconds(30), "the rollback event delivered", Ct);

        var rollback = JsonDocument.Parse(Assert.Single(receiver.Requests, r => r.Event == "rollback").Body).RootElement;
        Assert.Equal(("v2", "v1", "score", 2.0), (rollback.GetProperty("version").GetString(), rollback.GetProperty("restored").GetString(),
            rollback.GetProperty("column").GetString(), rollback.GetProperty("value").GetDouble()));
        var entry = Assert.Single(await registry.History.ReadAsync("scorer"), h => h.Action == "rollback");
        Assert.Equal(("v2", StageChange.Policy, "v1"), (entry.Version, entry.Actor, entry.Replaced));
        Assert.Contains("score drifted in 2 consecutive windows", entry.Reason, StringComparison.Ordinal);
    }

    private async Task<(FeatureRepository Repository, string Prefix)> SetUpAsync(string topic, string url, string lifecycle = "")
    {
        var yaml = $"""
            project: reg_{topic.Replace('-', '_')}
            entities:
              - name: user
                join_keys: [user_id]
            sources:
              - name: txns
                kafka:
                  topic: {topic}-txns
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
                  topic: {topic}
                  timestamp_field: event_time
                  fields:
                    score: double
                    event_time: timestamp
                versions:
                  - version: v1
                    features: [user_txn:amount]
                  - version: v2
                    features: [user_txn:amount]
                monitors:
                  - column: score
                    methods: [psi]
                    window: {"{"} count: {Window} {"}"}
                    alert: hook
            alerts:
              webhooks:
                - name: hook
                  url: {url}
                  secret_env: FS_TEST_RETRAIN_SECRET
                  cooldown: 1s
            """;
        var load = FeatureRepositoryLoader.LoadFromText(yaml.Replace("    versions:\n", lifecycle + "    versions:\n", StringComparison.Ordinal), "registry.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        var repository = load.Repository!;
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var drift = new DriftStore(redis.Connection.Database, prefix, repository.Project);
        foreach (var (version, mean) in new[] { ("v1", 0.3), ("v2", 0.6) })
        {
            var training = MonitorScenario.Scores(seed: 1, count: 5000, mean: mean).ToArray();
            await drift.SaveBaselineAsync(BaselineComputer.Compute(repository.Models[0], version, version + ".parquet", 0,
                new Dictionary<string, ValueColumn> { ["score"] = new("score", training, null) }));
        }

        return (repository, prefix);
    }

    private RunningMonitor Start(FeatureRepository repository, string prefix, int retrainAfter)
    {
        var metrics = new MonitorMetrics();
        var job = new MonitorJob(repository, redis.Connection.Database, prefix, new MonitorOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "monitor-" + Guid.NewGuid().ToString("N"),
            SessionTimeout = TimeSpan.FromSeconds(6),
            Secrets = name => name == "FS_TEST_RETRAIN_SECRET" ? "retrain-secret" : null,
            OutboxPollInterval = TimeSpan.FromMilliseconds(100),
            WebhookRetryDelay = TimeSpan.FromMilliseconds(20),
            RetrainAfterWindows = retrainAfter,
            RetrainWebhook = retrainAfter > 0 ? "hook" : null,
            ModelStagePollInterval = TimeSpan.FromMilliseconds(500),
        }, metrics, NullLogger.Instance);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        return new RunningMonitor(job, metrics, Task.Run(() => job.RunAsync(stop.Token), CancellationToken.None), stop);
    }

    private static void Produce(IProducer<string, string> producer, string topic, string? version, int seed, double mean, long startMs)
    {
        var t = startMs;
        foreach (var score in MonitorScenario.Scores(seed, Window, mean))
        {
            var fields = new Dictionary<string, object> { ["event_time"] = t++, ["score"] = score };
            if (version is not null)
            {
                fields["model_version"] = version;
            }

            producer.Produce(topic, new Message<string, string> { Key = t.ToString(CultureInfo.InvariantCulture), Value = JsonSerializer.Serialize(fields) });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
    }
}
