using System.Globalization;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
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
    /// Adds the matching events to <paramref name="events"/> (the inputs of its <see cref="ViewEvents.ColumnSlots"/>);
    /// returns the number of log rows read. With <paramref name="until"/> null every entity is wanted and new
    /// keys are added to <paramref name="entities"/>. <paramref name="include"/> (partition, offset, time) can
    /// leave out events a snapshot already holds.
    /// </summary>
    public static async Task<long> LoadAsync(
        string root, CompiledView view, Dictionary<string, int> entities, long[]? until,
        ViewEvents events, Func<int, long, long, bool>? include, IProgress<long>? rowsRead, CancellationToken cancellationToken)
    {
        long read = 0;
        var source = view.Source;
        var taken = Array.Empty<int>();
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

                    // First the rows wanted (row i becomes event first + j), then their inputs column by column.
                    if (taken.Length < n)
                    {
                        taken = new int[n];
                    }

                    var first = events.Count;
                    var count = 0;
                    var singleText = keyColumns.Length == 1 ? keyColumns[0] as string?[] : null;
                    for (var i = 0; i < n; i++)
                    {
                        var key = singleText is null ? Key(keyColumns, i) : singleText[i];
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

                        events.Add(entity, times[i], offsets[i]);
                        taken[count++] = i;
                    }

                    for (var c = 0; c < events.ColumnSlots.Count; c++)
                    {
                        var field = Field(source.Schema.Fields[events.ColumnSlots[c]].Name);
                        if (count > 0)
                        {
                            SetInputs(events, c, await ParquetColumns.ReadAsync(group, field, cancellationToken).ConfigureAwait(false), taken, count, first);
                        }
                    }

                    read += n;
                    rowsRead?.Report(read);
                }
            }
        }

        return read;
    }

    // Same conversions as the online job: text for string fields, numbers (bools 0/1, times in ms) otherwise.
    private static void SetInputs(ViewEvents events, int c, Array column, int[] taken, int count, int first)
    {
        var rows = taken.AsSpan(0, count);
        switch (column)
        {
            case string?[] s:
                for (var j = 0; j < rows.Length; j++)
                {
                    if (s[rows[j]] is { } text)
                    {
                        events.SetText(first + j, c, text);
                    }
                }

                break;
            case double?[] d:
                for (var j = 0; j < rows.Length; j++)
                {
                    if (d[rows[j]] is { } number)
                    {
                        events.SetNumber(first + j, c, number);
                    }
                }

                break;
            case long?[] l:
                for (var j = 0; j < rows.Length; j++)
                {
                    if (l[rows[j]] is { } integer)
                    {
                        events.SetNumber(first + j, c, integer);
                    }
                }

                break;
            case bool?[] b:
                for (var j = 0; j < rows.Length; j++)
                {
                    if (b[rows[j]] is { } flag)
                    {
                        events.SetNumber(first + j, c, flag ? 1 : 0);
                    }
                }

                break;
            default:
                break; // other types give no input, as before
        }
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
}
