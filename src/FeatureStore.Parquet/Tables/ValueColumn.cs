using FeatureStore.Core.Drift;

namespace FeatureStore.Parquet.Tables;

/// <summary>What a column holds when read for drift: numbers or categories.</summary>
public enum ColumnKind
{
    /// <summary>Numbers (NaN and infinities counted apart).</summary>
    Numeric,

    /// <summary>Text and booleans.</summary>
    Categorical,
}

/// <summary>
/// One column read for drift: finite numbers (nulls dropped; NaN and infinities counted in <paramref name="NonFinite"/>)
/// or text (nulls dropped).
/// </summary>
/// <param name="Name">The column's name in the file.</param>
/// <param name="Numbers">The finite numbers of a numeric column, else null.</param>
/// <param name="Texts">The values of a categorical column, else null.</param>
/// <param name="NonFinite">The NaN and infinities of a numeric column.</param>
public sealed record ValueColumn(string Name, double[]? Numbers, string[]? Texts, NonFiniteCounts? NonFinite = null)
{
    /// <summary>The values kept.</summary>
    public long Count => Numbers?.LongLength ?? Texts!.LongLength;
}

/// <summary>The columns read for drift from a file, and its number of rows.</summary>
/// <param name="Rows">Rows in the file.</param>
/// <param name="Columns">The columns asked for that the file has, by name.</param>
public sealed record ValueTable(long Rows, IReadOnlyDictionary<string, ValueColumn> Columns);
