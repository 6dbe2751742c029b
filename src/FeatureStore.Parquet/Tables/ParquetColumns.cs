using Parquet;
using Parquet.Schema;

namespace FeatureStore.Parquet.Tables;

/// <summary>Reads whole Parquet columns into the typed nullable arrays of <see cref="TableColumn"/>.</summary>
internal static class ParquetColumns
{
    public static async Task<Array> ReadAsync(ParquetRowGroupReader group, DataField field, CancellationToken cancellationToken)
    {
        var n = checked((int)group.RowCount);
        var type = field.ClrType;
        if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>))
        {
            var values = new string?[n];
            await group.ReadAsync(field, values.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
            return values;
        }

        return type switch
        {
            _ when type == typeof(long) => await ReadAsync<long>(group, field, n, cancellationToken).ConfigureAwait(false),
            _ when type == typeof(int) => await ReadAsync<int>(group, field, n, cancellationToken).ConfigureAwait(false),
            _ when type == typeof(double) => await ReadAsync<double>(group, field, n, cancellationToken).ConfigureAwait(false),
            _ when type == typeof(float) => await ReadAsync<float>(group, field, n, cancellationToken).ConfigureAwait(false),
            _ when type == typeof(bool) => await ReadAsync<bool>(group, field, n, cancellationToken).ConfigureAwait(false),
            _ when type == typeof(DateTime) => await ReadAsync<DateTime>(group, field, n, cancellationToken).ConfigureAwait(false),
            _ when type == typeof(DateTimeOffset) => await ReadAsync<DateTimeOffset>(group, field, n, cancellationToken).ConfigureAwait(false),
            _ when type == typeof(short) => Widen(await ReadAsync<short>(group, field, n, cancellationToken).ConfigureAwait(false)),
            _ when type == typeof(decimal) => (await ReadAsync<decimal>(group, field, n, cancellationToken).ConfigureAwait(false)).Select(v => (double?)v).ToArray(),
            _ => throw new InvalidDataException($"column '{field.Name}' has type {type.Name}, which is not supported"),
        };
    }

    /// <summary>
    /// Reads a text column as the decoded characters of each value (no string made per value), or null when
    /// the column is not text. Each value has characters of its own (Parquet.Net allocates them per value), so
    /// they stay valid while other columns are read.
    /// </summary>
    public static Task<ReadOnlyMemory<char>?[]?> ReadTextAsync(ParquetRowGroupReader group, DataField field, CancellationToken cancellationToken) =>
        ReadTextAsync(group, field, n => new ReadOnlyMemory<char>?[n], n => new ReadOnlyMemory<char>[n], cancellationToken);

    /// <summary>
    /// As <see cref="ReadTextAsync(ParquetRowGroupReader, DataField, CancellationToken)"/>, into arrays of at least the
    /// group's row count from <paramref name="values"/> (the result) and <paramref name="scratch"/> (a required column's
    /// values before they are wrapped).
    /// </summary>
    public static async Task<ReadOnlyMemory<char>?[]?> ReadTextAsync(
        ParquetRowGroupReader group, DataField field, Func<int, ReadOnlyMemory<char>?[]> values, Func<int, ReadOnlyMemory<char>[]> scratch, CancellationToken cancellationToken)
    {
        if (field.ClrType != typeof(string) && field.ClrType != typeof(ReadOnlyMemory<char>))
        {
            return null;
        }

        var n = checked((int)group.RowCount);
        var result = values(n);
        if (field.IsNullable)
        {
            await group.ReadAsync(field, result.AsMemory(0, n), cancellationToken: cancellationToken).ConfigureAwait(false);
            return result;
        }

        var plain = scratch(n);
        await group.ReadAsync(field, plain.AsMemory(0, n), cancellationToken: cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < n; i++)
        {
            result[i] = plain[i];
        }

        return result;
    }

    /// <summary>Reads a non-nullable column without the nullable wrapper.</summary>
    public static async Task<T[]> ReadRequiredAsync<T>(ParquetRowGroupReader group, DataField field, CancellationToken cancellationToken)
        where T : struct
    {
        var n = checked((int)group.RowCount);
        if (!field.IsNullable)
        {
            var plain = new T[n];
            await group.ReadAsync(field, plain.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
            return plain;
        }

        var values = await ReadAsync<T>(group, field, n, cancellationToken).ConfigureAwait(false);
        var result = new T[n];
        for (var i = 0; i < n; i++)
        {
            result[i] = values[i] ?? throw new InvalidDataException($"column '{field.Name}' has a null in row {i + 1}");
        }

        return result;
    }

    private static async Task<T?[]> ReadAsync<T>(ParquetRowGroupReader group, DataField field, int n, CancellationToken cancellationToken)
        where T : struct
    {
        var values = new T?[n];
        if (field.IsNullable)
        {
            await group.ReadAsync(field, values.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
            return values;
        }

        var plain = new T[n];
        await group.ReadAsync(field, plain.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < n; i++)
        {
            values[i] = plain[i];
        }

        return values;
    }

    private static int?[] Widen(short?[] values) => [.. values.Select(v => (int?)v)];
}
