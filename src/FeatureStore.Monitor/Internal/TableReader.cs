using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Monitor.Internal;

/// <summary>One column of a table: numbers (nulls and non-finite values dropped) or text (nulls dropped).</summary>
internal sealed record TableColumn(string Name, double[]? Numbers, string[]? Texts)
{
    public long Count => Numbers?.LongLength ?? Texts!.LongLength;
}

/// <summary>
/// Reads the columns of a Parquet or CSV file into memory: enough for a baseline or a one-shot drift
/// report. Numeric Parquet columns become numbers, text and booleans text; CSV columns are numbers when
/// every non-empty cell parses as one.
/// </summary>
internal static class TableReader
{
    public static async Task<IReadOnlyDictionary<string, TableColumn>> ReadAsync(string path, IReadOnlySet<string>? wanted, CancellationToken cancellationToken)
    {
        return path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase)
            ? await ReadCsvAsync(path, wanted, cancellationToken).ConfigureAwait(false)
            : await ReadParquetAsync(path, wanted, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<Dictionary<string, TableColumn>> ReadParquetAsync(string path, IReadOnlySet<string>? wanted, CancellationToken cancellationToken)
    {
        await using var reader = await ParquetReader.CreateAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
        var fields = reader.Schema.GetDataFields().Where(f => wanted is null || wanted.Contains(f.Name)).ToList();
        var numbers = fields.ToDictionary(f => f.Name, _ => new List<double>());
        var texts = fields.ToDictionary(f => f.Name, _ => new List<string>());
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var rows = (int)group.RowCount;
            foreach (var field in fields)
            {
                await ReadFieldAsync(group, field, rows, numbers[field.Name], texts[field.Name], cancellationToken).ConfigureAwait(false);
            }
        }

        return fields.ToDictionary(f => f.Name, f => IsNumeric(f.ClrType)
            ? new TableColumn(f.Name, [.. numbers[f.Name]], null)
            : new TableColumn(f.Name, null, [.. texts[f.Name]]));
    }

    private static bool IsNumeric(Type type) =>
        type == typeof(double) || type == typeof(float) || type == typeof(int) || type == typeof(long)
        || type == typeof(short) || type == typeof(byte) || type == typeof(sbyte) || type == typeof(ushort)
        || type == typeof(uint) || type == typeof(ulong) || type == typeof(decimal);

    private static async Task ReadFieldAsync(ParquetRowGroupReader group, DataField field, int rows, List<double> numbers, List<string> texts, CancellationToken cancellationToken)
    {
        var type = field.ClrType;
        if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>))
        {
            var values = new string?[rows];
            await group.ReadAsync(field, values.AsMemory(), null, cancellationToken).ConfigureAwait(false);
            texts.AddRange(values.OfType<string>());
        }
        else if (type == typeof(double))
        {
            await ReadNumbersAsync<double>(group, field, rows, numbers, v => v, cancellationToken).ConfigureAwait(false);
        }
        else if (type == typeof(float))
        {
            await ReadNumbersAsync<float>(group, field, rows, numbers, v => v, cancellationToken).ConfigureAwait(false);
        }
        else if (type == typeof(int))
        {
            await ReadNumbersAsync<int>(group, field, rows, numbers, v => v, cancellationToken).ConfigureAwait(false);
        }
        else if (type == typeof(long))
        {
            await ReadNumbersAsync<long>(group, field, rows, numbers, v => v, cancellationToken).ConfigureAwait(false);
        }
        else if (type == typeof(short))
        {
            await ReadNumbersAsync<short>(group, field, rows, numbers, v => v, cancellationToken).ConfigureAwait(false);
        }
        else if (type == typeof(decimal))
        {
            await ReadNumbersAsync<decimal>(group, field, rows, numbers, v => (double)v, cancellationToken).ConfigureAwait(false);
        }
        else if (type == typeof(bool))
        {
            var values = new bool?[rows];
            if (field.IsNullable)
            {
                await group.ReadAsync(field, values.AsMemory(), null, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var plain = new bool[rows];
                await group.ReadAsync(field, plain.AsMemory(), null, cancellationToken).ConfigureAwait(false);
                values = [.. plain.Select(v => (bool?)v)];
            }

            texts.AddRange(values.Where(v => v.HasValue).Select(v => v!.Value ? "true" : "false"));
        }

        // Other types (times, binary, nested) are not monitored columns; they are left out.
    }

    private static async Task ReadNumbersAsync<T>(ParquetRowGroupReader group, DataField field, int rows, List<double> numbers, Func<T, double> convert, CancellationToken cancellationToken)
        where T : struct
    {
        // A required column read into nullable memory comes back with stray nulls (Parquet.Net 6 leaves its
        // definition levels unset), so each column is read in the nullability it was written with.
        if (!field.IsNullable)
        {
            var plain = new T[rows];
            await group.ReadAsync(field, plain.AsMemory(), null, cancellationToken).ConfigureAwait(false);
            foreach (var v in plain)
            {
                if (double.IsFinite(convert(v)))
                {
                    numbers.Add(convert(v));
                }
            }

            return;
        }

        var values = new T?[rows];
        await group.ReadAsync(field, values.AsMemory(), null, cancellationToken).ConfigureAwait(false);
        foreach (var v in values)
        {
            if (v.HasValue && double.IsFinite(convert(v.Value)))
            {
                numbers.Add(convert(v.Value));
            }
        }
    }

    private static async Task<Dictionary<string, TableColumn>> ReadCsvAsync(string path, IReadOnlySet<string>? wanted, CancellationToken cancellationToken)
    {
        var lines = await File.ReadAllLinesAsync(path, cancellationToken).ConfigureAwait(false);
        if (lines.Length == 0)
        {
            return [];
        }

        var header = SplitCsv(lines[0]);
        var cells = header.Select(_ => new List<string>()).ToArray();
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var row = SplitCsv(line);
            for (var i = 0; i < header.Count && i < row.Count; i++)
            {
                if (row[i].Length > 0)
                {
                    cells[i].Add(row[i]);
                }
            }
        }

        var result = new Dictionary<string, TableColumn>(StringComparer.Ordinal);
        for (var i = 0; i < header.Count; i++)
        {
            if (wanted is not null && !wanted.Contains(header[i]))
            {
                continue;
            }

            var parsed = new double[cells[i].Count];
            var numeric = true;
            for (var j = 0; j < parsed.Length && numeric; j++)
            {
                numeric = double.TryParse(cells[i][j], NumberStyles.Float, CultureInfo.InvariantCulture, out parsed[j]);
            }

            result[header[i]] = numeric && parsed.Length > 0
                ? new TableColumn(header[i], [.. parsed.Where(double.IsFinite)], null)
                : new TableColumn(header[i], null, [.. cells[i]]);
        }

        return result;
    }

    // RFC 4180 fields: commas inside double quotes, "" for a quote.
    private static List<string> SplitCsv(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    current.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        fields.Add(current.ToString().TrimEnd('\r'));
        return fields;
    }
}
