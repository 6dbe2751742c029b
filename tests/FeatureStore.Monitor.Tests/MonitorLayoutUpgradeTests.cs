using System.Text.Json;
using FeatureStore.Core.Drift;
using FeatureStore.Core.Events;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Job;
using FeatureStore.Redis.Drift;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Tests;

/// <summary>
/// Upgrading a store an earlier version wrote (drift keys without the hash tag): the monitor moves its baseline,
/// history, incidents and undelivered alerts to their tagged names when it starts, and goes on from them.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MonitorLayoutUpgradeTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>
{
    private const string Secret = "upgrade-secret";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Keys_an_earlier_version_wrote_are_found_under_their_tagged_names_after_start_and_the_monitor_goes_on_from_them()
    {
        var port = FreePort.Next();
        var topic = kafka.CreateTopic("predictions-upgrade", partitions: 1);
        var repository = MonitorScenario.Repository(topic, $"http://127.0.0.1:{port}/alerts/", MonitorScenario.SecretEnv);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var db = redis.Connection.Database;
        var keys = new DriftKeys(prefix, repository.Project);
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // The earlier version's store: a baseline, one window whose psi drifted (its incident open, its drift alert
        // still in the outbox because the webhook was down), the ks of that window within its threshold.
        var earlier = new EarlierLayout(db, prefix, repository.Project);
        var baseline = MonitorScenario.Baseline(repository);
        await earlier.SaveBaselineAsync(baseline);
        var window = new DriftEvaluation("scorer", "v1", "score", baseline.Id, start - 20_000, start - 10_000, MonitorScenario.Window,
            [new DriftResult(DriftMethod.Psi, 0.5, 0.5, 0.2, true), new DriftResult(DriftMethod.Ks, 0.3, 0.05, 0.05, false)], true, DriftVerdict.Drifted, 100);
        await earlier.AppendHistoryAsync(window);
        var incidentId = $"scorer:v1:score:psi:{window.WindowStartMs}";
        await earlier.SaveIncidentAsync("scorer:v1:score:psi", new Incident { Open = true, Alerted = true, Id = incidentId, LastAlertMs = start - 10_000, OpenedMs = window.WindowStartMs, Value = 0.5, Threshold = 0.2 });
        var alert = new DriftAlert(incidentId + ":drift", AlertStatus.Drift, "scorer", "v1", "score", "psi", 0.5, 0.2,
            Rfc3339.Format(window.WindowStartMs), Rfc3339.Format(window.WindowEndMs), baseline.Id, "http://localhost:6567/v1/drift/history?model=scorer&version=v1&column=score", "hook", start - 10_000);
        await earlier.EnqueueAsync(alert, start - 10_000);
        var written = new[] { "baseline:scorer:v1", "history:scorer:v1", "incidents", "outbox", "outbox:due" };
        var before = await ReadAsync(db, written.Select(earlier.Key));

        // The monitor starts while the webhook is still down: it finds the alert under the tagged outbox and fails to send it.
        var logs = new CapturedLogs();
        var metrics = new MonitorMetrics();
        var group = "monitor-" + Guid.NewGuid().ToString("N");
        var job = new MonitorJob(repository, db, prefix, MonitorScenario.Options(kafka.BootstrapServers, group, Secret), metrics, logs);
        await using (RunningMonitor.Start(job, metrics, Ct))
        {
            await Eventually.TrueAsync(() => metrics.DeliveryFailures >= 1, TimeSpan.FromSeconds(30), "the earlier alert tried from the tagged outbox", Ct);

            foreach (var rest in written)
            {
                Assert.False(await db.KeyExistsAsync(earlier.Key(rest)), $"{earlier.Key(rest)} still there");
            }

            var after = await ReadAsync(db, written.Select(rest => (RedisKey)$"{keys.Base}:{rest}"));
            Assert.Equal(before[..4], after[..4]); // baseline, history, incidents and outbox: equal values
            Assert.Equal(alert.Id, (string?)(await db.SortedSetRangeByRankAsync(keys.OutboxDue)).Single()); // due again later
            Assert.Equal(DriftLayoutUpgrade.Done, (string?)await db.StringGetAsync(keys.Layout));
            Assert.Single(logs.Records, r => r.Contains($"project {repository.Project}: 5 drift keys written without the hash tag moved to {keys.Base}:", StringComparison.Ordinal));

            // The webhook comes up: the earlier alert goes out, signed.
            await using var receiver = new WebhookReceiver(port);
            await Eventually.TrueAsync(() => !receiver.Requests.IsEmpty, TimeSpan.FromSeconds(30), "the earlier alert delivered", Ct);
            var delivered = receiver.Requests.Single();
            Assert.Equal(alert.Id, delivered.IdempotencyKey);
            Assert.Equal(WebhookSender.Sign(delivered.Body, Secret), delivered.Signature);

            // A shifted window: compared with the moved baseline, appended to the moved history; psi's incident is the
            // earlier one, still open, so only ks (within its threshold before) raises a drift alert.
            using var producer = kafka.CreateProducer();
            MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 2, count: MonitorScenario.Window, mean: 0.6), start);
            await Eventually.TrueAsync(async () => await db.SortedSetLengthAsync(keys.History("scorer", "v1")) >= 3 && await job.Outbox.PendingAsync() == 0,
                TimeSpan.FromSeconds(60), "the shifted window recorded and its alerts delivered", Ct);
            Assert.Equal(2, receiver.Requests.Count);
            Assert.Equal(alert.Id, receiver.Requests.First().IdempotencyKey);
            Assert.Matches("^scorer:v1:score:ks:[0-9]+:drift$", receiver.Requests.Last().IdempotencyKey);
            var history = await job.Store.HistoryAsync("scorer", "v1");
            Assert.Equal(3, history.Count);
            Assert.Equal(window, history[0] with { Results = window.Results });
            Assert.Equal(window.Results, history[0].Results);
            Assert.All(history, h => Assert.Equal(baseline.Id, h.BaselineId));
            Assert.True(history.Single(h => h.Column == "score" && h.WindowStartMs >= start).Drifted);
            var incident = JsonDocument.Parse((string)(await db.HashGetAsync(keys.Incidents, "scorer:v1:score:psi"))!).RootElement;
            Assert.Equal(incidentId, incident.GetProperty("id").GetString());
            Assert.True(incident.GetProperty("open").GetBoolean());
        }

        // A restart finds the layout key and moves (and logs) nothing.
        var restarted = new MonitorMetrics();
        await using (RunningMonitor.Start(new MonitorJob(repository, db, prefix, MonitorScenario.Options(kafka.BootstrapServers, group, Secret), restarted, logs), restarted, Ct))
        {
            await Eventually.TrueAsync(() => logs.Records.Count(r => r.Contains("monitoring ", StringComparison.Ordinal)) == 2, TimeSpan.FromSeconds(30), "the second run started", Ct);
        }

        Assert.Single(logs.Records, r => r.Contains("written without the hash tag moved", StringComparison.Ordinal));
    }

    /// <summary>Each key's content as text (string, sorted set with scores, or hash), in order.</summary>
    private static async Task<string[]> ReadAsync(IDatabase db, IEnumerable<RedisKey> keys)
    {
        var values = new List<string>();
        foreach (var key in keys)
        {
            values.Add(await db.KeyTypeAsync(key) switch
            {
                RedisType.String => "string " + await db.StringGetAsync(key),
                RedisType.SortedSet => "zset " + string.Join(",", (await db.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}={e.Score}")),
                RedisType.Hash => "hash " + string.Join(",", (await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal)),
                var other => other.ToString(),
            });
        }

        return [.. values];
    }
}
