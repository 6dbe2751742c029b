using System.Globalization;
using System.Text;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Internal;
using FeatureStore.Monitor.Job;
using FeatureStore.Parquet.Tables;
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

    [Fact]
    public async Task Nan_and_infinities_are_counted_and_left_out_and_the_column_stays_numeric_in_csv_and_parquet()
    {
        var model = MonitorScenario.Model(MonitorScenario.Repository("unit", "http://127.0.0.1:1/alerts", "X"));
        var dir = Directory.CreateTempSubdirectory("fs-baseline-");
        try
        {
            var scores = MonitorScenario.Scores(seed: 1, count: 3000, mean: 0.3).ToList();
            var written = scores.Select(s => s.ToString("R", CultureInfo.InvariantCulture)).ToList();

            // As numpy and pandas write them (nan, inf, -inf), and as .NET does (NaN, -Infinity).
            written.InsertRange(10, ["nan", "inf", "-inf", "NaN", "-Infinity"]);
            scores.InsertRange(10, [double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.NaN, double.NegativeInfinity]);
            var csv = Path.Combine(dir.FullName, "train.csv");
            await File.WriteAllLinesAsync(csv, ["score,segment", .. written.Select(w => w + ",low")], Ct);
            var parquet = Path.Combine(dir.FullName, "train.parquet");
            var scoreField = new DataField<double>("score");
            var segmentField = new DataField<string>("segment");
            await using (var stream = File.Create(parquet))
            {
                await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(scoreField, segmentField), stream, cancellationToken: Ct);
                using var group = writer.CreateRowGroup();
                await group.WriteAsync<double>(scoreField, scores.ToArray().AsMemory(), cancellationToken: Ct);
                await group.WriteAsync(segmentField, scores.Select(_ => "low").ToArray());
            }

            foreach (var path in new[] { csv, parquet })
            {
                var baseline = await BaselineComputer.ComputeAsync(model, "v1", path, 0, Ct);
                using var json = JsonDocument.Parse(JsonSerializer.Serialize(baseline.Columns["score"], DriftJson.Options));
                var column = json.RootElement;
                Assert.Equal(JsonValueKind.Object, column.GetProperty("numeric").ValueKind);
                Assert.True(column.GetProperty("numeric").GetProperty("count").GetInt64() == 3000, $"{path}: {column}");
                Assert.Equal(2, column.GetProperty("non_finite").GetProperty("nan").GetInt64());
                Assert.Equal(1, column.GetProperty("non_finite").GetProperty("positive_infinity").GetInt64());
                Assert.Equal(2, column.GetProperty("non_finite").GetProperty("negative_infinity").GetInt64());

                // A clean current file is compared with it as numbers, and its own non-finite values are reported.
                var current = Path.Combine(dir.FullName, "current.csv");
                await File.WriteAllLinesAsync(current, ["score,segment", "inf,low", .. scores.Take(500).Where(double.IsFinite).Select(s => s.ToString("R", CultureInfo.InvariantCulture) + ",low")], Ct);
                var summary = await DriftReport.ComputeAsync(model, baseline, current, useLearned: false, Ct);
                using var report = JsonDocument.Parse(JsonSerializer.Serialize(summary.Columns.Single(c => c.Column == "score"), DriftJson.Options));
                Assert.Equal(495, report.RootElement.GetProperty("count").GetInt64());
                Assert.Equal(1, report.RootElement.GetProperty("non_finite").GetProperty("positive_infinity").GetInt64());
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_file_without_rows_is_refused_as_no_rows()
    {
        var model = MonitorScenario.Model(MonitorScenario.Repository("unit", "http://127.0.0.1:1/alerts", "X"));
        var dir = Directory.CreateTempSubdirectory("fs-baseline-");
        try
        {
            var header = Path.Combine(dir.FullName, "header.csv");
            await File.WriteAllLinesAsync(header, ["score,segment"], Ct);
            var empty = Path.Combine(dir.FullName, "empty.parquet");
            var scoreField = new DataField<double>("score");
            var segmentField = new DataField<string>("segment");
            await using (var stream = File.Create(empty))
            {
                await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(scoreField, segmentField), stream, cancellationToken: Ct);
            }

            var training = Path.Combine(dir.FullName, "train.csv");
            await File.WriteAllLinesAsync(training, ["score,segment", .. MonitorScenario.Scores(seed: 1, count: 500, mean: 0.3).Select(s => s.ToString("R", CultureInfo.InvariantCulture) + ",low")], Ct);
            var baseline = await BaselineComputer.ComputeAsync(model, "v1", training, 0, Ct);
            foreach (var path in new[] { header, empty })
            {
                var ex = await Assert.ThrowsAsync<BaselineException>(() => BaselineComputer.ComputeAsync(model, "v1", path, 0, Ct));
                Assert.Contains("no rows", ex.Message, StringComparison.Ordinal);
                ex = await Assert.ThrowsAsync<BaselineException>(() => DriftReport.ComputeAsync(model, baseline, path, useLearned: false, Ct));
                Assert.Contains("no rows", ex.Message, StringComparison.Ordinal);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Text_in_a_column_declared_numeric_is_refused_naming_the_column_and_row()
    {
        var model = MonitorScenario.Model(MonitorScenario.Repository("unit", "http://127.0.0.1:1/alerts", "X"));
        var csv = Path.Combine(Directory.CreateTempSubdirectory("fs-baseline-").FullName, "train.csv");
        try
        {
            await File.WriteAllLinesAsync(csv, ["score,segment", "0.1,a", "0.2,b", "high,a"], Ct);
            var ex = await Assert.ThrowsAsync<BaselineException>(() => BaselineComputer.ComputeAsync(model, "v1", csv, 0, Ct));
            Assert.Contains("'score'", ex.Message, StringComparison.Ordinal);
            Assert.Contains("train.csv:4:", ex.Message, StringComparison.Ordinal);
            Assert.Contains("'high'", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(csv)!, recursive: true);
        }
    }

    [Fact]
    public async Task A_learned_threshold_on_a_categorical_column_is_learned_from_its_training_chunks()
    {
        var model = MonitorScenario.Model(MonitorScenario.Repository("unit", "http://127.0.0.1:1/alerts", "X",
            segmentMethods: "[chi2, { method: psi, threshold: learned }, { method: hellinger, threshold: learned }]"));
        var csv = Path.Combine(Directory.CreateTempSubdirectory("fs-baseline-").FullName, "train.csv");
        try
        {
            // Four segments in a fixed rotation with some noise: 4 000 values, ten chunks of the window's 400.
            var random = new Random(5);
            string[] segments = ["a", "b", "b", "c", "c", "c", "d"];
            var rows = Enumerable.Range(0, 4000).Select(i => FormattableString.Invariant($"{random.NextDouble()},{segments[random.Next(segments.Length)]}"));
            await File.WriteAllLinesAsync(csv, ["score,segment", .. rows], Ct);

            var baseline = await BaselineComputer.ComputeAsync(model, "v1", csv, 0, Ct);
            var learned = baseline.Columns["segment"].LearnedThresholds;
            Assert.True(learned.TryGetValue("psi", out var psi), "no learned psi threshold for the categorical column");
            Assert.InRange(psi, 1e-6, 0.1); // chunks of the training data itself: far below the 0.2 default
            Assert.True(learned.ContainsKey("hellinger"));
            Assert.False(learned.ContainsKey("chi2")); // a p-value keeps its significance level

            var method = model.Monitors.Single(m => m.Column == "segment").Methods.Single(m => m.Name == "psi");
            Assert.Equal(psi, MonitorColumns.Threshold(method, baseline.Columns["segment"], useLearned: false));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(csv)!, recursive: true);
        }
    }

    [Fact]
    public void A_baseline_stored_in_the_first_format_still_loads_and_compares_with_its_sample()
    {
        // Format 1 (no "format" field) kept a numeric column's reference as "sample": sorted values, 4 of 8 training values here.
        const string stored = """
            {"id":"scorer@v1#0123456789abcdef","model":"scorer","version":"v1","created_at_ms":1,"source":"train.parquet","columns":{
              "score":{"column":"score","numeric":{"count":8,"mean":0.25,"std_dev":0.1,"edges":[0.2,0.3],"shares":[0.25,0.5,0.25],"sample":[0.1,0.2,0.2,0.4]},"categorical":null,"learned_thresholds":{"psi":0.3}},
              "segment":{"column":"segment","numeric":null,"categorical":{"count":8,"categories":["low","high"],"shares":[0.5,0.5,0]},"learned_thresholds":{}}}}
            """;

        var baseline = ModelBaseline.FromJson(stored);

        Assert.Equal(1, baseline.Format);
        Assert.Equal("scorer@v1#0123456789abcdef", baseline.Id);
        var numeric = baseline.Columns["score"].Numeric!;
        Assert.Equal([0.1, 0.2, 0.4], numeric.ReferenceValues);
        Assert.Equal([1L, 2, 1], numeric.ReferenceCounts);
        Assert.True(numeric.ReferenceSampled); // 4 of 8 values
        Assert.Equal(0.3, baseline.Columns["score"].LearnedThresholds["psi"]);
        var window = (Core.Drift.NumericWindow)baseline.Columns["score"].NewWindow();
        double[] current = [0.15, 0.2, 0.35, 0.5];
        foreach (var v in current)
        {
            window.Add(v);
        }

        Assert.Equal(Core.Drift.KolmogorovSmirnov.TwoSample([0.1, 0.2, 0.2, 0.4], current).D, window.KsStatistic(), 1e-12);
        Assert.Equal(["low", "high"], baseline.Columns["segment"].Categorical!.Categories);

        // Stored again, it is the current format and reads back the same.
        var again = ModelBaseline.FromJson((baseline with { Format = ModelBaseline.CurrentFormat }).ToJson());
        Assert.Equal(numeric.ReferenceCounts, again.Columns["score"].Numeric!.ReferenceCounts);
        Assert.Equal(ModelBaseline.CurrentFormat, again.Format);
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

    [Theory]
    [InlineData("""{"model_version":"v1","event_time":1,"score":NaN,"segment":"NaN"}""", double.NaN)]
    [InlineData("""{"model_version":"v1","event_time":1,"score":-Infinity,"segment":"a"}""", double.NegativeInfinity)]
    [InlineData("""{"model_version":"v1","event_time":1,"score": Infinity ,"segment":"a"}""", double.PositiveInfinity)]
    [InlineData("""{"model_version":"v1","event_time":1,"score":"-inf","segment":"a"}""", double.NegativeInfinity)]
    [InlineData("""{"model_version":"v1","event_time":1,"score":1e999,"segment":"a"}""", double.PositiveInfinity)]
    public void Non_finite_scores_are_read_as_numbers_as_python_and_numpy_write_them(string json, double expected)
    {
        var model = MonitorScenario.Model(MonitorScenario.Repository("unit", "http://127.0.0.1:1/alerts", "X"));
        using var document = PredictionReader.Parse(Encoding.UTF8.GetBytes(json));
        Assert.Null(PredictionReader.Read(document.RootElement, [model], out _, out _, out _));
        Assert.True(PredictionReader.TryGetColumn(document.RootElement, "score", out var score));
        Assert.Equal(expected, PredictionReader.AsNumber(score));
    }

    [Fact]
    public void Only_bare_words_outside_strings_are_quoted_and_other_bad_json_stays_malformed()
    {
        Assert.Equal("""{"a":"NaN x","b":"NaN","c":["-Infinity"]}""",
            Encoding.UTF8.GetString(PredictionReader.QuoteNonFiniteWords("""{"a":"NaN x","b":NaN,"c":[-Infinity]}"""u8)!));
        Assert.Null(PredictionReader.QuoteNonFiniteWords("""{"a":"NaN", "b": NaNa}"""u8));
        Assert.ThrowsAny<JsonException>(() => PredictionReader.Parse(Encoding.UTF8.GetBytes("""{"score":NaN,"segment":}""")));
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
        Assert.Equal(2, new ValueColumn("x", [1.0, 2.0], null).Count);
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
