using System.Globalization;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Performance;
using FeatureStore.Monitor.Performance;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Monitor.Tests.Performance;

/// <summary>A model version's reference performance from a labelled validation file or a metrics file, and its stored JSON.</summary>
public sealed class ReferenceComputerUnitTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fs-reference-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>A classifier's validation set: a label with prevalence 0.3, a score that leans towards it (seeded).</summary>
    private static (double[] Scores, bool[] Labels) Validation(int count, int seed)
    {
        var random = new Random(seed);
        var scores = new double[count];
        var labels = new bool[count];
        for (var i = 0; i < count; i++)
        {
            labels[i] = random.NextDouble() < 0.3;
            var logit = (labels[i] ? 1.0 : -1.0) + (random.NextDouble() - 0.5) * 4;
            scores[i] = Math.Round(1 / (1 + Math.Exp(-logit)), 3); // rounded: ties, as real scores have
        }

        return (scores, labels);
    }

    private async Task<string> WriteParquetAsync(string name, double[] scores, bool[] labels)
    {
        var path = Path.Combine(_dir.FullName, name);
        var scoreField = new DataField<double>("score");
        var labelField = new DataField<bool>("is_fraud");
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(scoreField, labelField), stream, cancellationToken: Ct);
        using var group = writer.CreateRowGroup();
        await group.WriteAsync<double>(scoreField, scores.AsMemory(), cancellationToken: Ct);
        await group.WriteAsync<bool>(labelField, labels.AsMemory(), cancellationToken: Ct);
        return path;
    }

    private async Task<string> WriteCsvAsync(string name, IEnumerable<string> lines)
    {
        var path = Path.Combine(_dir.FullName, name);
        await File.WriteAllLinesAsync(path, lines, Ct);
        return path;
    }

    private static void AssertSameCbpe(CbpeReference expected, CbpeReference actual)
    {
        Assert.Equal(expected.Calibration.Scores, actual.Calibration.Scores);
        Assert.Equal(expected.Calibration.Probabilities, actual.Calibration.Probabilities);
        Assert.Equal((expected.Threshold, expected.ChunkSize, expected.Chunks, expected.Spread), (actual.Threshold, actual.ChunkSize, actual.Chunks, actual.Spread));
    }

    [Fact]
    public async Task A_classifier_reference_from_parquet_has_the_window_metrics_and_a_cbpe_fit_of_the_same_rows()
    {
        var (scores, labels) = Validation(3000, seed: 7);
        var path = await WriteParquetAsync("validation.parquet", scores, labels);

        var reference = await ReferenceComputer.FromValidationAsync("fraud", "v1", PerformanceTask.BinaryClassification, path, "score", "is_fraud", 0.4, null, Ct);

        Assert.Equal(("fraud", "v1", PerformanceTask.BinaryClassification, 3000L, path), (reference.Model, reference.Version, reference.Task, reference.Count, reference.Source));
        Assert.Equal(PerformanceMetrics.ToDictionary(BinaryClassificationWindow.Of(scores, labels, 0.4)), reference.Metrics);
        Assert.Equal(PerformanceMetrics.Classification.Order(), reference.Metrics.Keys.Order());

        // 3000 rows: chunks of 3000 / 20 = 150, so 20 chunks and a band.
        var cbpe = Assert.IsType<CbpeReference>(reference.Cbpe);
        AssertSameCbpe(CbpeReference.Fit(scores, labels, 150, 0.4), cbpe);
        Assert.Equal((150, 20), (cbpe.ChunkSize, cbpe.Chunks));
        Assert.NotNull(cbpe.Spread);
    }

    [Fact]
    public async Task A_csv_with_labels_as_numbers_or_words_gives_the_same_reference()
    {
        var (scores, labels) = Validation(500, seed: 3);
        var parquet = await ReferenceComputer.FromValidationAsync("m", "v1", PerformanceTask.BinaryClassification,
            await WriteParquetAsync("v.parquet", scores, labels), "score", "is_fraud", 0.5, 50, Ct);
        var numbers = await ReferenceComputer.FromValidationAsync("m", "v1", PerformanceTask.BinaryClassification,
            await WriteCsvAsync("numbers.csv", ["id,score,is_fraud", .. scores.Select((s, i) => FormattableString.Invariant($"{i},{s:R},{(labels[i] ? "1" : "0.0")}"))]), "score", "is_fraud", 0.5, 50, Ct);
        var words = await ReferenceComputer.FromValidationAsync("m", "v1", PerformanceTask.BinaryClassification,
            await WriteCsvAsync("words.csv", ["score,is_fraud", .. scores.Select((s, i) => FormattableString.Invariant($"{s:R},{(labels[i] ? "True" : "false")}"))]), "score", "is_fraud", 0.5, 50, Ct);

        Assert.Equal(parquet.Metrics, numbers.Metrics);
        Assert.Equal(parquet.Metrics, words.Metrics);
        AssertSameCbpe(CbpeReference.Fit(scores, labels, 50, 0.5), numbers.Cbpe!);
        AssertSameCbpe(numbers.Cbpe!, words.Cbpe!);
        Assert.Equal(10, numbers.Cbpe!.Chunks); // the chunk size given, not the default
    }

    [Theory]
    [InlineData(0, 100)]
    [InlineData(199, 100)]
    [InlineData(2000, 100)]
    [InlineData(2020, 101)]
    [InlineData(200_000, 10_000)]
    public void The_default_chunk_size_is_a_twentieth_of_the_rows_and_at_least_100(int rows, int chunkSize) =>
        Assert.Equal(chunkSize, ReferenceComputer.DefaultChunkSize(rows));

    [Fact]
    public async Task A_small_validation_set_has_metrics_and_a_calibration_but_no_band()
    {
        var (scores, labels) = Validation(150, seed: 5);
        var reference = await ReferenceComputer.FromValidationAsync("m", "v1", PerformanceTask.BinaryClassification,
            await WriteParquetAsync("small.parquet", scores, labels), "score", "is_fraud", 0.5, null, Ct);
        Assert.Equal((100, 1, (CbpeSpread?)null), (reference.Cbpe!.ChunkSize, reference.Cbpe.Chunks, reference.Cbpe.Spread));
        Assert.Equal(PerformanceMetrics.ToDictionary(BinaryClassificationWindow.Of(scores, labels)), reference.Metrics);
    }

    [Fact]
    public async Task A_regression_reference_has_the_window_metrics_and_no_estimate()
    {
        double[] predictions = [10, 12.5, 7, 3, 0.5, 20];
        double[] targets = [11, 12, 6, 0, 1, 18];
        var path = await WriteCsvAsync("reg.csv", ["prediction,target", .. predictions.Select((p, i) => FormattableString.Invariant($"{p},{targets[i]}"))]);

        var reference = await ReferenceComputer.FromValidationAsync("price", "v2", PerformanceTask.Regression, path, "prediction", "target", 0.5, null, Ct);

        var window = default(RegressionWindow);
        for (var i = 0; i < predictions.Length; i++)
        {
            window.Add(predictions[i], targets[i]);
        }

        Assert.Equal(PerformanceMetrics.ToDictionary(window.Compute()), reference.Metrics);
        Assert.Equal(8.0 / 6, reference.Metrics["mae"], 12); // (1 + 0.5 + 1 + 3 + 0.5 + 2) / 6, by hand
        Assert.Equal((PerformanceTask.Regression, 6L, (CbpeReference?)null), (reference.Task, reference.Count, reference.Cbpe));
    }

    [Theory]
    [InlineData("2", "row 3: label '2' in column 'is_fraud' is not a bool or 0/1")]
    [InlineData("yes", "row 3: label 'yes' in column 'is_fraud' is not a bool or 0/1")]
    [InlineData("", "row 3: label '' in column 'is_fraud' is not a bool or 0/1")]
    public async Task A_label_that_is_not_a_bool_or_0_1_names_its_row(string label, string message)
    {
        var path = await WriteCsvAsync("bad.csv", ["score,is_fraud", "0.1,0", "0.9,1", $"0.5,{label}", "0.2,0"]);
        var ex = await Assert.ThrowsAsync<ReferenceException>(() => ReferenceComputer.FromValidationAsync("m", "v1", PerformanceTask.BinaryClassification, path, "score", "is_fraud", 0.5, null, Ct));
        Assert.Equal($"{path}: {message}", ex.Message);
    }

    [Fact]
    public async Task A_score_that_is_not_a_probability_names_its_row()
    {
        var path = await WriteCsvAsync("score.csv", ["score,is_fraud", "0.1,0", "1.5,1"]);
        var ex = await Assert.ThrowsAsync<ReferenceException>(() => ReferenceComputer.FromValidationAsync("m", "v1", PerformanceTask.BinaryClassification, path, "score", "is_fraud", 0.5, null, Ct));
        Assert.Equal($"{path}: row 2: score 1.5 in column 'score' is not a probability in [0, 1]", ex.Message);
    }

    [Fact]
    public async Task A_missing_file_or_column_or_an_empty_file_is_named()
    {
        var missing = Path.Combine(_dir.FullName, "nope.parquet");
        var ex = await Assert.ThrowsAsync<ReferenceException>(() => ReferenceComputer.FromValidationAsync("m", "v1", PerformanceTask.BinaryClassification, missing, "score", "y", 0.5, null, Ct));
        Assert.Equal($"{missing}: no such file", ex.Message);

        var path = await WriteParquetAsync("cols.parquet", [0.1, 0.9], [false, true]);
        ex = await Assert.ThrowsAsync<ReferenceException>(() => ReferenceComputer.FromValidationAsync("m", "v1", PerformanceTask.BinaryClassification, path, "score", "label", 0.5, null, Ct));
        Assert.Equal($"{path}: no label column 'label' (columns: score, is_fraud)", ex.Message);

        var empty = await WriteCsvAsync("empty.csv", ["score,is_fraud"]);
        ex = await Assert.ThrowsAsync<ReferenceException>(() => ReferenceComputer.FromValidationAsync("m", "v1", PerformanceTask.BinaryClassification, empty, "score", "is_fraud", 0.5, null, Ct));
        Assert.Equal($"{empty}: no rows", ex.Message);
    }

    [Fact]
    public async Task A_metrics_file_gives_the_metrics_as_written()
    {
        var path = await WriteCsvAsync("metrics.json", ["""{ "roc_auc": 0.91, "log_loss": 0.32, "ece": "NaN" }"""]);
        var reference = await ReferenceComputer.FromMetricsFileAsync("fraud", "v1", PerformanceTask.BinaryClassification, path, Ct);
        Assert.Equal(0.91, reference.Metrics["roc_auc"]);
        Assert.Equal(0.32, reference.Metrics["log_loss"]);
        Assert.True(double.IsNaN(reference.Metrics["ece"]));
        Assert.Equal((3, (long?)null, path, (CbpeReference?)null), (reference.Metrics.Count, reference.Count, reference.Source, reference.Cbpe));
    }

    [Fact]
    public async Task A_metrics_file_with_an_unknown_metric_lists_the_known_ones()
    {
        var path = await WriteCsvAsync("metrics.json", ["""{ "roc_auc": 0.91, "auc": 0.9 }"""]);
        var ex = await Assert.ThrowsAsync<ReferenceException>(() => ReferenceComputer.FromMetricsFileAsync("fraud", "v1", PerformanceTask.BinaryClassification, path, Ct));
        Assert.Equal($"{path}: unknown metric 'auc' for binary_classification; known metrics: roc_auc, pr_auc, log_loss, brier, precision, recall, f1, accuracy, ece", ex.Message);

        ex = Assert.Throws<ReferenceException>(() => ReferenceComputer.FromMetricsJson("p", "v1", PerformanceTask.Regression, """{ "roc_auc": 0.9 }""", "m.json"));
        Assert.Equal("m.json: unknown metric 'roc_auc' for regression; known metrics: mae, rmse, mape, r2", ex.Message);
        Assert.Throws<ReferenceException>(() => ReferenceComputer.FromMetricsJson("p", "v1", PerformanceTask.Regression, "[1]", "m.json"));
        Assert.Throws<ReferenceException>(() => ReferenceComputer.FromMetricsJson("p", "v1", PerformanceTask.Regression, """{ "mae": "x" }""", "m.json"));
        await Assert.ThrowsAsync<ReferenceException>(() => ReferenceComputer.FromMetricsFileAsync("p", "v1", PerformanceTask.Regression, Path.Combine(_dir.FullName, "none.json"), Ct));
    }

    [Fact]
    public void A_reference_with_a_cbpe_fit_and_nan_metrics_survives_the_stored_json()
    {
        var (scores, labels) = Validation(1000, seed: 11);
        var reference = ReferenceComputer.Classifier("fraud", "v1", "validation.parquet", scores, labels, 0.5, null);
        // A metric undefined on the validation set, and a spread that is NaN (a chunk metric that never was defined).
        var metrics = new Dictionary<string, double>(reference.Metrics) { ["pr_auc"] = double.NaN };
        reference = reference with { Metrics = metrics, Cbpe = reference.Cbpe! with { Spread = reference.Cbpe.Spread! with { RocAuc = double.NaN } } };

        var json = JsonSerializer.Serialize(reference, PerformanceStore.Json);
        var back = JsonSerializer.Deserialize<ReferencePerformance>(json, PerformanceStore.Json)!;

        Assert.Contains("\"NaN\"", json, StringComparison.Ordinal);
        Assert.Equal((reference.Model, reference.Version, reference.Task, reference.Count, reference.Source), (back.Model, back.Version, back.Task, back.Count, back.Source));
        Assert.Equal(reference.Metrics.OrderBy(m => m.Key), back.Metrics.OrderBy(m => m.Key));
        Assert.True(double.IsNaN(back.Metrics["pr_auc"]));
        AssertSameCbpe(reference.Cbpe!, back.Cbpe!);
        Assert.True(double.IsNaN(back.Cbpe!.Spread!.RocAuc));
        Assert.Equal(reference.Cbpe!.Calibration.Apply(0.37).ToString("R", CultureInfo.InvariantCulture), back.Cbpe.Calibration.Apply(0.37).ToString("R", CultureInfo.InvariantCulture));
    }
}
