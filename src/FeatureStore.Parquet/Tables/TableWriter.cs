using System.Globalization;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Parquet.Tables;

/// <summary>The file format of an export.</summary>
public enum ExportFormat
{
    /// <summary>Apache Parquet (the default).</summary>
    Parquet,

    /// <summary>Arrow IPC file format (Feather v2).</summary>
    Arrow,

    /// <summary>RFC 4180 CSV with a header line; nulls are empty fields.</summary>
    Csv,
}

/// <summary>Writes a <see cref="Table"/> as Parquet, Arrow IPC or CSV, to a temporary name first, then renamed.</summary>
internal static class TableWriter
{
    /// <summary>Rows per Parquet row group: small enough that the writer's pooled buffers stay a few MB per column.</summary>
    internal const int RowGroupSize = 1 << 17;

    public static async Task WriteAsync(Table table, string path, ExportFormat format, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, ".tmp-" + Guid.NewGuid().ToString("N")[..8] + "-" + Path.GetFileName(full));
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, useAsync: true))
            {
                switch (format)
                {
                    case ExportFormat.Parquet:
                        await WriteParquetAsync(table, stream, cancellationToken).ConfigureAwait(false);
                        break;
                    case ExportFormat.Arrow:
                        await WriteArrowAsync(table, stream, cancellationToken).ConfigureAwait(false);
                        break;
                    default:
                        await WriteCsvAsync(table, stream, cancellationToken).ConfigureAwait(false);
                        break;
                }
            }

            // Writers check the token only now and then: an export stopped while writing must leave nothing.
            cancellationToken.ThrowIfCancellationRequested();
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    private static async Task WriteParquetAsync(Table table, Stream stream, CancellationToken cancellationToken)
    {
        var fields = table.Columns.Select(c => c.ElementType == typeof(DateTime)
            ? new DateTimeDataField(c.Name, DateTimeFormat.Timestamp, true, DateTimeTimeUnit.Millis, true)
            : CollectionColumns.ParquetField(c) ?? new DataField(c.Name, c.ElementType, isNullable: true)).ToArray();
        var schema = new ParquetSchema(fields);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: cancellationToken).ConfigureAwait(false);
        for (var start = 0; start < Math.Max(1, table.RowCount); start += RowGroupSize)
        {
            var length = Math.Min(RowGroupSize, table.RowCount - start);
            using var group = writer.CreateRowGroup();
            for (var c = 0; c < fields.Length; c++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var values = table.Columns[c].Values;
                if (fields[c] is not DataField)
                {
                    await CollectionColumns.WriteParquetAsync(group, fields[c], values, start, length, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var field = (DataField)fields[c];
                var task = values switch
                {
                    string?[] s => group.WriteAsync(field, new ArraySegment<string?>(s, start, length)),
                    long?[] l => group.WriteAsync<long>(field, l.AsMemory(start, length), cancellationToken: cancellationToken),
                    int?[] i => group.WriteAsync<int>(field, i.AsMemory(start, length), cancellationToken: cancellationToken),
                    double?[] d => group.WriteAsync<double>(field, d.AsMemory(start, length), cancellationToken: cancellationToken),
                    float?[] f => group.WriteAsync<float>(field, f.AsMemory(start, length), cancellationToken: cancellationToken),
                    bool?[] b => group.WriteAsync<bool>(field, b.AsMemory(start, length), cancellationToken: cancellationToken),
                    DateTime?[] t => group.WriteAsync<DateTime>(field, t.AsMemory(start, length), cancellationToken: cancellationToken),
                    DateTimeOffset?[] o => group.WriteAsync<DateTimeOffset>(field, o.AsMemory(start, length), cancellationToken: cancellationToken),
                    _ => throw new InvalidOperationException($"column {table.Columns[c].Name}: unsupported type {values.GetType().Name}"),
                };
                await task.ConfigureAwait(false);
            }
        }
    }

    private static async Task WriteArrowAsync(Table table, Stream stream, CancellationToken cancellationToken)
    {
        var arrays = table.Columns.Select(c => BuildArrow(c.Values)).ToArray();
        var schema = new Schema.Builder();
        for (var c = 0; c < arrays.Length; c++)
        {
            schema.Field(f => f.Name(table.Columns[c].Name).DataType(arrays[c].Data.DataType).Nullable(true));
        }

        var built = schema.Build();
        using var batch = new RecordBatch(built, arrays, table.RowCount);
        using var writer = new ArrowFileWriter(stream, built, leaveOpen: true);
        await writer.WriteRecordBatchAsync(batch, cancellationToken).ConfigureAwait(false);
        await writer.WriteEndAsync(cancellationToken).ConfigureAwait(false);
    }

    private static IArrowArray BuildArrow(System.Array values)
    {
        if (CollectionColumns.BuildArrow(values) is { } collection)
        {
            return collection;
        }

        switch (values)
        {
            case string?[] s:
                {
                    var b = new StringArray.Builder();
                    foreach (var v in s)
                    {
                        if (v is null)
                        {
                            b.AppendNull();
                        }
                        else
                        {
                            b.Append(v);
                        }
                    }

                    return b.Build();
                }

            case long?[] l:
                return Nullable<Int64Array.Builder, long>(new Int64Array.Builder(), l).Build();
            case int?[] i:
                return Nullable<Int32Array.Builder, int>(new Int32Array.Builder(), i).Build();
            case double?[] d:
                return Nullable<DoubleArray.Builder, double>(new DoubleArray.Builder(), d).Build();
            case float?[] f:
                return Nullable<FloatArray.Builder, float>(new FloatArray.Builder(), f).Build();
            case bool?[] b:
                return Nullable<BooleanArray.Builder, bool>(new BooleanArray.Builder(), b).Build();
            case DateTime?[] t:
                {
                    var builder = new TimestampArray.Builder(Apache.Arrow.Types.TimeUnit.Millisecond, "UTC");
                    foreach (var v in t)
                    {
                        if (v is { } time)
                        {
                            builder.Append(new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)));
                        }
                        else
                        {
                            builder.AppendNull();
                        }
                    }

                    return builder.Build();
                }

            case DateTimeOffset?[] o:
                {
                    var builder = new TimestampArray.Builder(Apache.Arrow.Types.TimeUnit.Millisecond, "UTC");
                    foreach (var v in o)
                    {
                        if (v is { } time)
                        {
                            builder.Append(time);
                        }
                        else
                        {
                            builder.AppendNull();
                        }
                    }

                    return builder.Build();
                }

            default:
                throw new InvalidOperationException($"unsupported column type {values.GetType().Name}");
        }
    }

    private static TBuilder Nullable<TBuilder, T>(TBuilder builder, T?[] values)
        where TBuilder : IArrowArrayBuilder<T, IArrowArray, TBuilder>
        where T : struct
    {
        foreach (var v in values)
        {
            builder = v is { } value ? builder.Append(value) : builder.AppendNull();
        }

        return builder;
    }

    private static async Task WriteCsvAsync(Table table, Stream stream, CancellationToken cancellationToken)
    {
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16);
        writer.NewLine = "\n";
        await writer.WriteLineAsync(string.Join(',', table.Columns.Select(c => Quote(c.Name)))).ConfigureAwait(false);
        var line = new StringBuilder();
        for (var r = 0; r < table.RowCount; r++)
        {
            line.Clear();
            for (var c = 0; c < table.Columns.Count; c++)
            {
                if (c > 0)
                {
                    line.Append(',');
                }

                line.Append(Format(table.Columns[c].Values, r));
            }

            await writer.WriteLineAsync(line, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string Format(System.Array values, int row) => values switch
    {
        string?[] s => s[row] is { } text ? Quote(text) : string.Empty,
        long?[] l => l[row]?.ToString(CultureInfo.InvariantCulture) ?? string.Empty,
        int?[] i => i[row]?.ToString(CultureInfo.InvariantCulture) ?? string.Empty,
        double?[] d => d[row]?.ToString("R", CultureInfo.InvariantCulture) ?? string.Empty,
        float?[] f => f[row]?.ToString("R", CultureInfo.InvariantCulture) ?? string.Empty,
        bool?[] b => b[row] is { } flag ? (flag ? "true" : "false") : string.Empty,
        DateTime?[] t => t[row]?.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) ?? string.Empty,
        DateTimeOffset?[] o => o[row]?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) ?? string.Empty,
        _ when CollectionColumns.Json(values, row) is { } json => Quote(json),
        _ => values.GetValue(row)?.ToString() ?? string.Empty,
    };

    private static string Quote(string text) =>
        text.AsSpan().IndexOfAny(",\"\r\n") >= 0 || text.Length == 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
}
