using System.Globalization;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Performance;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Monitor.Performance;

/// <summary>A reference performance could not be computed (a missing file or column, a bad label); the message names the file and the reason.</summary>
public sealed class ReferenceException(string message) : Exception(message);

/// <summary>
/// A model version's reference performance (<see cref="ReferencePerformance"/>), which a performance monitor's
/// <c>max_drop</c> thresholds compare against and, for a classifier, whose CBPE reference estimates before labels:
/// computed from a labelled validation file (Parquet or CSV) or given as a metrics file (a JSON object).
/// </summary>
public static class ReferenceComputer
{
    /// <summary>The smallest CBPE reference chunk: fewer predictions give too noisy an AUC per chunk to learn a spread from.</summary>
    public const int MinChunkSize = 100;

    /// <summary>The chunks a validation set is cut into when it is large enough, for a stable spread.</summary>
    public const int ChunksWanted = 20;

    /// <summary>
    /// The CBPE chunk size for <paramref name="rows"/> validation rows: max(<see cref="MinChunkSize"/>, rows / <see cref="ChunksWanted"/>).
    /// The chunk size need not be the monitor's window size: the monitor rescales the band to each window's count
    /// (σ·√(chunk / count)), so what matters is enough chunks for a stable σ, each large enough for its metrics to mean
    /// something. A validation set under 2 × 100 rows gives no band (estimates then have none).
    /// </summary>
    public static int DefaultChunkSize(int rows) => Math.Max(MinChunkSize, rows / ChunksWanted);

    /// <summary>
    /// Reads the score and label columns of <paramref name="path"/> in file order and computes the reference:
    /// a classifier's metrics (at <paramref name="threshold"/>) and its CBPE reference, or a regressor's metrics.
    /// </summary>
    /// <exception cref="ReferenceException">The file or a column is missing, the file has no rows, or a cell is not a score or label.</exception>
    public static async Task<ReferencePerformance> FromValidationAsync(
        string model,
        string version,
        PerformanceTask task,
        string path,
        string scoreColumn,
        string labelColumn,
        double threshold,
        int? chunkSize,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        CellTable table;
        try
        {
            table = await TableReader.ReadCellsAsync(path, [scoreColumn, labelColumn], cancellationToken).ConfigureAwait(false);
        }
        catch (TableFileException ex)
        {
            throw new ReferenceException(ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            throw new ReferenceException($"{path}: cannot read: {ex.Message}");
        }

        var scoreCells = Column(table, path, scoreColumn, "score");
        var labelCells = Column(table, path, labelColumn, "label");
        if (table.Rows == 0)
        {
            throw new ReferenceException($"{path}: no rows");
        }

        var scores = new double[table.Rows];
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = Number(scoreCells[i])
                ?? throw new ReferenceException($"{path}: row {i + 1}: score '{scoreCells[i]}' in column '{scoreColumn}' is not a number");
            if (task == PerformanceTask.BinaryClassification ? !(scores[i] is >= 0 and <= 1) : !double.IsFinite(scores[i]))
            {
                throw new ReferenceException(task == PerformanceTask.BinaryClassification
                    ? $"{path}: row {i + 1}: score {Format(scores[i])} in column '{scoreColumn}' is not a probability in [0, 1]"
                    : $"{path}: row {i + 1}: prediction {Format(scores[i])} in column '{scoreColumn}' is not a finite number");
            }
        }

        if (task == PerformanceTask.Regression)
        {
            var targets = new double[table.Rows];
            for (var i = 0; i < targets.Length; i++)
            {
                targets[i] = Number(labelCells[i]) is { } t && double.IsFinite(t)
                    ? t
                    : throw new ReferenceException($"{path}: row {i + 1}: label '{labelCells[i]}' in column '{labelColumn}' is not a finite number");
            }

            return Regressor(model, version, path, scores, targets);
        }

        var labels = new bool[table.Rows];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = Label(labelCells[i])
                ?? throw new ReferenceException($"{path}: row {i + 1}: label '{labelCells[i]}' in column '{labelColumn}' is not a bool or 0/1");
        }

        return Classifier(model, version, path, scores, labels, threshold, chunkSize);
    }

    /// <summary>A classifier's reference from its validation scores and labels, in prediction order.</summary>
    /// <param name="model">The model.</param>
    /// <param name="version">The version.</param>
    /// <param name="source">Where the pairs came from, as stored with the reference.</param>
    /// <param name="scores">The scores, each in [0, 1].</param>
    /// <param name="labels">One label per score.</param>
    /// <param name="threshold">The decision threshold (the performance monitor's).</param>
    /// <param name="chunkSize">CBPE's chunk size, or null for <see cref="DefaultChunkSize"/>.</param>
    public static ReferencePerformance Classifier(string model, string version, string source, ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels, double threshold, int? chunkSize)
    {
        var metrics = PerformanceMetrics.ToDictionary(BinaryClassificationWindow.Of(scores, labels, threshold));
        var cbpe = CbpeReference.Fit(scores, labels, chunkSize ?? DefaultChunkSize(scores.Length), threshold);
        return new ReferencePerformance(model, version, PerformanceTask.BinaryClassification, metrics, scores.Length, source, cbpe);
    }

    /// <summary>A regressor's reference from its validation predictions and targets (no estimate: CBPE is for classifiers).</summary>
    public static ReferencePerformance Regressor(string model, string version, string source, ReadOnlySpan<double> predictions, ReadOnlySpan<double> targets)
    {
        if (predictions.Length != targets.Length)
        {
            throw new ArgumentException("there must be one target per prediction", nameof(targets));
        }

        var window = default(RegressionWindow);
        for (var i = 0; i < predictions.Length; i++)
        {
            window.Add(predictions[i], targets[i]);
        }

        return new ReferencePerformance(model, version, PerformanceTask.Regression, PerformanceMetrics.ToDictionary(window.Compute()), predictions.Length, source, null);
    }

    /// <summary>Reads a metrics file: a JSON object of metric name → value (<c>{"roc_auc": 0.91}</c>; <c>"NaN"</c> for an undefined one).</summary>
    /// <exception cref="ReferenceException">The file is missing or not such an object, or names a metric <paramref name="task"/> does not have.</exception>
    public static async Task<ReferencePerformance> FromMetricsFileAsync(string model, string version, PerformanceTask task, string path, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ReferenceException($"{path}: no such file");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ReferenceException($"{path}: cannot read: {ex.Message}");
        }

        return FromMetricsJson(model, version, task, text, path);
    }

    /// <summary>The reference given by <paramref name="json"/>, a JSON object of metric name → value; <paramref name="source"/> names it in errors and in the record.</summary>
    /// <exception cref="ReferenceException">Not such an object, or a metric <paramref name="task"/> does not have.</exception>
    public static ReferencePerformance FromMetricsJson(string model, string version, PerformanceTask task, string json, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new ReferenceException($"{source}: not JSON: {ex.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ReferenceException($"{source}: expected a JSON object of metric name to value, such as {{\"roc_auc\": 0.91}}");
            }

            var known = PerformanceMetrics.Of(task);
            var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!known.Contains(property.Name))
                {
                    throw new ReferenceException($"{source}: unknown metric '{property.Name}' for {TaskName(task)}; known metrics: {string.Join(", ", known)}");
                }

                metrics[property.Name] = property.Value switch
                {
                    { ValueKind: JsonValueKind.Number } number => number.GetDouble(),
                    { ValueKind: JsonValueKind.String } s when s.GetString() == "NaN" => double.NaN,
                    _ => throw new ReferenceException($"{source}: metric '{property.Name}' is {property.Value.GetRawText()}, not a number"),
                };
            }

            if (metrics.Count == 0)
            {
                throw new ReferenceException($"{source}: no metrics; known metrics: {string.Join(", ", known)}");
            }

            return new ReferencePerformance(model, version, task, metrics, null, source, null);
        }
    }

    private static object?[] Column(CellTable table, string path, string name, string what) =>
        table.Columns.GetValueOrDefault(name)
        ?? throw new ReferenceException($"{path}: no {what} column '{name}' (columns: {string.Join(", ", table.FileColumns)})");

    internal static double? Number(object? cell) => cell switch
    {
        double d => d,
        float f => f,
        long l => l,
        int i => i,
        short s => s,
        decimal m => (double)m,
        string text when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
        _ => null,
    };

    private static bool? Label(object? cell) => cell switch
    {
        bool b => b,
        string text when bool.TryParse(text, out var b) => b,
        _ => Number(cell) switch
        {
            0 => false,
            1 => true,
            _ => null,
        },
    };

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string TaskName(PerformanceTask task) => task == PerformanceTask.Regression ? "regression" : "binary_classification";
}
