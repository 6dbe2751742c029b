using Confluent.Kafka;
using FeatureStore.Ingest;
using FeatureStore.Ingest.Tests;
using FeatureStore.Monitor.Tests;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Testing;

namespace FeatureStore.Reliability;

/// <summary>
/// Broker faults through the embedded cluster's fault injection — request errors on Produce and Fetch,
/// brokers down and up, partition leaders moved — while ingest and the monitor run: both resume by
/// themselves, the online values end equal to the §4 reference, and the monitor sends each alert once.
/// </summary>
[Trait("Category", "Integration")]
[Collection(nameof(BrokerFaultCollection))]
public sealed class BrokerFaultTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>
{
    private const short Produce = 0;
    private const short Fetch = 1;
    private static readonly TimeSpan FaultHold = TimeSpan.FromSeconds(2);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly ErrorCode[] Retriable =
        [ErrorCode.NotLeaderForPartition, ErrorCode.LeaderNotAvailable, ErrorCode.RequestTimedOut, ErrorCode.NotEnoughReplicas];

    [Fact]
    public async Task Ingest_rides_out_request_errors_brokers_down_and_leader_changes_and_ends_exact()
    {
        var cluster = kafka.Cluster;
        Assert.True(cluster.BrokerCount >= 2, "a leader change needs two brokers at least");
        var scenario = new IngestScenario(kafka.CreateTopic("brokerfault", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var db = redis.Connection.Database;
        var faults = 0;
        var seed = 100;

        scenario.Produce(kafka.BootstrapServers, count: 6_000, users: 300, seed: seed++, nowMs: now);
        using var metrics = new IngestMetrics();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics).RunAsync(cts.Token), Ct);
        await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= 1_000, TimeSpan.FromSeconds(60), "ingest under way", Ct);

        // 1. Fetch requests fail (each retriable error several times) while more events arrive.
        var fetchErrors = Enumerable.Range(0, 24).Select(i => Retriable[i % Retriable.Length]).ToArray();
        cluster.PushRequestErrors(Fetch, fetchErrors);
        faults += fetchErrors.Length;
        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: 300, seed: seed++, nowMs: now);
        await CaughtUpAsync("after Fetch errors");

        // 2. Produce requests fail: the idempotent producer retries, nothing is lost or written twice.
        var produceErrors = Enumerable.Range(0, 12).Select(i => Retriable[i % Retriable.Length]).ToArray();
        cluster.PushRequestErrors(Produce, produceErrors);
        faults += produceErrors.Length;
        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: 300, seed: seed++, nowMs: now);
        cluster.ClearRequestErrors(Produce);
        await CaughtUpAsync("after Produce errors");

        // 3. Each broker down in turn (its partitions and, for one, the group coordinator), then up.
        for (var broker = 1; broker <= cluster.BrokerCount; broker++)
        {
            cluster.SetBrokerDown(broker);
            faults++;
            await Task.Delay(FaultHold, Ct); // the outage itself, not a wait for a condition
            Assert.False(run.IsCompleted, $"ingest must ride out broker {broker} being down");
            cluster.SetBrokerUp(broker);
            scenario.Produce(kafka.BootstrapServers, count: 1_000, users: 300, seed: seed++, nowMs: now);
            await CaughtUpAsync($"after broker {broker} came back");
        }

        // 4. Every partition's leader moves to another broker while events keep coming.
        for (var p = 0; p < 4; p++)
        {
            cluster.SetPartitionLeader(scenario.Topic, p, (p % cluster.BrokerCount) + 1);
            faults++;
        }

        scenario.Produce(kafka.BootstrapServers, count: 2_000, users: 300, seed: seed++, nowMs: now);
        for (var p = 0; p < 4; p++)
        {
            cluster.SetPartitionLeader(scenario.Topic, p, ((p + 1) % cluster.BrokerCount) + 1);
            faults++;
        }

        scenario.Produce(kafka.BootstrapServers, count: 2_000, users: 300, seed: seed, nowMs: now);
        await CaughtUpAsync("after the leader changes");

        Assert.False(run.IsCompleted, "the job must still run");
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(scenario.Count, await scenario.CheckpointedAsync(db));
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (45 * 60_000));
        Figures.Report("broker faults / ingest", $"faults={faults} events={scenario.Count} applied={metrics.EventsTotal} dead_lettered={metrics.DeadLetteredTotal} lost=0 doubled=0 (online values equal the reference at 2 instants)");

        async Task CaughtUpAsync(string when)
        {
            var caughtUp = scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
            if (await Task.WhenAny(caughtUp, run) == run)
            {
                await run; // the job stopped: surface why
                throw new InvalidOperationException($"the ingest job stopped {when}");
            }

            try
            {
                await caughtUp;
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException($"not caught up {when}", ex);
            }
        }
    }

    [Fact]
    public async Task The_monitor_rides_out_fetch_errors_brokers_down_and_leader_changes_and_alerts_once_each()
    {
        var cluster = kafka.Cluster;
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("predfault", partitions: 2);
        var harness = await MonitorHarness.CreateAsync(redis.Connection.Database, topic, receiver.Url);
        await using var monitor = harness.Start(kafka.BootstrapServers, redis.Connection.Database, "monitor-" + Guid.NewGuid().ToString("N"));
        using var producer = kafka.CreateProducer();
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var faults = 0;

        // Window 1, shifted, read through failing fetches: drift alerts for psi and ks.
        var fetchErrors = Enumerable.Range(0, 16).Select(i => Retriable[i % Retriable.Length]).ToArray();
        cluster.PushRequestErrors(Fetch, fetchErrors);
        faults += fetchErrors.Length;
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 2, count: MonitorScenario.Window, mean: 0.6), start);
        await Eventually.TrueAsync(() => monitor.Metrics.Windows >= 2, TimeSpan.FromSeconds(90), "window 1 evaluated", Ct);

        // Window 2, back to normal, produced while each broker goes down in turn: resolved alerts.
        for (var broker = 1; broker <= cluster.BrokerCount; broker++)
        {
            cluster.SetBrokerDown(broker);
            faults++;
            await Task.Delay(FaultHold, Ct); // the outage itself
            cluster.SetBrokerUp(broker);
        }

        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 4, count: MonitorScenario.Window, mean: 0.3), start + 10_000);
        await Eventually.TrueAsync(() => monitor.Metrics.Windows >= 4, TimeSpan.FromSeconds(90), "window 2 evaluated", Ct);

        // Window 3, still normal, after both partitions changed leader: evaluated, no alert.
        for (var p = 0; p < 2; p++)
        {
            cluster.SetPartitionLeader(topic, p, ((p + 1) % cluster.BrokerCount) + 1);
            faults++;
        }

        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 5, count: MonitorScenario.Window, mean: 0.3), start + 20_000);
        await Eventually.TrueAsync(() => monitor.Metrics.Windows >= 6, TimeSpan.FromSeconds(90), "window 3 evaluated", Ct);
        await Eventually.TrueAsync(async () => receiver.Requests.Count >= 4 && await monitor.Job.Outbox.PendingAsync() == 0,
            TimeSpan.FromSeconds(60), "four alerts delivered and the outbox empty", Ct);

        Assert.False(monitor.Run.IsCompleted, "the monitor must still run");
        var keys = receiver.Requests.Select(r => r.IdempotencyKey).ToList();
        Assert.Equal(4, keys.Distinct().Count());
        Assert.Equal(2, receiver.Requests.Count(r => r.Event == "drift"));
        Assert.Equal(2, receiver.Requests.Count(r => r.Event == "resolved"));
        var history = await harness.Store(redis.Connection.Database).HistoryAsync("scorer", "v1");
        Assert.Equal(6, history.Count); // three windows × two columns, none twice
        // Each window holds its predictions exactly once. A member that rejoins after a fault reads again from
        // its committed offsets, which never pass an open window: reads may exceed the predictions.
        Assert.All(history, h => Assert.Equal(MonitorScenario.Window, h.Count));
        Assert.True(monitor.Metrics.Predictions >= 3 * MonitorScenario.Window, $"read {monitor.Metrics.Predictions}");
        Figures.Report("broker faults / monitor", $"faults={faults} predictions={3 * MonitorScenario.Window} read={monitor.Metrics.Predictions} windows={history.Count} (each of {MonitorScenario.Window}) alerts={keys.Distinct().Count()} deliveries={keys.Count} lost=0 doubled=0");
    }
}

/// <summary>
/// A broker taken down and up listens again on its port: the tests that do it run alone, so no service another test
/// starts meanwhile takes that port (librdkafka aborts the process when it cannot listen again).
/// </summary>
[CollectionDefinition(nameof(BrokerFaultCollection), DisableParallelization = true)]
public sealed class BrokerFaultCollection;
