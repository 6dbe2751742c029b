using System.Security.Cryptography;
using System.Text;
using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Monitor.Tests;

/// <summary>Segmented drift monitors end to end: embedded Kafka over TCP, embedded Garnet, a real HTTP webhook receiver.</summary>
[Trait("Category", "Integration")]
public sealed class DriftSegmentTests(EmbeddedKafkaFixture kafka, GarnetFixture store)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<GarnetFixture>
{
    private const string Secret = "s3cret-for-segments";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task One_shifted_segment_fires_one_signed_alert_naming_it_then_a_resolved_one()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("segment-alerts", partitions: 1);
        var repository = SegmentScenario.Repository(topic, receiver.Url, "size: 1m");
        await using var monitor = await StartAsync(repository);
        using var producer = kafka.CreateProducer();
        var minute = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 60_000 * 60_000) - (10 * 60_000);

        // Regions a and b like training throughout; c (150 of 1 150 predictions a minute) shifted by three standard
        // deviations in minute 1 only. The first prediction of minute 3 closes minute 2.
        SegmentScenario.Produce(producer, topic, Minute(seed: 50, cMean: 0.3), minute);
        SegmentScenario.Produce(producer, topic, Minute(seed: 60, cMean: 0.6), minute + 60_000);
        SegmentScenario.Produce(producer, topic, Minute(seed: 70, cMean: 0.3), minute + 120_000);
        SegmentScenario.Produce(producer, topic, [("a", 0.3)], minute + 180_000);

        await Eventually.TrueAsync(async () => (await monitor.Job.Store.HistoryAsync("scorer", "v1")).Count >= 12 && receiver.Requests.Count >= 2,
            TimeSpan.FromSeconds(60), "three minutes × (whole column, a, b, c) evaluated and two alerts", Ct);
        await Eventually.TrueAsync(async () => await monitor.Job.Outbox.PendingAsync() == 0, TimeSpan.FromSeconds(10), "outbox empty", Ct);

        var history = await monitor.Job.Store.HistoryAsync("scorer", "v1");
        Assert.Equal(12, history.Count);
        Assert.Equal(
            [(null, false), ("a", false), ("b", false), ("c", true)],
            history.Where(h => h.WindowStartMs == minute + 60_000).OrderBy(h => h.Segment, StringComparer.Ordinal).Select(h => (h.Segment, h.Drifted)));
        Assert.Equal([150L, 150L, 150L], history.Where(h => h.Segment == "c").Select(h => h.Count));
        Assert.All(history.Where(h => h.WindowStartMs != minute + 60_000), h => Assert.False(h.Drifted, $"minute {(h.WindowStartMs - minute) / 60_000}, segment {h.Segment}"));

        Assert.Equal(["drift", "resolved"], receiver.Requests.Select(r => r.Event));
        foreach (var request in receiver.Requests)
        {
            Assert.Equal("sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), request.Body)), request.Signature);
        }

        var (drift, resolved) = (receiver.Alerts[0], receiver.Alerts[1]);
        Assert.Equal("c", drift.GetProperty("segment").GetString());
        Assert.Equal("c", resolved.GetProperty("segment").GetString());
        Assert.Equal("score", drift.GetProperty("column").GetString());
        Assert.Equal("psi", drift.GetProperty("method").GetString());
        Assert.True(drift.GetProperty("value").GetDouble() >= 0.2);
        Assert.Equal($"scorer:v1:score:psi#c:{minute + 60_000}:drift", drift.GetProperty("id").GetString());
        Assert.Equal($"scorer:v1:score:psi#c:{minute + 60_000}:resolved", resolved.GetProperty("id").GetString());
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(minute + 60_000), DateTimeOffset.Parse(drift.GetProperty("window_start").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("&segment=c", drift.GetProperty("history").GetString(), StringComparison.Ordinal);

        // Incidents are per segment, each under its own key; only c's alerted (and it is resolved).
        var incidents = (await store.Connection.Database.HashGetAllAsync(monitor.Job.Store.Keys.Incidents))
            .ToDictionary(i => i.Name.ToString(), i => System.Text.Json.JsonDocument.Parse(i.Value.ToString()).RootElement);
        Assert.Equal(["scorer:v1:score:psi", "scorer:v1:score:psi#a", "scorer:v1:score:psi#b", "scorer:v1:score:psi#c"], incidents.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["scorer:v1:score:psi#c"], incidents.Where(i => i.Value.GetProperty("alerted").GetBoolean()).Select(i => i.Key));
        Assert.Equal("c", incidents["scorer:v1:score:psi#c"].GetProperty("segment").GetString());
        Assert.False(incidents["scorer:v1:score:psi#c"].GetProperty("open").GetBoolean());
    }

    [Fact]
    public async Task A_monitor_restarted_mid_window_counts_each_prediction_once_in_its_segment()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("segment-restart", partitions: 1);
        var repository = SegmentScenario.Repository(topic, receiver.Url, "count: 100", segments: 2);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var group = "monitor-" + Guid.NewGuid().ToString("N");
        using var producer = kafka.CreateProducer();
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // Of every 20 predictions: 12 of region a, 6 of b, one of c (past the cap of 2: other), one without a region.
        const int Total = 2000;
        var scores = MonitorScenario.Scores(seed: 80, count: Total, mean: 0.3).ToArray();
        var predictions = Enumerable.Range(0, Total).Select(i => ((i % 20) switch { < 12 => "a", < 18 => "b", 18 => "c", _ => (string?)null }, scores[i])).ToList();

        // The first run reads 1 030 predictions and stops with every segment's window part full: the commit is held
        // at the first offset of the oldest open window (other's), so the second run reads again what a's and b's
        // persisted windows counted, and must skip it.
        await using (var first = await StartAsync(repository, prefix, group))
        {
            SegmentScenario.Produce(producer, topic, predictions.Take(1030), start);
            await Eventually.TrueAsync(async () => first.Metrics.Predictions >= 1030 && (await first.Job.Store.HistoryAsync("scorer", "v1")).Count(h => h.Segment is null) >= 10,
                TimeSpan.FromSeconds(60), "the first run read its share and evaluated ten whole-column windows", Ct);
        }

        await using var second = await StartAsync(repository, prefix, group);
        SegmentScenario.Produce(producer, topic, predictions.Skip(1030), start + 1030);

        // Every window fills exactly: 20 of the whole column, 12 of a, 6 of b, one of other and one of (missing).
        var expected = new Dictionary<string, long> { ["*"] = Total, ["a"] = 1200, ["b"] = 600, ["other"] = 100, ["(missing)"] = 100 };
        await Eventually.TrueAsync(async () => (await second.Job.Store.HistoryAsync("scorer", "v1")).Count >= 40,
            TimeSpan.FromSeconds(60), "every window evaluated", Ct);
        var history = await second.Job.Store.HistoryAsync("scorer", "v1");
        Assert.Equal(40, history.Count);
        Assert.All(history, h => Assert.Equal(100, h.Count));
        Assert.Equal(expected, history.GroupBy(h => h.Segment ?? "*").ToDictionary(g => g.Key, g => g.Sum(h => h.Count)));
        Assert.True(second.Metrics.Skipped > 0, "the second run read again predictions the first run's windows counted");

        // Each segment's evaluated offsets cover exactly its predictions.
        var lastOffset = new Dictionary<string, long>();
        for (var i = 0; i < Total; i++)
        {
            var (region, _) = predictions[i];
            lastOffset[region is null ? "(missing)" : region == "c" ? "other" : region] = i;
        }

        foreach (var (segment, last) in lastOffset)
        {
            var evaluated = await store.Connection.Database.HashGetAsync(second.Job.Store.EvaluatedKey("scorer", "v1", "score", segment), $"{topic}:0");
            Assert.Equal(last, (long)evaluated);
        }
    }

    // Regions a and b with 500 scores each like training, and c with 150 around cMean, interleaved.
    private static List<(string? Region, double Score)> Minute(int seed, double cMean) => SegmentScenario.Interleave(
        ("a", MonitorScenario.Scores(seed, 500, 0.3)),
        ("b", MonitorScenario.Scores(seed + 1, 500, 0.3)),
        ("c", MonitorScenario.Scores(seed + 2, 150, cMean)));

    private async Task<RunningMonitor> StartAsync(FeatureRepository repository, string? prefix = null, string? group = null)
    {
        prefix ??= "t" + Guid.NewGuid().ToString("N")[..8];
        await new DriftStore(store.Connection.Database, prefix, repository.Project).SaveBaselineAsync(SegmentScenario.Baseline(repository));
        var metrics = new MonitorMetrics();
        var options = MonitorScenario.Options(kafka.BootstrapServers, group ?? "monitor-" + Guid.NewGuid().ToString("N"), Secret);
        var job = new MonitorJob(repository, store.Connection.Database, prefix, options, metrics, NullLogger.Instance);
        return RunningMonitor.Start(job, metrics, Ct);
    }
}
