using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FeatureStore.Core.Events;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Parquet.History;

/// <summary>The layout of a history file.</summary>
public enum HistoryFormat
{
    /// <summary>One JSON event per line, exactly as the source's topic carries it.</summary>
    Jsonl,

    /// <summary>RFC 4180 CSV with a header naming the source's fields.</summary>
    Csv,

    /// <summary>A Parquet file with flat columns named like the source's fields.</summary>
    Parquet,
}

/// <summary>
/// Called for each row of a history file: its line (JSON lines, CSV) or 1-based row (Parquet), and either the
/// row as the source's JSON event or, for a row that cannot even be made one, why not.
/// </summary>
/// <param name="line">The row's line or row number.</param>
/// <param name="payload">The event as the source's JSON (valid until the handler returns).</param>
/// <param name="refused">Why the row is no event at all (then the payload is empty), or null.</param>
public delegate void HistoryRowHandler(long line, ReadOnlySpan<byte> payload, string? refused);

/// <summary>
/// Streams a history file row by row as the source's JSON events, so every format goes through the same
/// <see cref="EventParser"/> as ingest (same schema, same errors) and a file of any size needs one row in memory.
/// </summary>
public static class HistoryInput
{
    /// <summary>The format a file's extension names: .csv, .parquet/.pq, anything else JSON lines.</summary>
    public static HistoryFormat FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".csv" => HistoryFormat.Csv,
        ".parquet" or ".pq" => HistoryFormat.Parquet,
        _ => HistoryFormat.Jsonl,
    };

    /// <summary>Reads <paramref name="path"/> and hands each row to <paramref name="onRow"/>.</summary>
    /// <exception cref="TableFileException">A CSV or Parquet file that cannot be read as a table.</exception>
    public static Task ReadAsync(string path, HistoryFormat format, EventSchema schema, HistoryRowHandler onRow, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(onRow);
        return format switch
        {
            HistoryFormat.Csv => Task.Run(() => ReadCsv(path, schema, onRow, cancellationToken), cancellationToken),
            HistoryFormat.Parquet => ReadParquetAsync(path, schema, onRow, cancellationToken),
            _ => Task.Run(() => ReadJsonLines(path, onRow, cancellationToken), cancellationToken),
        };
    }

    // Lines split on the bytes, so a payload reaches the parser as the topic would carry it (no string round trip).
    private static void ReadJsonLines(string path, HistoryRowHandler onRow, CancellationToken cancellationToken)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var buffer = new byte[1 << 20];
        int filled = 0, start = 0;
        long line = 0;
        var first = true;
        while (true)
        {
            var read = stream.Read(buffer, filled, buffer.Length - filled);
            filled += read;
            var end = read == 0;
            while (true)
            {
                var newline = buffer.AsSpan(start, filled - start).IndexOf((byte)'\n');
                if (newline < 0 && !(end && start < filled))
                {
                    break;
                }

                var length = newline < 0 ? filled - start : newline;
                var text = buffer.AsSpan(start, length);
                start += newline < 0 ? length : length + 1;
                line++;
                if (first)
                {
                    first = false;
                    if (text.StartsWith("\uFEFF"u8))
                    {
                        text = text[3..];
                    }
                }

                if ((line & 4095) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }

                text = text.TrimEnd("\r"u8);
                if (!text.Trim(" \t"u8).IsEmpty)
                {
                    onRow(line, text, null);
                }
            }

            if (end)
            {
                return;
            }

            // Keep the unfinished line at the front; grow when one line is larger than the buffer.
            if (start == 0 && filled == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            else
            {
                buffer.AsSpan(start, filled - start).CopyTo(buffer);
                filled -= start;
                start = 0;
            }
        }
    }

    private static void ReadCsv(string path, EventSchema schema, HistoryRowHandler onRow, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        var json = new ArrayBufferWriter<byte>(1024);
        using var writer = new Utf8JsonWriter(json);
        int[]? columns = null;
        var count = 0;
        foreach (var (line, values) in TableReader.ReadCsvRecords(reader, path))
        {
            if (columns is null)
            {
                columns = [.. schema.Fields.Select(f => IndexOf(values, f.Name))];
                count = values.Count;
                continue;
            }

            if ((line & 4095) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (values.Count != count)
            {
                onRow(line, default, $"{values.Count} fields where the header has {count}");
                continue;
            }

            json.ResetWrittenCount();
            writer.Reset();
            writer.WriteStartObject();
            for (var f = 0; f < columns.Length; f++)
            {
                if (columns[f] >= 0 && values[columns[f]] is { Length: > 0 } text)
                {
                    writer.WritePropertyName(schema.Fields[f].Name);
                    WriteText(writer, schema.Fields[f].Kind, text);
                }
            }

            writer.WriteEndObject();
            writer.Flush();
            onRow(line, json.WrittenSpan, null);
        }
    }

    private static int IndexOf(IReadOnlyList<string> header, string name)
    {
        for (var i = 0; i < header.Count; i++)
        {
            if (header[i] == name)
            {
                return i;
            }
        }

        return -1;
    }

    // CSV text as the JSON value the topic would carry: numbers and booleans that read as such, the rest as
    // text, which the parser then refuses with the same wrong_type as a mistyped event on the topic.
    private static void WriteText(Utf8JsonWriter writer, FieldKind kind, string text)
    {
        switch (kind)
        {
            case FieldKind.Int or FieldKind.Timestamp when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer):
                writer.WriteNumberValue(integer);
                break;
            case FieldKind.Double when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number):
                writer.WriteNumberValue(number);
                break;
            case FieldKind.Bool when bool.TryParse(text, out var flag):
                writer.WriteBooleanValue(flag);
                break;
            default:
                writer.WriteStringValue(text);
                break;
        }
    }

    private static async Task ReadParquetAsync(string path, EventSchema schema, HistoryRowHandler onRow, CancellationToken cancellationToken)
    {
        var reader = await TableReader.OpenParquetAsync(path, cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            var fields = schema.Fields.Select(f => reader.Schema.DataFields.FirstOrDefault(d => d.Name == f.Name)).ToArray();
            foreach (var field in fields)
            {
                if (field is not null && (field.IsArray || field.MaxRepetitionLevel > 0))
                {
                    throw new TableFileException($"{path}: column '{field.Name}' is nested or repeated; history needs flat columns");
                }
            }

            var json = new ArrayBufferWriter<byte>(1024);
            using var writer = new Utf8JsonWriter(json);
            long row = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                // One row group in memory at a time: the file's writer chose its size.
                using var group = reader.OpenRowGroupReader(g);
                var columns = new Array?[fields.Length];
                for (var f = 0; f < fields.Length; f++)
                {
                    try
                    {
                        columns[f] = fields[f] is { } field ? await ParquetColumns.ReadAsync(group, field, cancellationToken).ConfigureAwait(false) : null;
                    }
                    catch (InvalidDataException ex)
                    {
                        throw new TableFileException($"{path}: {ex.Message}");
                    }
                }

                cancellationToken.ThrowIfCancellationRequested();
                for (var r = 0; r < group.RowCount; r++)
                {
                    row++;
                    json.ResetWrittenCount();
                    writer.Reset();
                    writer.WriteStartObject();
                    for (var f = 0; f < fields.Length; f++)
                    {
                        if (columns[f]?.GetValue(r) is { } value)
                        {
                            writer.WritePropertyName(schema.Fields[f].Name);
                            WriteValue(writer, schema, f, value);
                        }
                    }

                    writer.WriteEndObject();
                    writer.Flush();
                    onRow(row, json.WrittenSpan, null);
                }
            }
        }
    }

    private static void WriteValue(Utf8JsonWriter writer, EventSchema schema, int field, object value)
    {
        var epoch = schema.Fields[field].Kind != FieldKind.Timestamp || (field == schema.TimestampSlot && schema.TimestampFormat == TimestampFormat.EpochMillis);
        switch (value)
        {
            case string text:
                WriteText(writer, schema.Fields[field].Kind, text);
                break;
            case bool flag:
                writer.WriteBooleanValue(flag);
                break;
            case DateTime time:
                WriteTime(writer, new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)), epoch);
                break;
            case DateTimeOffset time:
                WriteTime(writer, time, epoch);
                break;
            case float or double:
                var number = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                if (double.IsFinite(number))
                {
                    writer.WriteNumberValue(number);
                }
                else
                {
                    writer.WriteStringValue(number.ToString(CultureInfo.InvariantCulture));
                }

                break;
            case decimal amount:
                writer.WriteNumberValue(amount);
                break;
            case sbyte or byte or short or ushort or int or uint or long:
                writer.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                break;
            default:
                writer.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }

    // A Parquet timestamp goes to an RFC 3339 source as text and to an epoch-ms source as its number.
    private static void WriteTime(Utf8JsonWriter writer, DateTimeOffset time, bool epoch)
    {
        if (epoch)
        {
            writer.WriteNumberValue(time.ToUnixTimeMilliseconds());
        }
        else
        {
            writer.WriteStringValue(time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        }
    }
}
