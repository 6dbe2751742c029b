using System.Buffers.Binary;
using System.Text;
using FeatureStore.Contracts.V1;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Client;

/// <summary>
/// An index of a <c>GetOnlineFeaturesResponse</c>'s protobuf bytes (schemas/featurestore/v1/online.proto):
/// the feature names, and per value its status, which value it holds and the value, in one array of
/// structs. Read as protobuf reads: fields in any order, the last of a repeated scalar or oneof wins,
/// unknown fields skipped. Event times are left in the bytes (the messages parsed from them carry them).
/// </summary>
internal sealed class WireIndex
{
    // Tags: field number << 3 | wire type (0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit).
    private const uint FeatureNamesTag = (1 << 3) | 2;
    private const uint RowsTag = (2 << 3) | 2;
    private const uint EvaluatedAtTag = (3 << 3) | 2;
    private const uint ValuesTag = (1 << 3) | 2;
    private const uint StatusTag = 1 << 3;
    private const uint DoubleTag = (2 << 3) | 1;
    private const uint Int64Tag = 3 << 3;
    private const uint StringTag = (4 << 3) | 2;
    private const uint BoolTag = 5 << 3;
    private const uint SecondsTag = 1 << 3;
    private const uint NanosTag = 2 << 3;

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
        var names = new List<string>();
        var rowStarts = new List<int> { 0 };
        var counted = CountValues(payload);
        var array = new WireCell[counted];
        var n = 0;
        (long Seconds, int Nanos)? evaluatedAt = null;
        var reader = new Reader(payload, 0, payload.Length);
        while (reader.More)
        {
            var tag = reader.Tag();
            switch (tag)
            {
                case FeatureNamesTag:
                    var (start, length) = reader.Delimited();
                    names.Add(Encoding.UTF8.GetString(payload, start, length));
                    break;
                case RowsTag:
                    var (rowStart, rowLength) = reader.Delimited();
                    var row = new Reader(payload, rowStart, rowStart + rowLength);
                    while (row.More)
                    {
                        if (row.Tag() is ValuesTag)
                        {
                            var (valueStart, valueLength) = row.Delimited();
                            array[n++] = ReadValue(new Reader(payload, valueStart, valueStart + valueLength));
                        }
                        else
                        {
                            row.Skip();
                        }
                    }

                    rowStarts.Add(n);
                    break;
                case EvaluatedAtTag:
                    var (atStart, atLength) = reader.Delimited();
                    evaluatedAt = ReadTimestamp(new Reader(payload, atStart, atStart + atLength), evaluatedAt ?? default);
                    break;
                default:
                    reader.Skip();
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
        var reader = new Reader(payload, 0, payload.Length);
        while (reader.More)
        {
            if (reader.Tag() is RowsTag)
            {
                var (start, length) = reader.Delimited();
                var row = new Reader(payload, start, start + length);
                while (row.More)
                {
                    if (row.Tag() is ValuesTag)
                    {
                        count++;
                    }

                    row.Skip();
                }
            }
            else
            {
                reader.Skip();
            }
        }

        return count;
    }

    private static WireCell ReadValue(Reader value)
    {
        var cell = default(WireCell);
        while (value.More)
        {
            switch (value.Tag())
            {
                case StatusTag:
                    cell.Status = (int)value.Varint();
                    break;
                case DoubleTag:
                    cell.Case = FeatureValue.ValueOneofCase.DoubleValue;
                    cell.Bits = value.Fixed64();
                    break;
                case Int64Tag:
                    cell.Case = FeatureValue.ValueOneofCase.Int64Value;
                    cell.Bits = (long)value.Varint();
                    break;
                case StringTag:
                    var (start, length) = value.Delimited();
                    cell.Case = FeatureValue.ValueOneofCase.StringValue;
                    cell.Bits = ((long)start << 32) | (uint)length;
                    break;
                case BoolTag:
                    cell.Case = FeatureValue.ValueOneofCase.BoolValue;
                    cell.Bits = value.Varint() != 0 ? 1 : 0;
                    break;
                default:
                    value.Skip();
                    break;
            }
        }

        return cell;
    }

    private static (long Seconds, int Nanos) ReadTimestamp(Reader timestamp, (long Seconds, int Nanos) merged)
    {
        while (timestamp.More)
        {
            switch (timestamp.Tag())
            {
                case SecondsTag:
                    merged.Seconds = (long)timestamp.Varint();
                    break;
                case NanosTag:
                    merged.Nanos = (int)timestamp.Varint();
                    break;
                default:
                    timestamp.Skip();
                    break;
            }
        }

        return merged;
    }

    /// <summary>A forward reader of protobuf fields between two offsets of the payload.</summary>
    private struct Reader(byte[] payload, int position, int end)
    {
        private uint _lastTag;

        public readonly bool More => position < end;

        public uint Tag() => _lastTag = (uint)Varint();

        public ulong Varint()
        {
            ulong result = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var b = Byte();
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return result;
                }
            }

            throw Malformed("a varint longer than 10 bytes");
        }

        public long Fixed64()
        {
            if (end - position < 8)
            {
                throw Malformed("a truncated 64-bit field");
            }

            var value = BinaryPrimitives.ReadInt64LittleEndian(payload.AsSpan(position, 8));
            position += 8;
            return value;
        }

        public (int Start, int Length) Delimited()
        {
            var length = Varint();
            if (length > (ulong)(end - position))
            {
                throw Malformed("a field longer than its message");
            }

            var start = position;
            position += (int)length;
            return (start, (int)length);
        }

        /// <summary>Skips the field whose tag was read last.</summary>
        public void Skip()
        {
            switch (_lastTag & 7)
            {
                case 0:
                    Varint();
                    break;
                case 1:
                    Advance(8);
                    break;
                case 2:
                    Delimited();
                    break;
                case 5:
                    Advance(4);
                    break;
                default:
                    throw Malformed($"wire type {_lastTag & 7}");
            }
        }

        private void Advance(int count)
        {
            if (end - position < count)
            {
                throw Malformed("a truncated field");
            }

            position += count;
        }

        private byte Byte() => position < end ? payload[position++] : throw Malformed("a truncated varint");

        private static InvalidDataException Malformed(string what) => new($"malformed GetOnlineFeaturesResponse: {what}");
    }
}

/// <summary>One indexed value: its status (as sent), which value it holds, and the value's bits (a double's, an integer, a bool, or a text's offset and length).</summary>
internal struct WireCell
{
    public int Status;
    public FeatureValue.ValueOneofCase Case;
    public long Bits;
}
