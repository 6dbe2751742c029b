using System.Security.Cryptography;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Monitor.Internal;

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
    /// <paramref name="model"/> at <paramref name="version"/>.
    /// </summary>
    public static async Task<ModelBaseline> ComputeAsync(ModelDefinition model, string version, string path, long nowMs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Versions.All(v => v.Version != version))
        {
            throw new BaselineException($"model '{model.Name}' has no version '{version}' (versions: {string.Join(", ", model.Versions.Select(v => v.Version))})");
        }

        return Compute(model, version, path, nowMs, await ReadMonitoredAsync(model, path, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The columns of <paramref name="path"/> that <paramref name="model"/>'s monitors read.</summary>
    internal static async Task<IReadOnlyDictionary<string, TableColumn>> ReadMonitoredAsync(ModelDefinition model, string path, CancellationToken cancellationToken)
    {
        var wanted = model.Monitors.SelectMany(m => new[] { m.Column, MonitorColumns.TableName(m.Column) }).ToHashSet(StringComparer.Ordinal);
        try
        {
            return await TableReader.ReadAsync(path, wanted, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            throw new BaselineException($"{path}: cannot read: {ex.Message}");
        }
    }

    internal static ModelBaseline Compute(ModelDefinition model, string version, string source, long nowMs, IReadOnlyDictionary<string, TableColumn> table)
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
                throw new BaselineException($"{source}: column '{data.Name}' has no values");
            }

            columns[monitor.Column] = data.Numbers is { } numbers
                ? Numeric(monitor, numbers)
                : new ColumnBaseline(monitor.Column, null, BaselineBuilder.Categorical(data.Texts!), new Dictionary<string, double>());
        }

        var id = $"{model.Name}@{version}#{Hash(columns)}";
        return new ModelBaseline(id, model.Name, version, nowMs, Path.GetFileName(source), columns);
    }

    internal static TableColumn? Find(IReadOnlyDictionary<string, TableColumn> table, string column) =>
        table.GetValueOrDefault(MonitorColumns.TableName(column)) ?? table.GetValueOrDefault(column);

    private static ColumnBaseline Numeric(MonitorDefinition monitor, double[] values)
    {
        var baseline = BaselineBuilder.Numeric(values, monitor.Bins);
        var chunk = (int)Math.Min(monitor.WindowCount ?? DefaultChunkSize, int.MaxValue);
        var learned = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var method in monitor.Methods)
        {
            if (LearnedThreshold.Compute(values, baseline, chunk, DriftDefaults.Parse(method.Name)) is { } threshold)
            {
                learned[method.Name] = threshold;
            }
        }

        return new ColumnBaseline(monitor.Column, baseline, null, learned);
    }

    private static string Hash(Dictionary<string, ColumnBaseline> columns)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(columns.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => c.Value), DriftJson.Options);
        return Convert.ToHexStringLower(SHA256.HashData(json))[..16];
    }
}
