using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Job;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Monitor.Tests;

/// <summary>A small repository with one monitored model, and generated prediction streams.</summary>
internal static class MonitorScenario
{
    public const int Window = 400;

    // The tests (ks, chi2) run at a significance level of 0.001, not the default 0.05: windows drawn from the training
    // distribution must never drift, and at 0.05 one window in twenty would (which windows the events fall into varies
    // with how the consumer interleaves the partitions). A shift of three standard deviations still gives p ≈ 0.

    public static FeatureRepository Repository(string topic, string webhookUrl, string secretEnv, string? window = null, string segmentMethods = "[{ method: chi2, threshold: 0.001 }]", Func<string, string>? edit = null)
    {
        window ??= $"count: {Window}";
        var yaml = $"""
            project: drift_{topic.Replace('-', '_')}
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
                    segment: string
                    event_time: timestamp
                versions:
                  - version: v1
                    features: [user_txn:amount]
                monitors:
                  - column: score
                    methods: [psi, {"{"} method: ks, threshold: 0.001 {"}"}]
                    window: {"{"} {window} {"}"}
                    alert: hook
                  - column: segment
                    methods: {segmentMethods}
                    window: {"{"} count: {Window} {"}"}
            alerts:
              webhooks:
                - name: hook
                  url: {webhookUrl}
                  secret_env: {secretEnv}
                  cooldown: 1s
            """;
        var result = FeatureRepositoryLoader.LoadFromText(edit?.Invoke(yaml) ?? yaml, "test.yaml");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Repository!;
    }

    public static ModelDefinition Model(FeatureRepository repository) => repository.Models[0];

    /// <summary>The environment variable named as the webhook's secret; <see cref="Options"/> answers it.</summary>
    public const string SecretEnv = "FS_TEST_SECRET_UNUSED";

    /// <summary>The v1 baseline: 5 000 training scores around 0.3 (seed 1), and their segments.</summary>
    public static ModelBaseline Baseline(FeatureRepository repository)
    {
        var training = Scores(seed: 1, count: 5000, mean: 0.3).ToArray();
        var table = new Dictionary<string, ValueColumn>
        {
            ["score"] = new("score", training, null),
            ["segment"] = new("segment", null, [.. training.Select(s => s > 0.3 ? "high" : "low")]),
        };
        return BaselineComputer.Compute(Model(repository), "v1", "training.parquet", 0, table);
    }

    /// <summary>A monitor's options for tests: quick polls and retries, <paramref name="secret"/> as the webhook's secret.</summary>
    public static MonitorOptions Options(string bootstrapServers, string group, string secret, string? historyDirectory = null) => new()
    {
        BootstrapServers = bootstrapServers,
        GroupId = group,
        SessionTimeout = TimeSpan.FromSeconds(6),
        Secrets = name => name == SecretEnv ? secret : null,
        OutboxPollInterval = TimeSpan.FromMilliseconds(100),
        RedeliveryDelay = TimeSpan.FromMilliseconds(200),
        MaxRedeliveryDelay = TimeSpan.FromSeconds(1),
        WebhookRetryDelay = TimeSpan.FromMilliseconds(20),
        HistoryDirectory = historyDirectory,
    };

    /// <summary>Normal scores (Box–Muller on a seeded generator), so every run sees the same values.</summary>
    public static IEnumerable<double> Scores(int seed, int count, double mean, double sd = 0.1)
    {
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var u1 = 1.0 - random.NextDouble();
            var u2 = random.NextDouble();
            yield return mean + (sd * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
    }

    public static void Produce(IProducer<string, string> producer, string topic, IEnumerable<double> scores, long startMs)
    {
        var t = startMs;
        foreach (var score in scores)
        {
            var json = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model_version"] = "v1",
                ["event_time"] = t++,
                ["score"] = score,
                ["segment"] = score > 0.3 ? "high" : "low",
            });
            producer.Produce(topic, new Message<string, string> { Key = t.ToString(CultureInfo.InvariantCulture), Value = json });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
    }
}
