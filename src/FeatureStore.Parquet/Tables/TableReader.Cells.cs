// A few named columns of a file, aligned row by row in file order, for computations over pairs of columns (a
// validation set's scores and labels) where the drift reader's per-column lists, which drop nulls, would not line up.
namespace FeatureStore.Parquet.Tables;

/// <summary>The cells of some columns of a file, row by row in file order.</summary>
/// <param name="Rows">Rows in the file.</param>
/// <param name="FileColumns">Every column of the file, in order (to name them when one asked for is missing).</param>
/// <param name="Columns">The columns asked for that the file has: each cell as read (a CSV cell as its text, a Parquet cell as its value), null when empty.</param>
public sealed record CellTable(int Rows, IReadOnlyList<string> FileColumns, IReadOnlyDictionary<string, object?[]> Columns);

public static partial class TableReader
{
    /// <summary>Reads the columns of <paramref name="path"/> named in <paramref name="names"/> whole (CSV by the <c>.csv</c> extension, else Parquet).</summary>
    /// <exception cref="TableFileException">The file is missing, or is not Parquet or CSV, or a column asked for is nested.</exception>
    public static async Task<CellTable> ReadCellsAsync(string path, IReadOnlyCollection<string> names, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(names);
        if (!File.Exists(path))
        {
            throw new TableFileException($"{path}: no such file");
        }

        if (path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
        {
            var table = ReadCsv(path);
            return new CellTable(
                table.RowCount,
                [.. table.Columns.Select(c => c.Name)],
                table.Columns.Where(c => names.Contains(c.Name)).ToDictionary(c => c.Name, c => c.Values.Cast<object?>().ToArray(), StringComparer.Ordinal));
        }

        var reader = await OpenParquetAsync(path, cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            var all = reader.Schema.DataFields;
            var fields = all.Where(f => names.Contains(f.Name)).ToList();
            var cells = fields.ToDictionary(f => f.Name, _ => new List<object?>(), StringComparer.Ordinal);
            var rows = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                foreach (var field in fields)
                {
                    if (field.IsArray || field.MaxRepetitionLevel > 0)
                    {
                        throw new TableFileException($"{path}: column '{field.Name}' is nested or repeated; a flat column is needed");
                    }

                    try
                    {
                        cells[field.Name].AddRange((await ParquetColumns.ReadAsync(group, field, cancellationToken).ConfigureAwait(false)).Cast<object?>());
                    }
                    catch (InvalidDataException ex)
                    {
                        throw new TableFileException($"{path}: {ex.Message}");
                    }
                }

                rows += checked((int)group.RowCount);
            }

            return new CellTable(rows, [.. all.Select(f => f.Name)], cells.ToDictionary(c => c.Key, c => c.Value.ToArray(), StringComparer.Ordinal));
        }
    }
}
