using Apache.Arrow;
using Apache.Arrow.Ipc;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Tables;
using Parquet;
using Parquet.Schema;
using Table = FeatureStore.Parquet.Tables.Table;

namespace FeatureStore.Parquet.Tests;

/// <summary>
/// The export's list and count columns (last_n, last_n_distinct, top_k) in each format: Parquet LIST and MAP
/// columns read back with their nulls and order, Arrow List and Map arrays, CSV cells of JSON text.
/// </summary>
public sealed class CollectionColumnsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-lists-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Table Sample() => new(
    [
        new TableColumn("user_id", new string?[] { "u1", "u2", "u3", "u4" }),
        new TableColumn("v__last_merchants", new IReadOnlyList<string>?[] { ["m2", "m1", "m2"], null, ["zürich, \"quoted\""], [] }),
        new TableColumn("v__last_amounts", new IReadOnlyList<double>?[] { null, [2.5, -1, 1e300], [0], [] }),
        new TableColumn("v__top_merchants", new IReadOnlyList<ValueCount>?[] { [new("m9", 7), new("m1", 7), new("m3", 2)], [new("x", 1)], null, [] }),
    ], 4);

    [Fact]
    public async Task Parquet_writes_lists_and_counts_as_list_and_map_columns_with_their_nulls()
    {
        var path = Path.Combine(_dir, "out.parquet");
        await TableWriter.WriteAsync(Sample(), path, ExportFormat.Parquet, Ct);

        var reader = await ParquetReader.CreateAsync(path, cancellationToken: Ct);
        await using (reader)
        {
            Assert.IsType<ListField>(reader.Schema.Fields[1]);
            Assert.IsType<ListField>(reader.Schema.Fields[2]);
            Assert.IsType<MapField>(reader.Schema.Fields[3]);
            using var group = reader.OpenRowGroupReader(0);
            var leaves = reader.Schema.DataFields;

            var merchants = await ReadAsync<ReadOnlyMemory<char>>(group, leaves[1], values: 4, levels: 6);
            Assert.Equal(["m2", "m1", "m2", "zürich, \"quoted\""], merchants.Values.Select(m => m.ToString()));
            Assert.Equal([0, 1, 1, 0, 0, 0], merchants.Repetitions);
            Assert.Equal([2, 2, 2, 0, 2, 1], merchants.Definitions); // a null list, then an empty one

            var amounts = await ReadAsync<double>(group, leaves[2], values: 4, levels: 6);
            Assert.Equal([2.5, -1, 1e300, 0], amounts.Values);
            Assert.Equal([0, 2, 2, 2, 2, 1], amounts.Definitions);

            var keys = await ReadAsync<ReadOnlyMemory<char>>(group, leaves[3], values: 4, levels: 6);
            var counts = await ReadAsync<long>(group, leaves[4], values: 4, levels: 6);
            Assert.Equal(["m9", "m1", "m3", "x"], keys.Values.Select(k => k.ToString()));
            Assert.Equal([7L, 7, 2, 1], counts.Values);
            Assert.Equal([2, 2, 2, 2, 0, 1], counts.Definitions);
            Assert.Equal([0, 1, 1, 0, 0, 0], counts.Repetitions);
        }
    }

    private static async Task<(T[] Values, int[] Definitions, int[] Repetitions)> ReadAsync<T>(ParquetRowGroupReader group, DataField field, int values, int levels)
        where T : struct
    {
        // The values come packed, the null and empty lists' places only in the levels.
        var read = (new T[levels], new int[levels], new int[levels]);
        await group.ReadRawAsync<T>(field, read.Item1, read.Item2, read.Item3, Ct);
        return (read.Item1[..values], read.Item2, read.Item3);
    }

    [Fact]
    public async Task Arrow_writes_list_and_map_arrays_and_csv_writes_json_text()
    {
        var arrow = Path.Combine(_dir, "out.arrow");
        var csv = Path.Combine(_dir, "out.csv");
        await TableWriter.WriteAsync(Sample(), arrow, ExportFormat.Arrow, Ct);
        await TableWriter.WriteAsync(Sample(), csv, ExportFormat.Csv, Ct);

        using (var stream = File.OpenRead(arrow))
        using (var reader = new ArrowFileReader(stream))
        {
            var batch = await reader.ReadNextRecordBatchAsync(Ct);
            var merchants = (ListArray)batch.Column("v__last_merchants");
            Assert.True(merchants.IsNull(1));
            var first = (StringArray)merchants.GetSlicedValues(0);
            Assert.Equal(["m2", "m1", "m2"], Enumerable.Range(0, first.Length).Select(i => first.GetString(i)));
            Assert.Equal(0, merchants.GetValueLength(3));
            var amounts = (ListArray)batch.Column("v__last_amounts");
            Assert.Equal([2.5, -1, 1e300], ((DoubleArray)amounts.GetSlicedValues(1)).Values.ToArray());
            var top = (MapArray)batch.Column("v__top_merchants");
            Assert.True(top.IsNull(2));
            Assert.Equal(3, top.GetValueLength(0));
            Assert.Equal("m1", ((StringArray)top.Keys).GetString(1));
            Assert.Equal(7, ((Int64Array)top.Values).GetValue(1));
        }

        var lines = File.ReadAllLines(csv);
        Assert.Equal("user_id,v__last_merchants,v__last_amounts,v__top_merchants", lines[0]);
        Assert.Equal("u1,\"[\"\"m2\"\",\"\"m1\"\",\"\"m2\"\"]\",,\"{\"\"m9\"\":7,\"\"m1\"\":7,\"\"m3\"\":2}\"", lines[1]);
        Assert.Equal("u2,,\"[2.5,-1,1E+300]\",\"{\"\"x\"\":1}\"", lines[2]);
        Assert.Equal("u4,[],[],{}", lines[4]);
    }

    [Fact]
    public async Task Int_lists_are_parquet_lists_of_int64_arrow_int64_lists_and_csv_integers()
    {
        var table = new Table(
        [
            new TableColumn("user_id", new string?[] { "u1", "u2", "u3" }),
            new TableColumn("v__last_quantities", new IReadOnlyList<long>?[] { [9_007_199_254_740_993, -3], null, [] }),
        ], 3);
        var parquet = Path.Combine(_dir, "ints.parquet");
        var arrow = Path.Combine(_dir, "ints.arrow");
        var csv = Path.Combine(_dir, "ints.csv");
        await TableWriter.WriteAsync(table, parquet, ExportFormat.Parquet, Ct);
        await TableWriter.WriteAsync(table, arrow, ExportFormat.Arrow, Ct);
        await TableWriter.WriteAsync(table, csv, ExportFormat.Csv, Ct);

        var reader = await ParquetReader.CreateAsync(parquet, cancellationToken: Ct);
        await using (reader)
        {
            var list = Assert.IsType<ListField>(reader.Schema.Fields[1]);
            Assert.Equal(typeof(long), ((DataField)list.Item).ClrType);
            using var group = reader.OpenRowGroupReader(0);
            var quantities = await ReadAsync<long>(group, reader.Schema.DataFields[1], values: 2, levels: 4);
            Assert.Equal([9_007_199_254_740_993, -3], quantities.Values);
            Assert.Equal([2, 2, 0, 1], quantities.Definitions);
        }

        using (var stream = File.OpenRead(arrow))
        using (var arrowReader = new ArrowFileReader(stream))
        {
            var batch = await arrowReader.ReadNextRecordBatchAsync(Ct);
            var column = (ListArray)batch.Column("v__last_quantities");
            Assert.Equal([9_007_199_254_740_993, -3], ((Int64Array)column.GetSlicedValues(0)).Values.ToArray());
            Assert.True(column.IsNull(1));
        }

        var lines = File.ReadAllLines(csv);
        Assert.Equal("u1,\"[9007199254740993,-3]\"", lines[1]);
        Assert.Equal("u3,[]", lines[3]);
    }

    [Fact]
    public void The_export_column_of_an_int_list_feature_holds_integers_and_of_a_double_one_doubles()
    {
        var window = new Core.Windows.WindowSpec(3_600_000, 60_000);
        var ints = PointInTimeJoin.NewColumn(new WindowedFeature(AggregationKind.LastN, window, Parameter: 3, IntValued: true), 2);
        var doubles = PointInTimeJoin.NewColumn(new WindowedFeature(AggregationKind.LastNDistinct, window, Parameter: 3), 2);
        var integers = Assert.IsType<IReadOnlyList<long>?[]>(ints);
        Assert.IsType<IReadOnlyList<double>?[]>(doubles);

        PointInTimeJoin.Store(ints, 0, FeatureValue.OfInt64s([7, -1], 5));
        PointInTimeJoin.Store(ints, 1, FeatureValue.Null(ValueStatus.NotFound));
        Assert.Equal([7L, -1], integers[0]!);
        Assert.Null(integers[1]);
    }
}
