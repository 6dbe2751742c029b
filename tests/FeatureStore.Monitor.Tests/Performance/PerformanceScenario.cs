using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Performance;

namespace FeatureStore.Monitor.Tests.Performance;

/// <summary>A model with labels and a segmented performance monitor, and calibrated synthetic streams for it.</summary>
internal static class PerformanceScenario
{
    /// <summary>2026-01-01T00:00:00Z, a window start.</summary>
    public const long T0 = 1_767_225_600_000;

    public const long WindowMs = 60_000;

    public const long HorizonMs = 30_000;

    /// <summary>How long after its prediction a label becomes known.</summary>
    public const long LabelDelayMs = 5_000;

    /// <summary>
    /// The repository <see cref="Repository"/> builds, as the text of its file (<c>labels:</c> and <c>performance:</c>
    /// declared), for the processes that read it.
    /// </summary>
    public static string Yaml(string topic, string labelsTopic, string webhookUrl, string secretEnv, int minSamples = 100) =>
        Base(topic, webhookUrl, secretEnv).Replace("    versions:\n", $$"""
              id_field: prediction_id
            labels:
              topic: {{labelsTopic}}
              id_field: prediction_id
              label_field: is_positive
              timestamp_field: labelled_at
              horizon: 30s
            performance:
              - task: binary_classification
                score: score
                threshold: 0.5
                window: 1m
                metrics:
                  - { metric: roc_auc, min: 0.6 }
                estimate: true
                segment_by: country
                segments: 10
                min_samples: {{minSamples}}
                alert: hook
            versions:

        """.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);

    public static FeatureRepository Repository(string topic, string labelsTopic, string webhookUrl, int minSamples = 100)
    {
        var result = FeatureRepositoryLoader.LoadFromText(Base(topic, webhookUrl, Monitor.Tests.MonitorScenario.SecretEnv), "test.yaml");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var repository = result.Repository!;
        var model = repository.Models[0];
        model = model with
        {
            Prediction = model.Prediction with { IdField = "prediction_id" },
            Labels = new LabelsDefinition(labelsTopic, labelsTopic + ".dlq", "prediction_id", "is_positive", "labelled_at", HorizonMs, null),
            Performance =
            [
                new PerformanceMonitorDefinition(
                    PerformanceTask.BinaryClassification, "score", 0.5, WindowMs, [new MetricThreshold("roc_auc", 0.6, null, null)],
                    Estimate: true, SegmentBy: "country", Segments: 10, MinSamples: minSamples, Alert: "hook"),
            ],
        };
        return repository with { Models = [model] };
    }

    private static string Base(string topic, string webhookUrl, string secretEnv)
    {
        return $"""
            project: perf_{topic.Replace('-', '_')}
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
              - name: ranker
                prediction:
                  topic: {topic}
                  timestamp_field: event_time
                  fields:
                    prediction_id: string
                    score: double
                    country: string
                    event_time: timestamp
                versions:
                  - version: v1
                    features: [user_txn:amount]
            alerts:
              webhooks:
                - name: hook
                  url: {webhookUrl}
                  secret_env: {secretEnv}
                  cooldown: 1s

            """;
    }

    public sealed record Prediction(string Id, long TimeMs, double Score, string Country);

    public sealed record Label(string Id, long TimeMs, bool Positive);

    /// <summary>
    /// Calibrated predictions, <paramref name="count"/> evenly over the window starting at <paramref name="startMs"/>:
    /// scores σ(N(−0.5, 1.5²)), countries a and b at random.
    /// </summary>
    public static List<Prediction> Predictions(int seed, long startMs, int count)
    {
        var random = new Random(seed);
        var result = new List<Prediction>(count);
        for (var i = 0; i < count; i++)
        {
            result.Add(new Prediction($"w{startMs}-{i}", startMs + (i * WindowMs / count), Score(random), random.Next(2) == 0 ? "a" : "b"));
        }

        return result;
    }

    /// <summary>Labels drawn from the scores (Bernoulli(score)), <see cref="LabelDelayMs"/> after each prediction; flipped where <paramref name="flip"/> says.</summary>
    public static List<Label> Labels(int seed, IEnumerable<Prediction> predictions, Func<Prediction, bool>? flip = null)
    {
        var random = new Random(seed);
        return [.. predictions.Select(p =>
        {
            var positive = random.NextDouble() < p.Score;
            return new Label(p.Id, p.TimeMs + LabelDelayMs, flip?.Invoke(p) == true ? !positive : positive);
        })];
    }

    /// <summary>A version's reference: realized metrics and the estimation's calibration and band, from 20 000 labelled draws.</summary>
    public static ReferencePerformance Reference(string model, string version)
    {
        var random = new Random(99);
        var scores = new double[20_000];
        var labels = new bool[scores.Length];
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = Score(random);
            labels[i] = random.NextDouble() < scores[i];
        }

        var metrics = PerformanceMetrics.ToDictionary(BinaryClassificationWindow.Of(scores, labels));
        return new ReferencePerformance(model, version, PerformanceTask.BinaryClassification, metrics, scores.Length, "validation.parquet", CbpeReference.Fit(scores, labels, chunkSize: 500));
    }

    /// <summary>Logs <paramref name="predictions"/> as <paramref name="version"/>'s, or with no model_version when it is null (the production version's).</summary>
    public static void Produce(IProducer<string, string> producer, string topic, IEnumerable<Prediction> predictions, string? version = "v1")
    {
        foreach (var p in predictions)
        {
            var fields = new Dictionary<string, object>
            {
                ["prediction_id"] = p.Id,
                ["event_time"] = p.TimeMs,
                ["score"] = p.Score,
                ["country"] = p.Country,
            };
            if (version is not null)
            {
                fields["model_version"] = version;
            }

            var json = JsonSerializer.Serialize(fields);
            producer.Produce(topic, new Message<string, string> { Key = p.Id, Value = json });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
    }

    public static void Produce(IProducer<string, string> producer, string topic, IEnumerable<Label> labels)
    {
        foreach (var l in labels)
        {
            var json = $$"""{"prediction_id":"{{l.Id}}","is_positive":{{(l.Positive ? "true" : "false")}},"labelled_at":{{l.TimeMs.ToString(CultureInfo.InvariantCulture)}}}""";
            producer.Produce(topic, new Message<string, string> { Key = l.Id, Value = json });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
    }

    private static double Score(Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        var z = -0.5 + (1.5 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        return 1 / (1 + Math.Exp(-z));
    }
}
