using System.Text;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Internal;
using FeatureStore.Monitor.Job;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Monitor.Tests;

/// <summary>Signing, baseline files and prediction parsing, without services.</summary>
public sealed class MonitorUnitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Signatures_are_hmac_sha256_of_the_body()
    {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        Assert.Equal("sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            WebhookSender.Sign(Encoding.ASCII.GetBytes("what do ya want for nothing?"), "Jefe"));
    }

    [Fact]
    public async Task A_baseline_reads_parquet_numbers_and_text_and_csv_alike()
    {
        var model = MonitorScenario.Model(MonitorScenario.Repository("unit", "http://127.0.0.1:1/alerts", "X"));
        var dir = Directory.CreateTempSubdirectory("fs-baseline-");
        try
        {
            var parquet = Path.Combine(dir.FullName, "train.parquet");
            var csv = Path.Combine(dir.FullName, "train.csv");
            var scores = MonitorScenario.Scores(seed: 1, count: 3000, mean: 0.3).ToArray();
            var segments = scores.Select(s => s > 0.3 ? "high" : "low").ToArray();
            var scoreField = new DataField<double>("score");
            var segmentField = new DataField<string>("segment");
            await using (var stream = File.Create(parquet))
            {
                await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(scoreField, segmentField), stream, cancellationToken: Ct);
                using var group = writer.CreateRowGroup();
                await group.WriteAsync<double>(scoreField, scores.AsMemory(), cancellationToken: Ct);
                await group.WriteAsync(segmentField, segments);
            }

            await File.WriteAllLinesAsync(csv, ["score,segment", .. scores.Select((s, i) => FormattableString.Invariant($"{s:R},{segments[i]}"))], Ct);

            var fromParquet = await BaselineComputer.ComputeAsync(model, "v1", parquet, 0, Ct);
            var fromCsv = await BaselineComputer.ComputeAsync(model, "v1", csv, 0, Ct);

            Assert.Equal(3000, fromParquet.Columns["score"].Numeric!.Count);
            Assert.Equal(9, fromParquet.Columns["score"].Numeric!.Edges.Length);
            Assert.Equal(["high", "low"], fromParquet.Columns["segment"].Categorical!.Categories.Order());
            Assert.Equal(fromParquet.Id, fromCsv.Id);
            Assert.Contains("psi", fromParquet.Columns["score"].LearnedThresholds.Keys);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_missing_column_is_reported_by_name()
    {
        var model = MonitorScenario.Model(MonitorScenario.Repository("unit", "http://127.0.0.1:1/alerts", "X"));
        var csv = Path.GetTempFileName() + ".csv";
        try
        {
            await File.WriteAllLinesAsync(csv, ["score,other", "0.1,a"], Ct);
            var ex = await Assert.ThrowsAsync<BaselineException>(() => BaselineComputer.ComputeAsync(model, "v1", csv, 0, Ct));
            Assert.Contains("no column 'segment'", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(csv);
        }
    }

    [Theory]
    [InlineData("""[1]""", "malformed_json")]
    [InlineData("""{"model_version":"v9","event_time":1,"score":0.1,"segment":"a"}""", "unknown_version")]
    [InlineData("""{"model_version":"v1","score":0.1,"segment":"a"}""", "missing_timestamp")]
    [InlineData("""{"model_version":"v1","event_time":"yesterday","score":0.1,"segment":"a"}""", "invalid_timestamp")]
    [InlineData("""{"model_version":"v1","event_time":1,"segment":"a"}""", "missing_field")]
    [InlineData("""{"model_version":"v1","event_time":1,"score":"high","segment":"a"}""", "wrong_type")]
    [InlineData("""{"model":"other","event_time":1,"score":0.1,"segment":"a"}""", "unknown_model")]
    public void Malformed_predictions_are_rejected_with_their_reason(string json, string reason)
    {
        var model = MonitorScenario.Model(MonitorScenario.Repository("unit", "http://127.0.0.1:1/alerts", "X"));
        using var document = JsonDocument.Parse(json);
        var rejection = PredictionReader.Read(document.RootElement, [model], out _, out _, out _);
        Assert.Equal(reason, rejection?.Reason);
    }

    [Fact]
    public void A_well_formed_prediction_names_its_version_and_time()
    {
        var model = MonitorScenario.Model(MonitorScenario.Repository("unit", "http://127.0.0.1:1/alerts", "X"));
        using var document = JsonDocument.Parse("""{"model_version":"v1","event_time":"2026-11-28T10:00:00Z","score":0.1,"segment":"a","user_txn__amount":3}""");
        Assert.Null(PredictionReader.Read(document.RootElement, [model], out _, out var version, out var time));
        Assert.Equal("v1", version);
        Assert.Equal(DateTimeOffset.Parse("2026-11-28T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), time);
    }

    [Fact]
    public void Column_names_follow_the_export()
    {
        Assert.Equal("user_txn_stats__amount_mean_24h", MonitorColumns.TableName("user_txn_stats:amount_mean_24h"));
        Assert.Equal(0.2, MonitorColumns.Threshold(new MonitorMethod("psi", null), null, useLearned: true));
        Assert.Equal(0.05, MonitorColumns.Threshold(new MonitorMethod("ks", null), null, useLearned: false));
        Assert.Equal(0.3, MonitorColumns.Threshold(new MonitorMethod("wasserstein", 0.3), null, useLearned: true));
    }

    [Fact]
    public void Table_column_counts_drop_missing_values()
    {
        Assert.Equal(2, new TableColumn("x", [1.0, 2.0], null).Count);
    }
}

/// <summary><c>threshold: learned</c> in the repository file.</summary>
public sealed class LearnedThresholdUnitTests
{
    private static LoadResult Load(string threshold)
    {
        var text = File.ReadAllText(FeatureStore.Testing.RepositoryPaths.FraudExample)
            .Replace("{ method: wasserstein, threshold: 0.3 }", $"{{ method: wasserstein, threshold: {threshold} }}", StringComparison.Ordinal);
        return FeatureRepositoryLoader.LoadFromText(text, "featurestore.yaml");
    }

    [Fact]
    public void A_learned_threshold_is_read_and_used_from_the_baseline()
    {
        var result = Load("learned");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var method = result.Repository!.Models[0].Monitors.Single(m => m.Column == "user_txn_stats:amount_mean_24h").Methods.Single(m => m.Name == "wasserstein");
        Assert.True(method.Learned);
        Assert.Null(method.Threshold);

        var column = new ColumnBaseline("user_txn_stats:amount_mean_24h", null, null, new Dictionary<string, double> { ["wasserstein"] = 0.07 });
        Assert.Equal(0.07, MonitorColumns.Threshold(method, column, useLearned: false));
        Assert.Equal(0.1, MonitorColumns.Threshold(method with { Learned = false }, column, useLearned: false));
    }

    [Fact]
    public void Any_other_word_is_an_error()
    {
        var result = Load("lots");
        Assert.False(result.Success);
        Assert.Contains(result.Diagnostics, d => d.ToString().Contains("FS0125", StringComparison.Ordinal));
    }
}
