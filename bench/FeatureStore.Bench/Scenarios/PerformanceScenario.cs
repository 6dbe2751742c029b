using System.Diagnostics;
using System.Globalization;
using System.Text;
using FeatureStore.Bench.Harness;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Performance;
using FeatureStore.Kafka.Embedded;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Performance;
using FeatureStore.Redis.Drift;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// The performance job end to end: a backlog of predictions and their labels (each topic 8 partitions) from the
/// embedded broker through parsing, the label join script, the windows of a segmented classifier's monitor with
/// the estimate, evaluation, history and incidents in the online store; timed from the job's start until every
/// label is joined and every window evaluated, and from the first record read (a new consumer group's join waits for
/// the broker's initial rebalance delay, about 3 s on the embedded broker as on Apache Kafka's defaults, once per
/// start). Against the raw consume rate of the prediction topic alone (assigned, no group), and of both topics.
/// </summary>
internal static class PerformanceScenario
{
    private const long T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(string store, EmbeddedKafkaCluster cluster, IDatabase db, int predictions, int repetitions)
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var topic = $"bench-predictions-{id}";
        var labelsTopic = $"bench-labels-{id}";
        var repository = FeatureRepositoryLoader.LoadFromText(Yaml(topic, labelsTopic), "bench.yaml").Repository
            ?? throw new InvalidOperationException("the bench repository does not load");
        cluster.CreateTopic(topic, RawKafkaScenario.Partitions);
        cluster.CreateTopic(labelsTopic, RawKafkaScenario.Partitions);
        cluster.CreateTopic(topic + ".dlq", 1);
        cluster.CreateTopic(labelsTopic + ".dlq", 1);

        // Calibrated scores over ten hours of event time (ten windows), each labelled 5 minutes after it.
        var random = new Random(17);
        var span = 10 * 3_600_000L;
        var predictionPayloads = new byte[predictions][];
        var labelPayloads = new byte[predictions][];
        string[] segments = ["grocery", "travel", "electronics", "fashion"];
        for (var i = 0; i < predictions; i++)
        {
            var t = T0 + (i * span / predictions);
            var z = -1.5 + (1.5 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
            var score = 1 / (1 + Math.Exp(-z));
            var positive = random.NextDouble() < score;
            predictionPayloads[i] = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $$"""{"transaction_id":"t{{i}}","model_version":"v1","event_time":{{t}},"score":{{score}},"merchant_category":"{{segments[i % 4]}}"}"""));
            labelPayloads[i] = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $$"""{"transaction_id":"t{{i}}","is_fraud":{{(positive ? "true" : "false")}},"labelled_at":{{t + 300_000}}}"""));
        }

        // The last window closes when the labels pass its end + horizon: one more prediction and label after it.
        var closer = predictions;
        RawKafkaScenario.Produce(cluster.BootstrapServers, topic, [.. predictionPayloads, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $$"""{"transaction_id":"t{{closer}}","model_version":"v1","event_time":{{T0 + span + 3_600_000}},"score":0.5,"merchant_category":"grocery"}"""))]);
        RawKafkaScenario.Produce(cluster.BootstrapServers, labelsTopic, [.. labelPayloads, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $$"""{"transaction_id":"t{{closer}}","is_fraud":false,"labelled_at":{{T0 + span + 3_600_001}}}"""))]);
        var total = predictions + 1;

        var rawPredictions = await Measure.MedianRateAsync(repetitions, _ => Task.FromResult(RawKafkaScenario.ConsumeAll(cluster.BootstrapServers, topic, total)));
        var rawBoth = await Measure.MedianRateAsync(repetitions, _ => Task.FromResult(
            RawKafkaScenario.ConsumeAll(cluster.BootstrapServers, topic, total) + RawKafkaScenario.ConsumeAll(cluster.BootstrapServers, labelsTopic, total)));
        var reference = Reference();
        var endToEnd = new List<double>();
        var steady = new List<double>();
        for (var rep = 0; rep < Math.Min(repetitions, 3); rep++)
        {
            var (whole, joined) = await RunJobAsync(repository, cluster, db, reference, total);
            endToEnd.Add(total / whole.TotalSeconds);
            steady.Add(total / joined.TotalSeconds);
        }

        return
        [
            new($"performance ({store})", $"end to end: group join, Kafka → label join → 1 segmented monitor with estimate → history, {predictions / 1000}k predictions + labels", Measure.Median(endToEnd), "predictions/s", "raw consume, prediction topic", rawPredictions),
            new($"performance ({store})", "the same from the first record read (the group join left out)", Measure.Median(steady), "predictions/s", "raw consume, prediction topic", rawPredictions),
            new($"performance ({store})", "the same from the first record read, against both topics", Measure.Median(steady), "predictions/s", "raw consume, both topics (predictions/s)", rawBoth / 2),
        ];
    }

    // One run on a fresh key prefix and consumer group: its whole time, and its time from the first record read,
    // until every label is joined and every window evaluated.
    private static async Task<(TimeSpan Whole, TimeSpan FromFirstRecord)> RunJobAsync(FeatureRepository repository, EmbeddedKafkaCluster cluster, IDatabase db, ReferencePerformance reference, int total)
    {
        var prefix = $"bench{Guid.NewGuid():N}"[..13];
        var performance = new PerformanceStore(db, new DriftKeys(prefix, repository.Project));
        await performance.SaveReferenceAsync(reference);
        using var metrics = MonitorMetrics.ForPerformance();
        var stages = new StageTimings();
        var job = new PerformanceJob(repository, db, prefix, new MonitorOptions
        {
            BootstrapServers = cluster.BootstrapServers,
            GroupId = $"bench-{Guid.NewGuid():N}",
            SessionTimeout = TimeSpan.FromSeconds(6),
            Stages = stages,
        }, metrics, NullLogger.Instance);
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var storeCpu = IngestScenario.StoreCpu();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var firstRecord = TimeSpan.Zero;
        var run = job.RunAsync(stop.Token);
        LabelCounts counts;
        var windows = 0;
        while (((counts = await performance.LabelCountsAsync("fraud_detector")).Joined < total
                || (windows = (await performance.HistoryAsync("fraud_detector", "v1")).Count(h => h.Segment is null)) < 10)
            && !stop.IsCancellationRequested)
        {
            if (firstRecord == TimeSpan.Zero && metrics.Predictions > 0)
            {
                firstRecord = clock.Elapsed;
            }

            await Task.Delay(10);
        }

        var whole = clock.Elapsed;
        await stop.CancelAsync();
        await run;
        if (counts.Joined < total || windows < 10)
        {
            throw new InvalidOperationException($"the job joined {counts} and evaluated {windows} windows of 10 within 5 minutes");
        }

        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  performance run: {whole.TotalMilliseconds:F0} ms, first record at {firstRecord.TotalMilliseconds:F0} ms; {stages}; CPU {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds:F0} ms (this process), {IngestScenario.StoreCpu() - storeCpu:F0} ms (redis-server)"));
        return (whole, whole - firstRecord);
    }

    private static ReferencePerformance Reference()
    {
        var random = new Random(5);
        var scores = new double[20_000];
        var labels = new bool[scores.Length];
        for (var i = 0; i < scores.Length; i++)
        {
            var z = -1.5 + (1.5 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
            scores[i] = 1 / (1 + Math.Exp(-z));
            labels[i] = random.NextDouble() < scores[i];
        }

        var metrics = PerformanceMetrics.ToDictionary(BinaryClassificationWindow.Of(scores, labels));
        return new ReferencePerformance("fraud_detector", "v1", PerformanceTask.BinaryClassification, metrics, scores.Length, "bench", CbpeReference.Fit(scores, labels, chunkSize: 1000));
    }

    private static string Yaml(string topic, string labelsTopic) => $"""
        project: bench_performance
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
          - name: fraud_detector
            prediction:
              topic: {topic}
              timestamp_field: event_time
              id_field: transaction_id
              fields:
                transaction_id: string
                score: double
                merchant_category: string
                event_time: timestamp
            labels:
              topic: {labelsTopic}
              id_field: transaction_id
              label_field: is_fraud
              timestamp_field: labelled_at
              horizon: 30m
            performance:
              - task: binary_classification
                score: score
                threshold: 0.5
                window: 1h
                metrics:
                  - {"{"} metric: roc_auc, max_drop: 0.1 {"}"}
                estimate: true
                segment_by: merchant_category
                segments: 10
                min_samples: 100
            versions:
              - version: v1
                features: [user_txn:amount]

        """;
}
