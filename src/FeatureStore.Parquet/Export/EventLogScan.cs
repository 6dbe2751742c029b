using System.Globalization;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Tables;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Parquet.Export;

/// <summary>
/// Reads the events of one view from its source's event log, column by column: only the key, time,
/// offset and input columns, and only events of wanted entities no later than their last wanted instant.
/// </summary>
internal static class EventLogScan
{
    /// <summary>
    /// Adds the matching events to <paramref name="events"/>; returns the number of log rows read. With
    /// <paramref name="until"/> null every entity is wanted and new keys are added to <paramref name="entities"/>.
    /// <paramref name="include"/> (partition, offset, time) can leave out events a snapshot already holds;
    /// <paramref name="featureIndexes"/> limits the inputs read to some of the view's features (default all).
    /// </summary>
    public static async Task<long> LoadAsync(
        string root, CompiledView view, Dictionary<string, int> entities, long[]? until,
        ViewEvents events, Func<int, long, long, bool>? include, IProgress<long>? rowsRead, CancellationToken cancellationToken,
        IReadOnlyList<int>? featureIndexes = null)
    {
        featureIndexes ??= [.. Enumerable.Range(0, view.Features.Count)];
        long read = 0;
        var source = view.Source;
        foreach (var path in EventLogReader.CommittedFiles(root, source.Definition.Name))
        {
            var reader = await ParquetReader.CreateAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var fields = reader.Schema.DataFields;
                DataField Field(string name) => fields.FirstOrDefault(f => f.Name == name)
                    ?? throw new InvalidDataException($"{path}: no column '{name}'");
                for (var g = 0; g < reader.RowGroupCount; g++)
                {
                    using var group = reader.OpenRowGroupReader(g);
                    var n = checked((int)group.RowCount);
                    var keyColumns = new Array[view.KeySlots.Count];
                    for (var k = 0; k < keyColumns.Length; k++)
                    {
                        keyColumns[k] = await ParquetColumns.ReadAsync(group, Field(source.Schema.Fields[view.KeySlots[k]].Name), cancellationToken).ConfigureAwait(false);
                    }

                    var times = await ParquetColumns.ReadRequiredAsync<long>(group, Field(EventLogSchema.EventTimeColumn), cancellationToken).ConfigureAwait(false);
                    var offsets = await ParquetColumns.ReadRequiredAsync<long>(group, Field(EventLogSchema.OffsetColumn), cancellationToken).ConfigureAwait(false);
                    var partitions = include is null ? null : await ParquetColumns.ReadRequiredAsync<int>(group, Field(EventLogSchema.PartitionColumn), cancellationToken).ConfigureAwait(false);
                    var inputColumns = new Array?[featureIndexes.Count];
                    var cache = new Dictionary<int, Array>();
                    for (var f = 0; f < inputColumns.Length; f++)
                    {
                        var slot = view.InputSlots[featureIndexes[f]];
                        if (slot < 0)
                        {
                            continue;
                        }

                        if (!cache.TryGetValue(slot, out var column))
                        {
                            column = await ParquetColumns.ReadAsync(group, Field(source.Schema.Fields[slot].Name), cancellationToken).ConfigureAwait(false);
                            cache[slot] = column;
                        }

                        inputColumns[f] = column;
                    }

                    var textCache = new Dictionary<string, FeatureInput>(StringComparer.Ordinal);
                    for (var i = 0; i < n; i++)
                    {
                        var key = Key(keyColumns, i);
                        if (key is null)
                        {
                            continue;
                        }

                        if (!entities.TryGetValue(key, out var entity))
                        {
                            if (until is not null)
                            {
                                continue; // not wanted
                            }

                            entity = entities.Count;
                            entities[key] = entity;
                        }

                        if ((until is not null && times[i] > until[entity]) || (include is not null && !include(partitions![i], offsets[i], times[i])))
                        {
                            continue;
                        }

                        var inputs = events.Add(entity, times[i], offsets[i]);
                        for (var f = 0; f < inputs.Length; f++)
                        {
                            inputs[f] = inputColumns[f] is { } column ? Input(column, i, textCache) : FeatureInput.Absent;
                        }
                    }

                    read += n;
                    rowsRead?.Report(read);
                }
            }
        }

        return read;
    }

    /// <summary>The entity key of row <paramref name="i"/> (values joined by '|'), or null when a key is missing.</summary>
    public static string? Key(Array[] keyColumns, int i)
    {
        if (keyColumns.Length == 1)
        {
            return KeyPart(keyColumns[0], i);
        }

        var parts = new string[keyColumns.Length];
        for (var k = 0; k < parts.Length; k++)
        {
            if (KeyPart(keyColumns[k], i) is not { } part)
            {
                return null;
            }

            parts[k] = part;
        }

        return string.Join((char)EventParser.KeySeparator, parts);
    }

    private static string? KeyPart(Array column, int i) => column switch
    {
        string?[] s => s[i],
        long?[] l => l[i]?.ToString(CultureInfo.InvariantCulture),
        int?[] n => n[i]?.ToString(CultureInfo.InvariantCulture),
        bool?[] b => b[i] is { } flag ? (flag ? "1" : "0") : null,
        _ => column.GetValue(i) is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : column.GetValue(i)?.ToString(),
    };

    // Same conversions as the online job: text for string fields, numbers (bools 0/1, times in ms) otherwise.
    // Equal strings share one input, so a repeated value is hashed once per row group.
    private static FeatureInput Input(Array column, int i, Dictionary<string, FeatureInput> textCache)
    {
        switch (column)
        {
            case string?[] s:
                if (s[i] is not { } text)
                {
                    return FeatureInput.Absent;
                }

                if (!textCache.TryGetValue(text, out var input))
                {
                    input = FeatureInput.OfText(text);
                    textCache[text] = input;
                }

                return input;
            case double?[] d:
                return d[i] is { } number ? FeatureInput.OfNumber(number) : FeatureInput.Absent;
            case long?[] l:
                return l[i] is { } integer ? FeatureInput.OfNumber(integer) : FeatureInput.Absent;
            case bool?[] b:
                return b[i] is { } flag ? FeatureInput.OfNumber(flag ? 1 : 0) : FeatureInput.Absent;
            default:
                return FeatureInput.Absent;
        }
    }
}
