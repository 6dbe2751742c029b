using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Monitor.Internal;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Monitor.Baselines;

/// <summary>A baseline could not be computed (a missing column, an empty file); the message says which.</summary>
public sealed class BaselineException(string message) : Exception(message);

/// <summary>Computes a model version's baseline from a training export, or any Parquet or CSV file.</summary>
public static class BaselineComputer
{
    /// <summary>Default chunk size of learned thresholds for monitors whose window is by time.</summary>
    public const int DefaultChunkSize = 1000;

    /// <summary>
    /// Reads <paramref name="path"/> and computes the baseline of every monitored column of
    /// <paramref name="model"/> at <paramref name="version"/>; a prediction field is numeric or categorical as
    /// declared, a feature by its data.
    /// </summary>
    public static Task<ModelBaseline> ComputeAsync(ModelDefinition model, string version, string path, long nowMs, CancellationToken cancellationToken) =>
        ComputeAsync(model, version, path, nowMs, null, cancellationToken);

    /// <summary>
    /// Reads <paramref name="path"/> and computes the baseline of every monitored column of
    /// <paramref name="model"/> at <paramref name="version"/>. With <paramref name="repository"/>, a feature's
    /// kind (numeric or categorical) is the one declared there too, whatever the data holds.
    /// </summary>
    public static async Task<ModelBaseline> ComputeAsync(ModelDefinition model, string version, string path, long nowMs, FeatureRepository? repository, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Versions.All(v => v.Version != version))
        {
            throw new BaselineException($"model '{model.Name}' has no version '{version}' (versions: {string.Join(", ", model.Versions.Select(v => v.Version))})");
        }

        var kinds = model.Monitors.Select(m => m.Column).Distinct(StringComparer.Ordinal).ToDictionary(c => c, c => MonitorColumns.DeclaredKind(model, c, repository), StringComparer.Ordinal);
        var table = await ReadMonitoredAsync(model, path, kinds, cancellationToken).ConfigureAwait(false);
        return Compute(model, version, path, nowMs, table.Columns);
    }

    /// <summary>
    /// The columns of <paramref name="path"/> that <paramref name="model"/>'s monitors read, each of the kind
    /// given (null: from the data); a file without rows is refused.
    /// </summary>
    internal static async Task<ValueTable> ReadMonitoredAsync(ModelDefinition model, string path, IReadOnlyDictionary<string, ColumnKind?> kinds, CancellationToken cancellationToken)
    {
        var wanted = new Dictionary<string, ColumnKind?>(StringComparer.Ordinal);
        foreach (var monitor in model.Monitors)
        {
            var kind = kinds.GetValueOrDefault(monitor.Column);
            wanted[monitor.Column] = kind;
            wanted[MonitorColumns.TableName(monitor.Column)] = kind;
        }

        ValueTable table;
        try
        {
            table = await TableReader.ReadValuesAsync(path, wanted, cancellationToken).ConfigureAwait(false);
        }
        catch (TableFileException ex)
        {
            throw new BaselineException(ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            throw new BaselineException($"{path}: cannot read: {ex.Message}");
        }

        if (table.Rows == 0)
        {
            throw new BaselineException($"{path}: no rows");
        }

        return table;
    }

    internal static ModelBaseline Compute(ModelDefinition model, string version, string source, long nowMs, IReadOnlyDictionary<string, ValueColumn> table)
    {
        var columns = new Dictionary<string, ColumnBaseline>(StringComparer.Ordinal);
        foreach (var monitor in model.Monitors)
        {
            if (columns.ContainsKey(monitor.Column))
            {
                continue;
            }

            var data = Find(table, monitor.Column)
                ?? throw new BaselineException($"{source}: no column '{MonitorColumns.TableName(monitor.Column)}' for monitor '{monitor.Column}' (columns: {string.Join(", ", table.Keys)})");
            if (data.Count == 0)
            {
                throw new BaselineException(data.NonFinite is { } nonFinite && nonFinite.Total() > 0
                    ? $"{source}: column '{data.Name}' has no finite values ({Describe(nonFinite)})"
                    : $"{source}: column '{data.Name}' has no values");
            }

            columns[monitor.Column] = data.Numbers is { } numbers
                ? Numeric(monitor, numbers, data.NonFinite ?? NonFiniteCounts.None)
                : Categorical(monitor, data.Texts!);
        }

        var id = $"{model.Name}@{version}#{Hash(columns)}";
        return new ModelBaseline(id, model.Name, version, nowMs, Path.GetFileName(source), columns);
    }

    internal static ValueColumn? Find(IReadOnlyDictionary<string, ValueColumn> table, string column) =>
        table.GetValueOrDefault(MonitorColumns.TableName(column)) ?? table.GetValueOrDefault(column);

    /// <summary><c>2 NaN, 1 +inf, 0 −inf</c>.</summary>
    internal static string Describe(NonFiniteCounts counts) =>
        string.Create(CultureInfo.InvariantCulture, $"{counts.Nan} NaN, {counts.PositiveInfinity} +inf, {counts.NegativeInfinity} -inf");

    private static int ChunkSize(MonitorDefinition monitor) => (int)Math.Min(monitor.WindowCount ?? DefaultChunkSize, int.MaxValue);

    private static ColumnBaseline Numeric(MonitorDefinition monitor, double[] values, NonFiniteCounts nonFinite)
    {
        var baseline = BaselineBuilder.Numeric(values, monitor.Bins);
        var learned = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var method in monitor.Methods)
        {
            if (LearnedThreshold.Compute(values, baseline, ChunkSize(monitor), DriftDefaults.Parse(method.Name)) is { } threshold)
            {
                learned[method.Name] = threshold;
            }
        }

        return new ColumnBaseline(monitor.Column, baseline, null, learned, nonFinite);
    }

    private static ColumnBaseline Categorical(MonitorDefinition monitor, string[] values)
    {
        var baseline = BaselineBuilder.Categorical(values);
        var learned = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var method in monitor.Methods)
        {
            if (LearnedThreshold.Compute(values, baseline, ChunkSize(monitor), DriftDefaults.Parse(method.Name)) is { } threshold)
            {
                learned[method.Name] = threshold;
            }
        }

        return new ColumnBaseline(monitor.Column, null, baseline, learned);
    }

    private static string Hash(Dictionary<string, ColumnBaseline> columns)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(columns.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => c.Value), DriftJson.Options);
        return Convert.ToHexStringLower(SHA256.HashData(json))[..16];
    }
}
