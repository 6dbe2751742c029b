namespace FeatureStore.Parquet.Tables;

/// <summary>
/// One column of an in-memory table: a name and its values as a typed array with nulls
/// (<c>string?[]</c>, <c>long?[]</c>, <c>int?[]</c>, <c>double?[]</c>, <c>float?[]</c>, <c>bool?[]</c>,
/// <c>DateTime?[]</c>). Entity tables, exports and their writers share it.
/// </summary>
internal sealed record TableColumn(string Name, Array Values)
{
    public int Length => Values.Length;

    public Type ElementType => Nullable.GetUnderlyingType(Values.GetType().GetElementType()!) ?? Values.GetType().GetElementType()!;

    public object? this[int row] => Values.GetValue(row);
}

/// <summary>A table: columns of equal length, in order.</summary>
internal sealed class Table(IReadOnlyList<TableColumn> columns, int rows)
{
    public IReadOnlyList<TableColumn> Columns { get; } = columns;

    public int RowCount { get; } = rows;

    public TableColumn? Find(string name) => Columns.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.Ordinal));
}
