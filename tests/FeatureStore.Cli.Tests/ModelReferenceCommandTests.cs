using System.Globalization;
using System.Text.Json;
using FeatureStore.Core.Performance;
using FeatureStore.Testing;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Cli.Tests;

/// <summary>`featurestore model register|reference|show` with a reference performance, against a real redis-server.</summary>
[Trait("Category", "Integration")]
public sealed class ModelReferenceCommandTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private const string Repository = """
        project: refs
        entities:
          - name: user
            join_keys: [user_id]
        sources:
          - name: orders
            kafka: { topic: orders }
            timestamp_field: ts
            fields: { user_id: string, amount: double, ts: timestamp }
        feature_views:
          - name: user_orders
            entity: user
            source: orders
            ttl: 1d
            features:
              - { name: order_count_1h, aggregation: count, window: 1h }
        models:
          - name: fraud
            prediction:
              topic: predictions
              id_field: prediction_id
              fields: { prediction_id: string, score: double, merchant_category: string }
            labels: { topic: labels, id_field: prediction_id, label_field: is_fraud, horizon: 7d }
            performance:
              - task: binary_classification
                score: score
                threshold: 0.4
                window: 1h
                metrics: [{ metric: roc_auc, max_drop: 0.05 }]
            versions:
              - { version: v1, features: [user_orders] }
              - { version: v2, features: [user_orders] }
              - { version: v3, features: [user_orders] }
        """;

    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..8];
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fs-model-reference-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Delete(recursive: true);

    private string[] Store(params string[] args) => [.. args, "--redis", redis.Connection.Endpoint, "--key-prefix", _prefix];

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public async Task A_version_registered_with_a_validation_file_shows_its_metrics_and_band_and_a_metrics_file_replaces_them()
    {
        var repo = PathOf("featurestore.yaml");
        await File.WriteAllTextAsync(repo, Repository, Ct);
        var random = new Random(17);
        var labels = Enumerable.Range(0, 2000).Select(_ => random.NextDouble() < 0.25).ToArray();
        var scores = labels.Select(l => Math.Round(Math.Clamp((l ? 0.65 : 0.35) + (random.NextDouble() - 0.5) * 0.8, 0, 1), 3)).ToArray();
        var validation = PathOf("validation.parquet");
        var scoreField = new DataField<double>("score");
        var labelField = new DataField<bool>("is_fraud");
        await using (var stream = File.Create(validation))
        {
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(scoreField, labelField), stream, cancellationToken: Ct);
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<double>(scoreField, scores.AsMemory(), cancellationToken: Ct);
            await group.WriteAsync<bool>(labelField, labels.AsMemory(), cancellationToken: Ct);
        }

        // The columns, task and threshold (0.4) come from the performance monitor and the labels.
        var (code, output, error) = await CliRun.RunAsync(Store("model", "register", "-f", repo, "-m", "fraud", "-v", "v1", "--validation", validation));
        Assert.True(code == 0, error);
        Assert.Contains($"reference binary_classification from {validation} (2000 rows)", output, StringComparison.Ordinal);

        var expected = PerformanceMetrics.ToDictionary(BinaryClassificationWindow.Of(scores, labels, 0.4));
        (code, output, error) = await CliRun.RunAsync(Store("model", "show", "-f", repo, "-m", "fraud", "-v", "v1", "--json"));
        Assert.True(code == 0, error);
        var reference = JsonDocument.Parse(output).RootElement.GetProperty("reference");
        Assert.Equal("binary_classification", reference.GetProperty("task").GetString());
        Assert.Equal(2000, reference.GetProperty("count").GetInt64());
        foreach (var (metric, value) in expected)
        {
            Assert.Equal(value, reference.GetProperty("metrics").GetProperty(metric).GetDouble());
        }

        var estimate = reference.GetProperty("estimate");
        Assert.Equal((0.4, 100, 20, true), (estimate.GetProperty("threshold").GetDouble(), estimate.GetProperty("chunk_size").GetInt32(), estimate.GetProperty("chunks").GetInt32(), estimate.GetProperty("band").GetBoolean()));

        (code, output, _) = await CliRun.RunAsync(Store("model", "show", "--project", "refs", "-m", "fraud", "-v", "v1"));
        Assert.Equal(0, code);
        Assert.Contains("estimate band: yes (20 chunks of 100, threshold 0.4)", output, StringComparison.Ordinal);
        Assert.Contains("roc_auc " + expected["roc_auc"].ToString("0.####", CultureInfo.InvariantCulture), output, StringComparison.Ordinal);

        // `model reference` replaces it with given metrics: no rows, no estimate.
        var metrics = PathOf("metrics.json");
        await File.WriteAllTextAsync(metrics, """{ "roc_auc": 0.91, "log_loss": 0.3 }""", Ct);
        (code, output, error) = await CliRun.RunAsync(Store("model", "reference", "-f", repo, "-m", "fraud", "-v", "v1", "--metrics", metrics));
        Assert.True(code == 0, error);
        Assert.Contains("metrics:       roc_auc 0.91, log_loss 0.3", output, StringComparison.Ordinal);
        Assert.Contains("estimate band: none", output, StringComparison.Ordinal);
        reference = JsonDocument.Parse((await CliRun.RunAsync(Store("model", "show", "--project", "refs", "-m", "fraud", "-v", "v1", "--json"))).Out).RootElement.GetProperty("reference");
        Assert.Equal(["log_loss", "roc_auc"], reference.GetProperty("metrics").EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal(JsonValueKind.Null, reference.GetProperty("estimate").ValueKind);
        Assert.Equal(JsonValueKind.Null, reference.GetProperty("count").ValueKind);
    }

    [Fact]
    public async Task Bad_reference_input_is_a_usage_error_naming_the_file_and_registers_nothing()
    {
        var repo = PathOf("featurestore.yaml");
        await File.WriteAllTextAsync(repo, Repository, Ct);
        var csv = PathOf("validation.csv");
        await File.WriteAllLinesAsync(csv, ["score,is_fraud,other", "0.1,0,a", "0.8,1,b", "0.3,maybe,c"], Ct);

        async Task<string> UsageError(params string[] args)
        {
            var (code, _, error) = await CliRun.RunAsync(Store(args));
            Assert.True(code == 2, $"exit {code}: {error}");
            return error;
        }

        var missing = PathOf("nope.parquet");
        Assert.Contains($"{missing}: no such file", await UsageError("model", "register", "-f", repo, "-m", "fraud", "-v", "v2", "--validation", missing), StringComparison.Ordinal);
        Assert.Contains($"{csv}: no score column 'prob' (columns: score, is_fraud, other)",
            await UsageError("model", "register", "-f", repo, "-m", "fraud", "-v", "v2", "--validation", csv, "--score-column", "prob"), StringComparison.Ordinal);
        Assert.Contains($"{csv}: row 3: label 'maybe' in column 'is_fraud' is not a bool or 0/1",
            await UsageError("model", "register", "-f", repo, "-m", "fraud", "-v", "v2", "--validation", csv), StringComparison.Ordinal);
        Assert.Contains($"{csv}: no label column 'y'",
            await UsageError("model", "register", "-f", repo, "-m", "fraud", "-v", "v2", "--validation", csv, "--label-column", "y"), StringComparison.Ordinal);
        var metrics = PathOf("metrics.json");
        await File.WriteAllTextAsync(metrics, """{ "auc": 0.9 }""", Ct);
        Assert.Contains("known metrics: roc_auc,", await UsageError("model", "register", "-f", repo, "-m", "fraud", "-v", "v2", "--metrics", metrics), StringComparison.Ordinal);
        await UsageError("model", "register", "-f", repo, "-m", "fraud", "-v", "v2", "--metrics", metrics, "--validation", csv);

        // None of those registered v2.
        Assert.Equal(1, (await CliRun.RunAsync(Store("model", "show", "--project", "refs", "-m", "fraud", "-v", "v2"))).Code);

        // Registered without a reference: shown as none; `model reference` needs a registered version and a file.
        var (code, output, error) = await CliRun.RunAsync(Store("model", "register", "-f", repo, "-m", "fraud", "-v", "v3"));
        Assert.True(code == 0, error);
        Assert.Contains("reference none", output, StringComparison.Ordinal);
        Assert.Contains("reference:       -", (await CliRun.RunAsync(Store("model", "show", "--project", "refs", "-m", "fraud", "-v", "v3"))).Out, StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse((await CliRun.RunAsync(Store("model", "show", "--project", "refs", "-m", "fraud", "-v", "v3", "--json"))).Out).RootElement.GetProperty("reference").ValueKind);
        await UsageError("model", "reference", "-f", repo, "-m", "fraud", "-v", "v3");
        await File.WriteAllTextAsync(metrics, """{ "roc_auc": 0.9 }""", Ct);
        Assert.Equal(1, (await CliRun.RunAsync(Store("model", "reference", "-f", repo, "-m", "fraud", "-v", "v9", "--metrics", metrics))).Code);
        Assert.Equal(0, (await CliRun.RunAsync(Store("model", "reference", "-f", repo, "-m", "fraud", "-v", "v3", "--metrics", metrics))).Code);
    }
}
