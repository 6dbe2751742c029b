using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using FeatureStore.Core.Drift;
using Parquet;

namespace FeatureStore.Parquet.Tables;

// The columns of a file read for a drift baseline or a one-shot drift report: enough to hold in memory. A
// column's kind comes from the repository (or the baseline) when known, so data never flips it: a numeric
// column reads NaN and infinities (nan, inf, -inf, NaN, Infinity, …) as values to count, and refuses text
// that is not a number. A column of unknown kind is numeric when it is a numeric Parquet type, or in CSV when
// every non-empty cell is a number.
public static partial class TableReader
{
    /// <summary>
    /// Reads the columns of <paramref name="path"/> named in <paramref name="wanted"/>, each of the kind given
    /// (null: from the data).
    /// </summary>
    /// <exception cref="TableFileException">A cell of a numeric column is not a number; the message names the file, the place and the value.</exception>
    public static async Task<ValueTable> ReadValuesAsync(string path, IReadOnlyDictionary<string, ColumnKind?> wanted, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(wanted);
        return path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase)
            ? ReadCsvValues(path, wanted)
            : await ReadParquetValuesAsync(path, wanted, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<ValueTable> ReadParquetValuesAsync(string path, IReadOnlyDictionary<string, ColumnKind?> wanted, CancellationToken cancellationToken)
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
                // Other types (times, binary, nested) are not monitored columns; they are left out.
                if (IsRead(field.ClrType))
                {
                    AddValues(await ParquetColumns.ReadAsync(group, field, cancellationToken).ConfigureAwait(false), numbers[field.Name], texts[field.Name]);
                }
            }
        }

        var columns = new Dictionary<string, ValueColumn>(StringComparer.Ordinal);
        foreach (var field in fields)
        {
            var kind = wanted[field.Name];
            if (IsNumeric(field.ClrType))
            {
                columns[field.Name] = kind == ColumnKind.Categorical
                    ? new ValueColumn(field.Name, null, [.. numbers[field.Name].Select(v => v.ToString("R", CultureInfo.InvariantCulture))])
                    : Numeric(field.Name, numbers[field.Name]);
            }
            else if (kind == ColumnKind.Numeric)
            {
                if (field.ClrType == typeof(bool))
                {
                    throw new TableFileException($"{path}: column '{field.Name}' is numeric in the repository but boolean in the file");
                }

                columns[field.Name] = Parse(field.Name, texts[field.Name], row => $"{path}: row {row}");
            }
            else
            {
                columns[field.Name] = new ValueColumn(field.Name, null, [.. texts[field.Name]]);
            }
        }

        return new ValueTable(rows, columns);
    }

    private static bool IsNumeric(Type type) =>
        type == typeof(double) || type == typeof(float) || type == typeof(int) || type == typeof(long)
        || type == typeof(short) || type == typeof(byte) || type == typeof(sbyte) || type == typeof(ushort)
        || type == typeof(uint) || type == typeof(ulong) || type == typeof(decimal);

    private static bool IsRead(Type type) =>
        type == typeof(string) || type == typeof(ReadOnlyMemory<char>) || type == typeof(double) || type == typeof(float)
        || type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(decimal) || type == typeof(bool);

    // The non-null values of a column read by ParquetColumns: numbers widened to double, booleans as text.
    private static void AddValues(Array values, List<double> numbers, List<string> texts)
    {
        switch (values)
        {
            case string?[] strings:
                texts.AddRange(strings.OfType<string>());
                break;
            case double?[] doubles:
                AddNumbers(doubles, numbers, v => v);
                break;
            case float?[] floats:
                AddNumbers(floats, numbers, v => v);
                break;
            case int?[] ints:
                AddNumbers(ints, numbers, v => v);
                break;
            case long?[] longs:
                AddNumbers(longs, numbers, v => v);
                break;
            case bool?[] booleans:
                texts.AddRange(booleans.Where(v => v.HasValue).Select(v => v!.Value ? "true" : "false"));
                break;
        }
    }

    private static void AddNumbers<T>(T?[] values, List<double> numbers, Func<T, double> convert)
        where T : struct
    {
        foreach (var v in values)
        {
            if (v.HasValue)
            {
                numbers.Add(convert(v.Value));
            }
        }
    }

    // Finite values kept, NaN and infinities counted.
    private static ValueColumn Numeric(string name, List<double> values)
    {
        var all = CollectionsMarshal.AsSpan(values);
        var nonFinite = NonFiniteCounts.Of(all);
        return new ValueColumn(name, nonFinite.Total() == 0 ? [.. values] : [.. values.Where(double.IsFinite)], null, nonFinite);
    }

    // Cells of a numeric column: every one a number (NaN and infinities included), or the first that is not is named.
    private static ValueColumn Parse(string name, List<string> cells, Func<int, string> where)
    {
        var values = new List<double>(cells.Count);
        for (var i = 0; i < cells.Count; i++)
        {
            if (!NumberText.TryParse(cells[i], out var value))
            {
                throw new TableFileException($"{where(i)}: column '{name}' is numeric but '{cells[i]}' is not a number (NaN and infinities may be written nan, inf, -inf)");
            }

            values.Add(value);
        }

        return Numeric(name, values);
    }

    private static ValueTable ReadCsvValues(string path, IReadOnlyDictionary<string, ColumnKind?> wanted)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        var header = ReadRecord(reader, path, 1, lenient: true, out var nextLine);
        if (header is null)
        {
            return new ValueTable(0, new Dictionary<string, ValueColumn>());
        }

        var cells = header.Select(_ => new List<string>()).ToArray();
        var cellLines = header.Select(_ => new List<int>()).ToArray();
        long rows = 0;
        while (true)
        {
            var line = nextLine;
            var record = ReadRecord(reader, path, line, lenient: true, out nextLine);
            if (record is null)
            {
                break;
            }

            if (record.Count == 1 && record[0].Value.Length == 0 && !record[0].Quoted)
            {
                continue; // blank line
            }

            rows++;
            for (var i = 0; i < header.Count && i < record.Count; i++)
            {
                if (record[i].Value.Length > 0)
                {
                    cells[i].Add(record[i].Value);
                    cellLines[i].Add(line);
                }
            }
        }

        var result = new Dictionary<string, ValueColumn>(StringComparer.Ordinal);
        for (var i = 0; i < header.Count; i++)
        {
            var name = header[i].Value;
            if (!wanted.TryGetValue(name, out var kind))
            {
                continue;
            }

            var lineOf = cellLines[i];
            kind ??= cells[i].Count > 0 && cells[i].TrueForAll(c => NumberText.TryParse(c, out _)) ? ColumnKind.Numeric : ColumnKind.Categorical;
            result[name] = kind == ColumnKind.Numeric
                ? Parse(name, cells[i], c => $"{path}:{lineOf[c]}")
                : new ValueColumn(name, null, [.. cells[i]]);
        }

        return new ValueTable(rows, result);
    }
}
