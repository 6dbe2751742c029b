using System.Text;
using FeatureStore.Contracts.V1;
using FeatureStore.Contracts.Wire;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Client;

/// <summary>
/// An index of a <c>GetOnlineFeaturesResponse</c>'s protobuf bytes (schemas/featurestore/v1/online.proto):
/// the feature names, and per value its status, which value it holds and the value, in one array of
/// structs. Read as protobuf reads (<see cref="ProtoReader"/>): fields in any order, the last of a repeated
/// scalar or oneof wins, unknown fields skipped. Event times are left in the bytes (the messages parsed from
/// them carry them).
/// </summary>
internal sealed class WireIndex
{
    private readonly WireCell[] _cells;
    private readonly int[] _rowStarts;

    private WireIndex(byte[] payload, List<string> names, WireCell[] cells, int[] rowStarts, int rows, DateTimeOffset? evaluatedAt)
    {
        Payload = payload;
        Names = names;
        _cells = cells;
        _rowStarts = rowStarts;
        RowCount = rows;
        EvaluatedAt = evaluatedAt;
    }

    public byte[] Payload { get; }

    public List<string> Names { get; }

    public int RowCount { get; }

    /// <summary>The evaluation instant, or null when the response carries none.</summary>
    public DateTimeOffset? EvaluatedAt { get; }

    /// <summary>Value <paramref name="column"/> of row <paramref name="row"/>; out of range throws as the messages' lists do.</summary>
    public ref readonly WireCell Cell(int row, int column)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, RowCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(column, _rowStarts[row + 1] - _rowStarts[row]);
        return ref _cells[_rowStarts[row] + column];
    }

    /// <summary>The text of a string value (its bytes' offset and length are in the cell).</summary>
    public string Text(int row, int column)
    {
        var bits = Cell(row, column).Bits;
        return Encoding.UTF8.GetString(Payload, (int)(bits >> 32), (int)(bits & 0xFFFF_FFFF));
    }

    public static WireIndex Read(byte[] payload)
    {
        try
        {
            return Index(payload);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"malformed GetOnlineFeaturesResponse: {ex.Message}", ex);
        }
    }

    private static WireIndex Index(byte[] payload)
    {
        var names = new List<string>();
        var rowStarts = new List<int> { 0 };
        var counted = CountValues(payload);
        var array = new WireCell[counted];
        var n = 0;
        (long Seconds, int Nanos)? evaluatedAt = null;
        var reader = new ProtoReader(payload);
        while (reader.More)
        {
            var tag = reader.Tag();
            switch (tag)
            {
                case OnlineWire.ResponseFeatureNames:
                    var (start, length) = reader.Delimited();
                    names.Add(Encoding.UTF8.GetString(payload, start, length));
                    break;
                case OnlineWire.ResponseRows:
                    var row = reader.Message();
                    while (row.More)
                    {
                        var field = row.Tag();
                        if (field is OnlineWire.RowValues)
                        {
                            array[n++] = ReadValue(row.Message());
                        }
                        else
                        {
                            row.Skip(field);
                        }
                    }

                    rowStarts.Add(n);
                    break;
                case OnlineWire.ResponseEvaluatedAt:
                    evaluatedAt = ReadTimestamp(reader.Message(), evaluatedAt ?? default);
                    break;
                default:
                    reader.Skip(tag);
                    break;
            }
        }

        DateTimeOffset? at = evaluatedAt is { } t ? new Timestamp { Seconds = t.Seconds, Nanos = t.Nanos }.ToDateTimeOffset() : null;
        return new WireIndex(payload, names, array, [.. rowStarts], rowStarts.Count - 1, at);
    }

    // Values in all rows, so the cells take one array of the right size.
    private static int CountValues(byte[] payload)
    {
        var count = 0;
        var reader = new ProtoReader(payload);
        while (reader.More)
        {
            var tag = reader.Tag();
            if (tag is OnlineWire.ResponseRows)
            {
                var row = reader.Message();
                while (row.More)
                {
                    var field = row.Tag();
                    if (field is OnlineWire.RowValues)
                    {
                        count++;
                    }

                    row.Skip(field);
                }
            }
            else
            {
                reader.Skip(tag);
            }
        }

        return count;
    }

    private static WireCell ReadValue(ProtoReader value)
    {
        var cell = default(WireCell);
        while (value.More)
        {
            var tag = value.Tag();
            switch (tag)
            {
                case OnlineWire.ValueStatus:
                    cell.Status = (int)value.Varint();
                    break;
                case OnlineWire.ValueDouble:
                    cell.Case = FeatureValue.ValueOneofCase.DoubleValue;
                    cell.Bits = value.Fixed64();
                    break;
                case OnlineWire.ValueInt64:
                    cell.Case = FeatureValue.ValueOneofCase.Int64Value;
                    cell.Bits = (long)value.Varint();
                    break;
                case OnlineWire.ValueString:
                    var (start, length) = value.Delimited();
                    cell.Case = FeatureValue.ValueOneofCase.StringValue;
                    cell.Bits = ((long)start << 32) | (uint)length;
                    break;
                case OnlineWire.ValueBool:
                    cell.Case = FeatureValue.ValueOneofCase.BoolValue;
                    cell.Bits = value.Varint() != 0 ? 1 : 0;
                    break;
                case OnlineWire.ValueStringList or OnlineWire.ValueDoubleList or OnlineWire.ValueInt64List or OnlineWire.ValueCounts:
                    // A list or counts is read from the parsed message when asked for; the index keeps which it is.
                    cell.Case = tag switch
                    {
                        OnlineWire.ValueStringList => FeatureValue.ValueOneofCase.StringListValue,
                        OnlineWire.ValueDoubleList => FeatureValue.ValueOneofCase.DoubleListValue,
                        OnlineWire.ValueInt64List => FeatureValue.ValueOneofCase.Int64ListValue,
                        _ => FeatureValue.ValueOneofCase.CountsValue,
                    };
                    cell.Bits = 0;
                    value.Skip(tag);
                    break;
                default:
                    value.Skip(tag);
                    break;
            }
        }

        return cell;
    }

    private static (long Seconds, int Nanos) ReadTimestamp(ProtoReader timestamp, (long Seconds, int Nanos) merged)
    {
        while (timestamp.More)
        {
            var tag = timestamp.Tag();
            switch (tag)
            {
                case OnlineWire.TimestampSeconds:
                    merged.Seconds = (long)timestamp.Varint();
                    break;
                case OnlineWire.TimestampNanos:
                    merged.Nanos = (int)timestamp.Varint();
                    break;
                default:
                    timestamp.Skip(tag);
                    break;
            }
        }

        return merged;
    }
}

/// <summary>One indexed value: its status (as sent), which value it holds, and the value's bits (a double's, an integer, a bool, or a text's offset and length).</summary>
internal struct WireCell
{
    public int Status;
    public FeatureValue.ValueOneofCase Case;
    public long Bits;
}
