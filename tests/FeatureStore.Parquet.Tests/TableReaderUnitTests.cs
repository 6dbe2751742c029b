using FeatureStore.Parquet.Tables;

namespace FeatureStore.Parquet.Tests;

/// <summary>
/// The one CSV tokenizer in its two modes: strict for entity tables, lenient (line by line) for the values a
/// drift baseline or report reads.
/// </summary>
public sealed class TableReaderUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-tables-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Values_read_ragged_rows_and_stray_quotes_line_by_line_where_an_entity_table_is_refused()
    {
        var path = Path.Combine(_dir, "train.csv");
        await File.WriteAllTextAsync(path, "score,segment\n0.5,a\"b\n1.5\n\n2.5,\"open\n3.5,x,extra\n", Ct);

        var values = await TableReader.ReadValuesAsync(path, new Dictionary<string, ColumnKind?> { ["score"] = null, ["segment"] = null }, Ct);

        Assert.Equal(4, values.Rows);
        Assert.Equal([0.5, 1.5, 2.5, 3.5], values.Columns["score"].Numbers!);
        Assert.Equal(["ab", "open", "x"], values.Columns["segment"].Texts!);
        Assert.Throws<TableFileException>(() => TableReader.ReadCsv(path));
    }

    [Fact]
    public async Task A_cell_of_a_numeric_column_that_is_no_number_is_named_with_its_file_and_line()
    {
        var path = Path.Combine(_dir, "train.csv");
        await File.WriteAllTextAsync(path, "score\n0.1\nnan\n\nhigh\n", Ct);

        var error = await Assert.ThrowsAsync<TableFileException>(() => TableReader.ReadValuesAsync(path, new Dictionary<string, ColumnKind?> { ["score"] = ColumnKind.Numeric }, Ct));

        Assert.StartsWith($"{path}:5: column 'score' is numeric but 'high' is not a number", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_file_has_no_values_and_no_rows()
    {
        var path = Path.Combine(_dir, "empty.csv");
        await File.WriteAllTextAsync(path, "", Ct);

        var values = await TableReader.ReadValuesAsync(path, new Dictionary<string, ColumnKind?> { ["score"] = null }, Ct);

        Assert.Equal(0, values.Rows);
        Assert.Empty(values.Columns);
    }

    [Fact]
    public async Task A_parquet_table_longer_than_a_row_group_is_written_in_several_and_reads_back_whole()
    {
        var rows = (2 * TableWriter.RowGroupSize) + 1;
        var random = new Random(26);
        var keys = new string?[rows];
        var counts = new long?[rows];
        var means = new double?[rows];
        for (var r = 0; r < rows; r++)
        {
            keys[r] = random.Next(10) == 0 ? null : "u" + random.Next(1000).ToString(System.Globalization.CultureInfo.InvariantCulture);
            counts[r] = random.Next(7) == 0 ? null : random.NextInt64(-5, 1L << 40);
            means[r] = random.Next(5) == 0 ? null : random.NextDouble() * 1e6;
        }

        var path = Path.Combine(_dir, "wide.parquet");
        await TableWriter.WriteAsync(new Table([new TableColumn("user_id", keys), new TableColumn("n", counts), new TableColumn("mean", means)], rows), path, ExportFormat.Parquet, Ct);

        var reader = await global::Parquet.ParquetReader.CreateAsync(path, cancellationToken: Ct);
        await using (reader)
        {
            Assert.Equal(3, reader.RowGroupCount);
        }

        var back = await TableReader.ReadAsync(path, Ct);
        Assert.Equal(rows, back.RowCount);
        Assert.Equal(keys, (string?[])back.Columns[0].Values);
        Assert.Equal(counts, (long?[])back.Columns[1].Values);
        Assert.Equal(means, (double?[])back.Columns[2].Values);
    }
}
