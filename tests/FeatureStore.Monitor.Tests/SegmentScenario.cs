using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Monitor.Tests;

/// <summary>
/// A model whose score monitor is split by the prediction's <c>region</c> (segment_by), its baseline, and
/// predictions with their region.
/// </summary>
internal static class SegmentScenario
{
    /// <summary>A repository with one model, <c>scorer</c> v1, monitoring <c>score</c> with <paramref name="methods"/>, segmented by <c>region</c>.</summary>
    public static FeatureRepository Repository(string topic, string webhookUrl, string window, int segments = 10, string methods = "[psi]")
    {
        var yaml = $"""
            project: segments_{topic.Replace('-', '_')}
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
                    region: string
                    event_time: timestamp
                versions:
                  - version: v1
                    features: [user_txn:amount]
                monitors:
                  - column: score
                    methods: {methods}
                    window: {"{"} {window} {"}"}
                    segment_by: region
                    segments: {segments}
                    alert: hook
            alerts:
              webhooks:
                - name: hook
                  url: {webhookUrl}
                  secret_env: {MonitorScenario.SecretEnv}
                  cooldown: 1s
            """;
        var result = FeatureRepositoryLoader.LoadFromText(yaml, "test.yaml");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var monitor = result.Repository!.Models[0].Monitors[0];
        Assert.Equal(("region", segments), (monitor.SegmentBy, monitor.Segments));
        return result.Repository;
    }

    /// <summary>The v1 baseline: 5 000 training scores around 0.3 (seed 1).</summary>
    public static ModelBaseline Baseline(FeatureRepository repository)
    {
        var training = MonitorScenario.Scores(seed: 1, count: 5000, mean: 0.3).ToArray();
        return BaselineComputer.Compute(repository.Models[0], "v1", "training.parquet", 0, new Dictionary<string, ValueColumn> { ["score"] = new("score", training, null) });
    }

    /// <summary>One prediction as JSON; <paramref name="region"/> null leaves the field out.</summary>
    public static string Prediction(long timeMs, double score, string? region)
    {
        var fields = new Dictionary<string, object>
        {
            ["model_version"] = "v1",
            ["event_time"] = timeMs,
            ["score"] = score,
        };
        if (region is not null)
        {
            fields["region"] = region;
        }

        return JsonSerializer.Serialize(fields);
    }

    /// <summary>Round-robin interleaving of several regions' scores, each keeping its order.</summary>
    public static List<(string? Region, double Score)> Interleave(params (string Region, IEnumerable<double> Scores)[] regions)
    {
        var queues = regions.Select(r => (r.Region, Scores: new Queue<double>(r.Scores))).ToList();
        var result = new List<(string?, double)>();
        while (queues.Any(q => q.Scores.Count > 0))
        {
            foreach (var (region, scores) in queues)
            {
                if (scores.TryDequeue(out var score))
                {
                    result.Add((region, score));
                }
            }
        }

        return result;
    }

    /// <summary>Produces <paramref name="predictions"/> to <paramref name="topic"/> in order, one millisecond apart from <paramref name="startMs"/>.</summary>
    public static void Produce(IProducer<string, string> producer, string topic, IEnumerable<(string? Region, double Score)> predictions, long startMs)
    {
        var t = startMs;
        foreach (var (region, score) in predictions)
        {
            producer.Produce(topic, new Message<string, string> { Key = t.ToString(CultureInfo.InvariantCulture), Value = Prediction(t++, score, region) });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
    }
}
