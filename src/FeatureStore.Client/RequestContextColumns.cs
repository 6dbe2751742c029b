using System.Text;
using FeatureStore.Contracts.Wire;

namespace FeatureStore.Client;

/// <summary>
/// The request context of a keyed lookup's rows as columns (docs/request-features.md): one list per context field,
/// one value per row, in the order of the keys — how a model service holds the batch it scores (each payment's
/// amount, country, time). Written straight to each row's <c>request_context</c> map, with no message per value.
/// </summary>
public sealed class RequestContextColumns
{
    private readonly List<Column> _columns = [];

    /// <summary>Columns for <paramref name="rows"/> rows.</summary>
    public RequestContextColumns(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        Rows = rows;
    }

    /// <summary>The rows each column has a value for.</summary>
    public int Rows { get; }

    /// <summary>A number field (<c>double</c> or <c>int</c>).</summary>
    public RequestContextColumns Add(string name, IReadOnlyList<double> values) => Add(name, ColumnKind.Number, values, values?.Count);

    /// <summary>A number field with nulls.</summary>
    public RequestContextColumns Add(string name, IReadOnlyList<double?> values) => Add(name, ColumnKind.NullableNumber, values, values?.Count);

    /// <summary>A whole-number field (<c>int</c>).</summary>
    public RequestContextColumns Add(string name, IReadOnlyList<long> values) => Add(name, ColumnKind.Whole, values, values?.Count);

    /// <summary>A text field (<c>string</c>); null values are sent as null.</summary>
    public RequestContextColumns Add(string name, IReadOnlyList<string?> values) => Add(name, ColumnKind.Text, values, values?.Count);

    /// <summary>A flag field (<c>bool</c>).</summary>
    public RequestContextColumns Add(string name, IReadOnlyList<bool> values) => Add(name, ColumnKind.Flag, values, values?.Count);

    /// <summary>An instant field (<c>timestamp</c>), sent as epoch milliseconds.</summary>
    public RequestContextColumns Add(string name, IReadOnlyList<DateTimeOffset> values) => Add(name, ColumnKind.Instant, values, values?.Count);

    private RequestContextColumns Add(string name, ColumnKind kind, object? values, int? count)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(values);
        if (count != Rows)
        {
            throw new ArgumentException($"request context column '{name}' has {count} values for {Rows} rows: give one per row", nameof(values));
        }

        if (_columns.Exists(c => c.Name == name))
        {
            throw new ArgumentException($"request context column '{name}' is given twice", nameof(name));
        }

        _columns.Add(new Column(name, Encoding.UTF8.GetByteCount(name), kind, values));
        return this;
    }

    /// <summary>The bytes of row <paramref name="row"/>'s <c>request_context</c> map entries (with their heads).</summary>
    internal int Size(int row)
    {
        var size = 0;
        foreach (var column in _columns)
        {
            size += ProtoWriter.DelimitedSize(Entry(column, row));
        }

        return size;
    }

    /// <summary>Writes row <paramref name="row"/>'s <c>request_context</c> map entries.</summary>
    internal void Write(ref ProtoWriter writer, int row)
    {
        foreach (var column in _columns)
        {
            writer.Delimited(OnlineWire.EntityRequestContext, Entry(column, row));
            writer.String(OnlineWire.MapKey, column.Name, column.NameBytes);
            writer.Delimited(OnlineWire.MapValue, ValueSize(column, row));
            switch (column.Kind)
            {
                case ColumnKind.Text when ((IReadOnlyList<string?>)column.Values)[row] is { } text:
                    writer.String(OnlineWire.ProtoValueString, text, Encoding.UTF8.GetByteCount(text));
                    break;
                case ColumnKind.Flag:
                    writer.Byte(OnlineWire.ProtoValueBool);
                    writer.Byte(((IReadOnlyList<bool>)column.Values)[row] ? (byte)1 : (byte)0);
                    break;
                default:
                    if (Number(column, row) is { } number)
                    {
                        writer.Byte(OnlineWire.ProtoValueNumber);
                        writer.Double(number);
                    }
                    else
                    {
                        writer.Byte(OnlineWire.ProtoValueNull);
                        writer.Byte(0);
                    }

                    break;
            }
        }
    }

    // A map entry: the name, and the Value message (always written: a map value is a message).
    private static int Entry(Column column, int row) => ProtoWriter.DelimitedSize(column.NameBytes) + ProtoWriter.DelimitedSize(ValueSize(column, row));

    // A Value's one field of its oneof: a double (9 bytes), a flag or a null (2), or a string.
    private static int ValueSize(Column column, int row) => column.Kind switch
    {
        ColumnKind.Text => ((IReadOnlyList<string?>)column.Values)[row] is { } text ? ProtoWriter.DelimitedSize(Encoding.UTF8.GetByteCount(text)) : 2,
        ColumnKind.Flag => 2,
        _ => Number(column, row) is null ? 2 : 9,
    };

    private static double? Number(Column column, int row) => column.Kind switch
    {
        ColumnKind.Number => ((IReadOnlyList<double>)column.Values)[row],
        ColumnKind.NullableNumber => ((IReadOnlyList<double?>)column.Values)[row],
        ColumnKind.Whole => ((IReadOnlyList<long>)column.Values)[row],
        ColumnKind.Instant => ((IReadOnlyList<DateTimeOffset>)column.Values)[row].ToUnixTimeMilliseconds(),
        _ => null,
    };

    private enum ColumnKind
    {
        Number,
        NullableNumber,
        Whole,
        Text,
        Flag,
        Instant,
    }

    private sealed record Column(string Name, int NameBytes, ColumnKind Kind, object Values);
}
