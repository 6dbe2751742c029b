using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Performance;
using FeatureStore.Redis.Models;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using static FeatureStore.Monitor.Tests.Performance.PerformanceScenario;

namespace FeatureStore.Monitor.Tests.Performance;

/// <summary>
/// The degradation policy in the performance job, over embedded Kafka and a real redis-server: `retrain` sends one signed
/// event per persistent incident and records it; `rollback` with no earlier production version changes nothing; a
/// version that is not production is left alone.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DegradationPolicyTests(EmbeddedKafkaFixture kafka, RedisServerFixture store)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>
{
    private const int PerWindow = 600;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Five windows of v1: 0 and 4 calibrated, 1 to 3 with every label flipped; the job run until all are evaluated.</summary>
    private async Task<(string Prefix, WebhookReceiver Receiver, ModelRegistryStore Registry, PerformanceJob Job)> RunAsync(DegradationAction action, bool production, params string[] registered)
    {
        var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("degrade", partitions: 1);
        var labelsTopic = kafka.CreateTopic("degrade-labels", partitions: 1);
        kafka.Cluster.CreateTopic(topic + ".dlq", 1);
        kafka.Cluster.CreateTopic(labelsTopic + ".dlq", 1);
        var repository = Repository(topic, labelsTopic, receiver.Url);
        repository = repository with { Models = [repository.Models[0] with { Lifecycle = new ModelLifecycle([], action, 2) }] };
        var prefix = "dg" + Guid.NewGuid().ToString("N")[..8];
        var db = store.Connection.Database;
        var registry = new ModelRegistryStore(db, prefix, repository.Project);
        foreach (var version in registered)
        {
            await registry.RegisterAsync("ranker", version, ["user_txn:amount"], null, null);
            if (production)
            {
                await registry.PromoteAsync("ranker", version, ModelStage.Production);
            }
        }

        var defaults = MonitorScenario.Options(kafka.BootstrapServers, prefix, "s3cret");
        var options = new MonitorOptions
        {
            BootstrapServers = defaults.BootstrapServers,
            GroupId = defaults.GroupId,
            SessionTimeout = defaults.SessionTimeout,
            Secrets = defaults.Secrets,
            OutboxPollInterval = defaults.OutboxPollInterval,
            RedeliveryDelay = defaults.RedeliveryDelay,
            WebhookRetryDelay = defaults.WebhookRetryDelay,
            RetrainWebhook = "hook",
        };
        var job = new PerformanceJob(repository, db, prefix, options, MonitorMetrics.ForPerformance(), NullLogger.Instance);
        await job.Store.SaveReferenceAsync(Reference("ranker", "v1"));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => job.RunAsync(stop.Token), CancellationToken.None);
        var predictions = Enumerable.Range(0, 5).SelectMany(w => Predictions(seed: 40 + w, T0 + (w * WindowMs), PerWindow)).ToList();
        using var producer = kafka.CreateProducer();
        Produce(producer, topic, predictions.Append(new Prediction("closer", T0 + (6 * WindowMs), 0.5, "a")));
        Produce(producer, labelsTopic, Labels(seed: 50, predictions, p => p.TimeMs >= T0 + WindowMs && p.TimeMs < T0 + (4 * WindowMs))
            .Append(new Label("closer", T0 + (6 * WindowMs) + 1, true)));
        await Eventually.TrueAsync(async () => (await job.Store.HistoryAsync("ranker", "v1")).Count(h => h.Segment is null) >= 5
            && await job.Outbox.PendingAsync() == 0, TimeSpan.FromSeconds(90), "five windows evaluated and their alerts delivered", Ct);
        await stop.CancelAsync();
        await run;
        return (prefix, receiver, registry, job);
    }

    [Fact]
    public async Task Retrain_sends_one_signed_event_per_persistent_incident_and_records_it()
    {
        var (_, receiver, registry, _) = await RunAsync(DegradationAction.Retrain, production: true, "v1");
        await using (receiver)
        {
            var retrain = Assert.Single(receiver.Requests, r => r.Event == "retrain");
            var body = JsonDocument.Parse(retrain.Body).RootElement;
            Assert.Equal(("retrain", "v1", "roc_auc", "realized"), (body.GetProperty("status").GetString(), body.GetProperty("version").GetString(),
                body.GetProperty("column").GetString(), body.GetProperty("method").GetString()));
            Assert.False(body.TryGetProperty("restored", out _));
            Assert.Equal(Rfc(T0 + WindowMs), body.GetProperty("window_start").GetString());
            Assert.Equal(Rfc(T0 + (3 * WindowMs)), body.GetProperty("window_end").GetString());
            Assert.StartsWith("sha256=", retrain.Signature, StringComparison.Ordinal);

            Assert.Equal(ModelStage.Production, (await registry.GetAsync("ranker", "v1"))!.Stage);
            var history = await registry.History.ReadAsync("ranker");
            Assert.Equal([("promote", StageChange.Cli), ("retrain", StageChange.Policy)], history.Select(h => (h.Action, h.Actor)));
            Assert.Contains("in 2 consecutive windows", history[1].Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Rollback_without_an_earlier_production_version_changes_nothing()
    {
        var (_, receiver, registry, _) = await RunAsync(DegradationAction.Rollback, production: true, "v1");
        await using (receiver)
        {
            Assert.DoesNotContain(receiver.Requests, r => r.Event is "rollback" or "retrain");
            Assert.Contains(receiver.Requests, r => r.Event == "performance");
            Assert.Equal(ModelStage.Production, (await registry.GetAsync("ranker", "v1"))!.Stage);
            Assert.Single(await registry.History.ReadAsync("ranker"));
        }
    }

    [Fact]
    public async Task A_version_that_is_not_production_is_left_alone()
    {
        var (_, receiver, registry, _) = await RunAsync(DegradationAction.Retrain, production: false, "v1");
        await using (receiver)
        {
            Assert.DoesNotContain(receiver.Requests, r => r.Event == "retrain");
            Assert.Empty(await registry.History.ReadAsync("ranker"));
        }
    }

    private static string Rfc(long ms) => Core.Events.Rfc3339.Format(ms);
}
