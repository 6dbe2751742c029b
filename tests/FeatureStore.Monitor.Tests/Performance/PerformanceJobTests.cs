using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Performance;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Performance;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using static FeatureStore.Monitor.Tests.Performance.PerformanceScenario;

namespace FeatureStore.Monitor.Tests.Performance;

/// <summary>The performance job end to end: embedded Kafka over TCP, redis-server, a real HTTP webhook receiver.</summary>
[Trait("Category", "Integration")]
public sealed class PerformanceJobTests(EmbeddedKafkaFixture kafka, RedisServerFixture store)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>
{
    private const string Secret = "s3cret-for-performance";
    private const int PerWindow = 600;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Realized_metrics_are_those_of_the_joined_pairs_and_a_concept_drift_in_one_segment_fires_a_signed_alert_the_estimate_cannot_see()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var (topic, labelsTopic) = Topics();
        var repository = Repository(topic, labelsTopic, receiver.Url);
        var prefix = Prefix();
        await using var job = await StartAsync(repository, prefix, receiver.Url);

        // Windows 0, 1 and 3 calibrated; in window 2 the labels of country b are flipped (same scores); in window 4 only
        // 50 predictions are labelled (min_samples 100), country b flipped again: insufficient data, no alert.
        var predictions = Enumerable.Range(0, 5).Select(w => Predictions(seed: 10 + w, T0 + (w * WindowMs), PerWindow)).ToList();
        var labels = new List<Label>();
        for (var w = 0; w < 5; w++)
        {
            var drifted = w is 2 or 4;
            var drawn = Labels(seed: 20 + w, predictions[w], drifted ? p => p.Country == "b" : null);
            labels.AddRange(w == 4 ? drawn.Take(50) : drawn);
        }

        // Twenty labels of window 1 delivered twice, right after the first copy.
        var duplicates = labels.Where(l => l.TimeMs < T0 + (2 * WindowMs) && l.TimeMs >= T0 + WindowMs).Take(20).ToHashSet();
        var sent = labels.SelectMany(l => duplicates.Contains(l) ? [l, l] : new[] { l }).ToList();

        // What closes window 4: a prediction after it and a label past its end + horizon.
        var closer = new Prediction("closer", T0 + (6 * WindowMs), 0.5, "a");
        var closerLabel = new Label("closer", T0 + (6 * WindowMs) + 1, true);

        using var producer = kafka.CreateProducer();
        Produce(producer, topic, predictions.SelectMany(p => p).Append(closer));
        Produce(producer, labelsTopic, sent.Append(closerLabel));
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "x", Value = """{"model_version":"v1","event_time":1,"score":0.5,"country":"a"}""" }, Ct);
        await producer.ProduceAsync(labelsTopic, new Message<string, string> { Key = "x", Value = """{"prediction_id":"w1","is_positive":"maybe","labelled_at":1}""" }, Ct);

        await Eventually.TrueAsync(async () => (await job.Job.Store.HistoryAsync("ranker", "v1")).Count >= 15, TimeSpan.FromSeconds(60), "five windows × (whole, a, b) evaluated", Ct);
        var history = await job.Job.Store.HistoryAsync("ranker", "v1");
        Assert.Equal(15, history.Count);

        // Realized metrics: exactly BinaryClassificationWindow's on the same pairs.
        var labelOf = labels.ToDictionary(l => l.Id, l => l.Positive);
        foreach (var entry in history)
        {
            var w = (int)((entry.WindowStartMs - T0) / WindowMs);
            var pairs = predictions[w].Where(p => labelOf.ContainsKey(p.Id) && (entry.Segment is null || p.Country == entry.Segment)).ToList();
            var expected = PerformanceMetrics.ToDictionary(BinaryClassificationWindow.Of([.. pairs.Select(p => p.Score)], [.. pairs.Select(p => labelOf[p.Id])], 0.5));
            Assert.Equal(pairs.Count, entry.Labelled);
            Assert.Equal(predictions[w].Count(p => entry.Segment is null || p.Country == entry.Segment), entry.Predictions);
            Assert.Equal("horizon", entry.ClosedBy);
            foreach (var (metric, value) in expected)
            {
                Assert.True(double.IsNaN(value) ? double.IsNaN(entry.Realized[metric]) : Math.Abs(value - entry.Realized[metric]) <= 1e-12, $"{metric} of window {w} {entry.Segment}: {entry.Realized[metric]} vs {value}");
            }
        }

        string Verdicts(string? segment) => string.Join(",", history.Where(h => h.Segment == segment).Select(h => h.Verdict));
        Assert.Equal("Ok,Ok,Ok,Ok,InsufficientData", Verdicts("a"));
        Assert.Equal("Ok,Ok,Degraded,Ok,InsufficientData", Verdicts("b"));
        Assert.Equal("Ok,Ok,Degraded,Ok,InsufficientData", Verdicts(null));

        // The estimate does not see the concept drift: country b's realized AUC falls below its band, the estimate stays.
        var driftedB = history.Single(h => h.Segment == "b" && h.WindowStartMs == T0 + (2 * WindowMs));
        var estimate = driftedB.Estimated!["roc_auc"];
        Assert.True(driftedB.Realized["roc_auc"] < estimate.Lower, $"realized {driftedB.Realized["roc_auc"]} below the band [{estimate.Lower}, {estimate.Upper}]");
        Assert.True(estimate.Value > 0.7, $"estimate {estimate.Value}");
        Assert.DoesNotContain(history.SelectMany(h => h.Breaches), b => b.Kind == "estimated");
        foreach (var calm in history.Where(h => h.Verdict == PerformanceVerdict.Ok))
        {
            var band = calm.Estimated!["roc_auc"];
            Assert.InRange(calm.Realized["roc_auc"], band.Lower, band.Upper);
        }

        // One signed alert per incident (window 2: country b and the whole model), then resolved at window 3.
        await Eventually.TrueAsync(() => receiver.Requests.Count >= 4, TimeSpan.FromSeconds(30), "two alerts and their resolutions", Ct);
        Assert.Equal(4, receiver.Requests.Count);
        foreach (var request in receiver.Requests)
        {
            Assert.Equal("sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), request.Body)), request.Signature);
        }

        var opened = receiver.Requests.Where(r => r.Event == "performance").Select(r => JsonDocument.Parse(r.Body).RootElement).ToList();
        Assert.Equal(2, opened.Count);
        var segmentAlert = opened.Single(a => a.GetProperty("segment").ValueKind == JsonValueKind.String);
        Assert.Single(opened, a => a.GetProperty("segment").ValueKind == JsonValueKind.Null); // the whole model's
        Assert.Equal("b", segmentAlert.GetProperty("segment").GetString());
        Assert.Equal("roc_auc", segmentAlert.GetProperty("column").GetString());
        Assert.Equal("realized", segmentAlert.GetProperty("method").GetString());
        Assert.Equal(0.6, segmentAlert.GetProperty("threshold").GetDouble());
        Assert.Equal(driftedB.Realized["roc_auc"], segmentAlert.GetProperty("value").GetDouble());
        Assert.Equal(2, receiver.Requests.Count(r => r.Event == "resolved"));
        Assert.Equal(0, await job.Job.Outbox.PendingAsync());

        // The join's counters: every distinct label joined once, the second copies counted, the bad label dead-lettered.
        Assert.Equal(new LabelCounts(labels.Count + 1, duplicates.Count, 0, 0, 0), await job.Job.Store.LabelCountsAsync("ranker"));
        await Eventually.TrueAsync(() => job.Metrics.DeadLettered == 2, TimeSpan.FromSeconds(30), "a prediction without its id and a label of no class dead-lettered", Ct);
        Assert.Equal(["missing_id"], await ReasonsAsync(topic + ".dlq", 1));
        Assert.Equal(["wrong_type"], await ReasonsAsync(labelsTopic + ".dlq", 1));
    }

    [Fact]
    public async Task A_job_stopped_mid_stream_and_another_started_write_the_history_one_uninterrupted_run_writes()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var (topic, labelsTopic) = Topics();
        var repository = Repository(topic, labelsTopic, receiver.Url);
        var predictions = Enumerable.Range(0, 4).Select(w => Predictions(seed: 40 + w, T0 + (w * WindowMs), PerWindow)).ToList();
        var labels = predictions.Select((p, w) => Labels(seed: 50 + w, p, w == 2 ? x => x.Country == "a" : null)).ToList();
        var closer = new Prediction("closer", T0 + (5 * WindowMs), 0.5, "a");
        var closerLabel = new Label("closer", T0 + (5 * WindowMs) + 1, true);
        using var producer = kafka.CreateProducer();

        // First half: windows 0 and 1 (with their labels); the first job applies them, evaluates window 0, and stops.
        var interrupted = Prefix();
        Produce(producer, topic, predictions.Take(2).SelectMany(p => p));
        Produce(producer, labelsTopic, labels.Take(2).SelectMany(l => l));
        await using (var first = await StartAsync(repository, interrupted, receiver.Url, group: interrupted))
        {
            await Eventually.TrueAsync(async () => (await first.Job.Store.HistoryAsync("ranker", "v1")).Count >= 3, TimeSpan.FromSeconds(60), "window 0 evaluated", Ct);
        }

        // The rest, read by a second job of the same group and store.
        Produce(producer, topic, predictions.Skip(2).SelectMany(p => p).Append(closer));
        Produce(producer, labelsTopic, labels.Skip(2).SelectMany(l => l).Append(closerLabel));
        IReadOnlyList<PerformanceEvaluation> resumed;
        await using (var second = await StartAsync(repository, interrupted, receiver.Url, group: interrupted))
        {
            await Eventually.TrueAsync(async () => (await second.Job.Store.HistoryAsync("ranker", "v1")).Count >= 12, TimeSpan.FromSeconds(60), "four windows evaluated", Ct);
            resumed = await second.Job.Store.HistoryAsync("ranker", "v1");
        }

        // One job over the whole stream, in another store and group.
        var whole = Prefix();
        IReadOnlyList<PerformanceEvaluation> uninterrupted;
        await using (var one = await StartAsync(repository, whole, receiver.Url, group: whole))
        {
            await Eventually.TrueAsync(async () => (await one.Job.Store.HistoryAsync("ranker", "v1")).Count >= 12, TimeSpan.FromSeconds(60), "four windows evaluated", Ct);
            uninterrupted = await one.Job.Store.HistoryAsync("ranker", "v1");
        }

        Assert.Equal(12, resumed.Count);
        Assert.Equal(Json(uninterrupted), Json(resumed));
        var counts = await new PerformanceStore(store.Connection.Database, new Redis.Drift.DriftKeys(interrupted, repository.Project)).LabelCountsAsync("ranker");
        Assert.Equal(new LabelCounts(labels.Sum(l => l.Count) + 1, 0, 0, 0, 0), counts);
        Assert.Equal(PerformanceVerdict.Degraded, resumed.Single(h => h.Segment == "a" && h.WindowStartMs == T0 + (2 * WindowMs)).Verdict);
    }

    private static string Json(IEnumerable<PerformanceEvaluation> history) =>
        string.Join("\n", history.Select(h => JsonSerializer.Serialize(h, PerformanceStore.Json)));

    private (string Topic, string Labels) Topics()
    {
        var topic = kafka.CreateTopic("predictions", partitions: 1);
        var labels = kafka.CreateTopic("labels", partitions: 1);
        kafka.Cluster.CreateTopic(topic + ".dlq", 1);
        kafka.Cluster.CreateTopic(labels + ".dlq", 1);
        return (topic, labels);
    }

    private static string Prefix() => "fs" + Guid.NewGuid().ToString("N")[..8];

    private async Task<RunningPerformance> StartAsync(FeatureRepository repository, string prefix, string webhookUrl, string? group = null)
    {
        _ = webhookUrl;
        var database = store.Connection.Database;
        await new PerformanceStore(database, new Redis.Drift.DriftKeys(prefix, repository.Project)).SaveReferenceAsync(Reference("ranker", "v1"));
        var options = MonitorScenario.Options(kafka.BootstrapServers, group ?? prefix, Secret);
        var metrics = MonitorMetrics.ForPerformance();
        var job = new PerformanceJob(repository, database, prefix, options, metrics, NullLogger.Instance);
        return RunningPerformance.Start(job, metrics, Ct);
    }

    private async Task<List<string>> ReasonsAsync(string topic, int count)
    {
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest }).Build();
        consumer.Subscribe(topic);
        var reasons = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (reasons.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { } dead)
            {
                reasons.Add(Encoding.UTF8.GetString(dead.Message.Headers.GetLastBytes("fs-reason")));
            }

            await Task.Yield();
        }

        consumer.Close();
        return reasons;
    }
}

/// <summary>A performance job running in the background; disposing stops it cleanly and waits for it.</summary>
internal sealed class RunningPerformance(PerformanceJob job, MonitorMetrics metrics, Task run, CancellationTokenSource stop) : IAsyncDisposable
{
    public PerformanceJob Job { get; } = job;

    public MonitorMetrics Metrics { get; } = metrics;

    public static RunningPerformance Start(PerformanceJob job, MonitorMetrics metrics, CancellationToken cancellationToken)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        return new RunningPerformance(job, metrics, Task.Run(() => job.RunAsync(stop.Token), CancellationToken.None), stop);
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        await run;
        stop.Dispose();
        Metrics.Dispose();
    }
}
