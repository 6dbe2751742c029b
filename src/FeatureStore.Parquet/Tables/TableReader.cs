using System.Text;
using Parquet;

namespace FeatureStore.Parquet.Tables;

/// <summary>
/// Reads tables from Parquet or CSV (by extension: <c>.csv</c> is CSV, anything else Parquet): an entity table
/// whole, as typed columns (<see cref="ReadAsync"/>), or the columns a drift baseline or report wants as
/// numbers or text (<see cref="ReadValuesAsync"/>). One CSV reader serves both (<c>TableReader.Csv.cs</c>).
/// </summary>
public static partial class TableReader
{
    internal static async Task<Table> ReadAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new TableFileException($"{path}: no such file");
        }

        return path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase)
            ? ReadCsv(path)
            : await ReadParquetAsync(path, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens a Parquet file; one that is not Parquet (or cannot be read) is a <see cref="TableFileException"/> naming it.</summary>
    internal static async Task<ParquetReader> OpenParquetAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            return await ParquetReader.CreateAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or global::Parquet.ParquetException or InvalidDataException)
        {
            throw new TableFileException($"{path}: not a Parquet file ({ex.Message})");
        }
    }

    internal static async Task<Table> ReadParquetAsync(string path, CancellationToken cancellationToken)
    {
        var reader = await OpenParquetAsync(path, cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            var fields = reader.Schema.DataFields;
            var parts = fields.Select(_ => new List<Array>()).ToArray();
            var rows = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                for (var f = 0; f < fields.Length; f++)
                {
                    if (fields[f].IsArray || fields[f].MaxRepetitionLevel > 0)
                    {
                        throw new TableFileException($"{path}: column '{fields[f].Name}' is nested or repeated; entity tables need flat columns");
                    }

                    try
                    {
                        parts[f].Add(await ParquetColumns.ReadAsync(group, fields[f], cancellationToken).ConfigureAwait(false));
                    }
                    catch (InvalidDataException ex)
                    {
                        throw new TableFileException($"{path}: {ex.Message}");
                    }
                }

                rows += checked((int)group.RowCount);
            }

            var columns = new List<TableColumn>(fields.Length);
            for (var f = 0; f < fields.Length; f++)
            {
                columns.Add(new TableColumn(fields[f].Name, Concat(parts[f], rows, fields[f].ClrType)));
            }

            return new Table(columns, rows);
        }
    }

    private static Array Concat(List<Array> parts, int rows, Type clrType)
    {
        if (parts.Count == 1)
        {
            return parts[0];
        }

        var elementType = parts.Count > 0 ? parts[0].GetType().GetElementType()! : clrType == typeof(ReadOnlyMemory<char>) ? typeof(string) : clrType.IsValueType ? typeof(Nullable<>).MakeGenericType(clrType) : clrType;
        var result = Array.CreateInstance(elementType, rows);
        var at = 0;
        foreach (var part in parts)
        {
            Array.Copy(part, 0, result, at, part.Length);
            at += part.Length;
        }

        return result;
    }

    /// <summary>RFC 4180 CSV with a header line; every column is read as text (empty is null).</summary>
    internal static Table ReadCsv(string path)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        var header = ReadRecord(reader, path, 1, lenient: false, out var nextLine);
        if (header is null)
        {
            throw new TableFileException($"{path}:1:1: empty file: a header line with the column names is needed");
        }

        for (var i = 0; i < header.Count; i++)
        {
            if (header[i].Value.Length == 0)
            {
                throw new TableFileException($"{path}:1:{header[i].Column}: empty column name");
            }

            for (var j = 0; j < i; j++)
            {
                if (header[j].Value == header[i].Value)
                {
                    throw new TableFileException($"{path}:1:{header[i].Column}: column '{header[i].Value}' appears twice");
                }
            }
        }

        var values = header.Select(_ => new List<string?>()).ToArray();
        while (true)
        {
            var line = nextLine;
            var record = ReadRecord(reader, path, line, lenient: false, out nextLine);
            if (record is null)
            {
                break;
            }

            if (record.Count == 1 && record[0].Value.Length == 0 && !record[0].Quoted)
            {
                continue; // blank line
            }

            if (record.Count != header.Count)
            {
                var column = record.Count > header.Count ? record[header.Count].Column : record[^1].Column + record[^1].Value.Length;
                throw new TableFileException($"{path}:{line}:{column}: {record.Count} fields where the header has {header.Count}");
            }

            for (var i = 0; i < record.Count; i++)
            {
                values[i].Add(record[i].Value.Length == 0 && !record[i].Quoted ? null : record[i].Value);
            }
        }

        var rows = values.Length == 0 ? 0 : values[0].Count;
        return new Table([.. header.Select((h, i) => new TableColumn(h.Value, values[i].ToArray()))], rows);
    }
}
