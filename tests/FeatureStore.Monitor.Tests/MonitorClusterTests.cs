using System.Text.Json.Nodes;
using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Job;
using FeatureStore.Redis;
using FeatureStore.Redis.Drift;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Tests;

/// <summary>
/// The monitor on a real six-node Redis Cluster: its drift keys share the project's slot, so each window's
/// transaction (history, offsets, outbox, incidents) is accepted; the same predictions give the same history
/// and the same alerts as on one redis-server, and a restart repeats neither.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MonitorClusterTests(EmbeddedKafkaFixture kafka, RedisClusterFixture cluster, RedisServerFixture single)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisClusterFixture>, IClassFixture<RedisServerFixture>
{
    private const string Secret = "cluster-secret";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_drifted_stream_alerts_signed_through_the_outbox_and_records_history_on_a_cluster_as_on_one_server_and_a_restart_repeats_nothing()
    {
        Assert.True(cluster.Connection.IsCluster);
        Assert.False(single.Connection.IsCluster);
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 120_000;

        var onCluster = await RunAsync(cluster.Connection, "cluster", start);
        var onServer = await RunAsync(single.Connection, "single", start);

        Assert.Equal(10, onCluster.History.Count); // five windows × two columns
        Assert.Equal(onServer.History, onCluster.History);
        Assert.Equal(2, onCluster.Alerts.Count); // psi and ks on the first shifted window, nothing after
        Assert.Equal(onServer.Alerts, onCluster.Alerts);
        Assert.Equal(onServer.Keys, onCluster.Keys);
    }

    /// <summary>
    /// Three windows like training and one shifted, a restart, one more shifted window; returns the history entries,
    /// the alerts received (without their creation time) and the drift keys left, named after their base.
    /// </summary>
    private async Task<(List<string> History, List<string> Alerts, List<string> Keys)> RunAsync(OnlineStoreConnection store, string name, long start)
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic($"predictions-{name}", partitions: 1);
        var repository = MonitorScenario.Repository(topic, receiver.Url, MonitorScenario.SecretEnv);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var group = "monitor-" + Guid.NewGuid().ToString("N");
        var db = store.Database;
        var keys = new DriftKeys(prefix, repository.Project);

        // The baseline as `featurestore baseline` of the earlier version stored it, without the hash tag (on a
        // cluster, in another slot than the project's): the monitor moves it when it starts.
        await new EarlierLayout(db, prefix, repository.Project).SaveBaselineAsync(MonitorScenario.Baseline(repository));

        using var producer = kafka.CreateProducer();
        await using (var first = Start(repository, db, prefix, group))
        {
            for (var w = 0; w < 3; w++)
            {
                MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 100 + w, count: MonitorScenario.Window, mean: 0.3), start + (w * 10_000));
            }

            MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 2, count: MonitorScenario.Window, mean: 0.6), start + 30_000);
            await Eventually.TrueAsync(async () => receiver.Requests.Count >= 2 && await db.SortedSetLengthAsync(keys.History("scorer", "v1")) >= 8 && await first.Job.Outbox.PendingAsync() == 0,
                TimeSpan.FromSeconds(60), $"{name}: four windows recorded, two drift alerts delivered", Ct);
        }

        // A restart, then a second shifted window: its incidents are still open, so nothing is sent; nothing the
        // first run recorded or sent is recorded or sent again.
        await using (var second = Start(repository, db, prefix, group))
        {
            MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 3, count: MonitorScenario.Window, mean: 0.6), start + 40_000);
            await Eventually.TrueAsync(async () => await db.SortedSetLengthAsync(keys.History("scorer", "v1")) >= 10 && await second.Job.Outbox.PendingAsync() == 0,
                TimeSpan.FromSeconds(60), $"{name}: the fifth window recorded after the restart", Ct);
        }

        Assert.Equal(2, receiver.Requests.Count);
        Assert.All(receiver.Requests, r =>
        {
            Assert.Equal("drift", r.Event);
            Assert.Equal(WebhookSender.Sign(r.Body, Secret), r.Signature);
        });

        // Every drift key in the project's slot, none left under the earlier name.
        var found = new List<RedisKey>();
        foreach (var server in store.Multiplexer.GetServers().Where(s => !s.IsReplica))
        {
            await foreach (var key in server.KeysAsync(pattern: prefix + ":*").WithCancellation(Ct))
            {
                found.Add(key);
            }
        }

        Assert.All(found, key => Assert.StartsWith(keys.Base + ":", key.ToString(), StringComparison.Ordinal));
        Assert.Single(found.Select(key => store.Multiplexer.HashSlot(key)).Distinct());

        var history = (await db.SortedSetRangeByRankWithScoresAsync(keys.History("scorer", "v1"))).Select(e => $"{e.Score} {e.Element}").ToList();
        var alerts = receiver.Requests.Select(r =>
        {
            var alert = JsonNode.Parse(r.Body)!.AsObject();
            alert.Remove("created_at_ms");
            return $"{r.IdempotencyKey} {alert.ToJsonString()}";
        }).Order(StringComparer.Ordinal).ToList();
        return (history, alerts, [.. found.Select(k => k.ToString()[keys.Base.Length..]).Order(StringComparer.Ordinal)]);
    }

    private RunningMonitor Start(FeatureRepository repository, IDatabase db, string prefix, string group)
    {
        var metrics = new MonitorMetrics();
        var job = new MonitorJob(repository, db, prefix, MonitorScenario.Options(kafka.BootstrapServers, group, Secret), metrics, NullLogger.Instance);
        return RunningMonitor.Start(job, metrics, Ct);
    }
}
