using System.Globalization;
using FeatureStore.Core.Drift;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Monitor.Internal;

/// <summary>What a monitored column holds: numbers or categories.</summary>
internal enum ColumnKind
{
    /// <summary>Numbers (NaN and infinities counted apart).</summary>
    Numeric,

    /// <summary>Text and booleans.</summary>
    Categorical,
}

/// <summary>
/// One column of a table: finite numbers (nulls dropped; NaN and infinities counted in <paramref name="NonFinite"/>)
/// or text (nulls dropped).
/// </summary>
internal sealed record TableColumn(string Name, double[]? Numbers, string[]? Texts, NonFiniteCounts? NonFinite = null)
{
    public long Count => Numbers?.LongLength ?? Texts!.LongLength;
}

/// <summary>The columns read from a file and its number of rows.</summary>
internal sealed record Table(long Rows, IReadOnlyDictionary<string, TableColumn> Columns);

/// <summary>A cell of a column declared numeric is not a number; the message names the file, the place and the value.</summary>
internal sealed class TableFormatException(string message) : Exception(message);

/// <summary>
/// Reads the columns of a Parquet or CSV file into memory: enough for a baseline or a one-shot drift
/// report. A column's kind comes from the repository (or the baseline) when known, so data never flips it:
/// a numeric column reads NaN and infinities (<c>nan</c>, <c>inf</c>, <c>-inf</c>, <c>NaN</c>,
/// <c>Infinity</c>, …) as values to count, and refuses text that is not a number. A column of unknown kind
/// is numeric when it is a numeric Parquet type, or in CSV when every non-empty cell is a number.
/// </summary>
internal static class TableReader
{
    public static async Task<Table> ReadAsync(string path, IReadOnlyDictionary<string, ColumnKind?> wanted, CancellationToken cancellationToken)
    {
        return path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase)
            ? await ReadCsvAsync(path, wanted, cancellationToken).ConfigureAwait(false)
            : await ReadParquetAsync(path, wanted, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<Table> ReadParquetAsync(string path, IReadOnlyDictionary<string, ColumnKind?> wanted, CancellationToken cancellationToken)
    {
        await using var reader = await ParquetReader.CreateAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
        var fields = reader.Schema.GetDataFields().Where(f => wanted.ContainsKey(f.Name)).ToList();
        var numbers = fields.ToDictionary(f => f.Name, _ => new List<double>());
        var texts = fields.ToDictionary(f => f.Name, _ => new List<string>());
        long rows = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            rows += group.RowCount;
            foreach (var field in fields)
            {
                await ReadFieldAsync(group, field, (int)group.RowCount, numbers[field.Name], texts[field.Name], cancellationToken).ConfigureAwait(false);
            }
        }

        var columns = new Dictionary<string, TableColumn>(StringComparer.Ordinal);
        foreach (var field in fields)
        {
            var kind = wanted[field.Name];
            if (IsNumeric(field.ClrType))
            {
                columns[field.Name] = kind == ColumnKind.Categorical
                    ? new TableColumn(field.Name, null, [.. numbers[field.Name].Select(v => v.ToString("R", CultureInfo.InvariantCulture))])
                    : Numeric(field.Name, numbers[field.Name]);
            }
            else if (kind == ColumnKind.Numeric)
            {
                if (field.ClrType == typeof(bool))
                {
                    throw new TableFormatException($"{path}: column '{field.Name}' is numeric in the repository but boolean in the file");
                }

                columns[field.Name] = Parse(field.Name, texts[field.Name], row => $"{path}: row {row}");
            }
            else
            {
                columns[field.Name] = new TableColumn(field.Name, null, [.. texts[field.Name]]);
            }
        }

        return new Table(rows, columns);
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
        else if (type == typeof(bool) && !field.IsNullable)
        {
            var values = new bool[rows]; // plain values for a required column, as ReadNumbersAsync explains
            await group.ReadAsync(field, values.AsMemory(), null, cancellationToken).ConfigureAwait(false);
            texts.AddRange(values.Select(v => v ? "true" : "false"));
        }
        else if (type == typeof(bool))
        {
            var values = new bool?[rows];
            await group.ReadAsync(field, values.AsMemory(), null, cancellationToken).ConfigureAwait(false);
            texts.AddRange(values.Where(v => v.HasValue).Select(v => v!.Value ? "true" : "false"));
        }

        // Other types (times, binary, nested) are not monitored columns; they are left out.
    }

    private static async Task ReadNumbersAsync<T>(ParquetRowGroupReader group, DataField field, int rows, List<double> numbers, Func<T, double> convert, CancellationToken cancellationToken)
        where T : struct
    {
        // A required column is read into plain values: read into nullable ones, Parquet.Net can take some values
        // for nulls when its pooled definition-level buffer was left dirty by another reader.
        if (!field.IsNullable)
        {
            var required = new T[rows];
            await group.ReadAsync(field, required.AsMemory(), null, cancellationToken).ConfigureAwait(false);
            foreach (var v in required)
            {
                numbers.Add(convert(v));
            }

            return;
        }

        var values = new T?[rows];
        await group.ReadAsync(field, values.AsMemory(), null, cancellationToken).ConfigureAwait(false);
        foreach (var v in values)
        {
            if (v.HasValue)
            {
                numbers.Add(convert(v.Value));
            }
        }
    }

    // Finite values kept, NaN and infinities counted.
    private static TableColumn Numeric(string name, List<double> values)
    {
        var all = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(values);
        var nonFinite = NonFiniteCounts.Of(all);
        return new TableColumn(name, nonFinite.Total() == 0 ? [.. values] : [.. values.Where(double.IsFinite)], null, nonFinite);
    }

    // Cells of a numeric column: every one a number (NaN and infinities included), or the first that is not is named.
    private static TableColumn Parse(string name, List<string> cells, Func<int, string> where)
    {
        var values = new List<double>(cells.Count);
        for (var i = 0; i < cells.Count; i++)
        {
            if (!NumberText.TryParse(cells[i], out var value))
            {
                throw new TableFormatException($"{where(i)}: column '{name}' is numeric but '{cells[i]}' is not a number (NaN and infinities may be written nan, inf, -inf)");
            }

            values.Add(value);
        }

        return Numeric(name, values);
    }

    private static async Task<Table> ReadCsvAsync(string path, IReadOnlyDictionary<string, ColumnKind?> wanted, CancellationToken cancellationToken)
    {
        var lines = await File.ReadAllLinesAsync(path, cancellationToken).ConfigureAwait(false);
        if (lines.Length == 0)
        {
            return new Table(0, new Dictionary<string, TableColumn>());
        }

        var header = SplitCsv(lines[0]);
        var cells = header.Select(_ => new List<string>()).ToArray();
        var cellLines = header.Select(_ => new List<int>()).ToArray();
        long rows = 0;
        for (var l = 1; l < lines.Length; l++)
        {
            if (lines[l].Length == 0)
            {
                continue;
            }

            rows++;
            var row = SplitCsv(lines[l]);
            for (var i = 0; i < header.Count && i < row.Count; i++)
            {
                if (row[i].Length > 0)
                {
                    cells[i].Add(row[i]);
                    cellLines[i].Add(l + 1);
                }
            }
        }

        var result = new Dictionary<string, TableColumn>(StringComparer.Ordinal);
        for (var i = 0; i < header.Count; i++)
        {
            if (!wanted.TryGetValue(header[i], out var kind))
            {
                continue;
            }

            var lineOf = cellLines[i];
            kind ??= cells[i].Count > 0 && cells[i].TrueForAll(c => NumberText.TryParse(c, out _)) ? ColumnKind.Numeric : ColumnKind.Categorical;
            result[header[i]] = kind == ColumnKind.Numeric
                ? Parse(header[i], cells[i], c => $"{path}:{lineOf[c]}")
                : new TableColumn(header[i], null, [.. cells[i]]);
        }

        return new Table(rows, result);
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
