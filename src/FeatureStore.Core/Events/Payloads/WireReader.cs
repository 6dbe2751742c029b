using System.Buffers.Binary;

namespace FeatureStore.Core.Events.Payloads;

/// <summary>A cursor over a binary payload: varints, fixed-width numbers and length-prefixed bytes, each checked against the end.</summary>
internal ref struct WireReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly bool AtEnd => _position >= _data.Length;

    public readonly int Position => _position;

    public bool TryReadVarint(out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _data.Length)
            {
                return false;
            }

            var b = _data[_position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return shift < 63 || b <= 1;
            }
        }

        return false;
    }

    /// <summary>A zig-zag encoded varint (Avro's int and long, Protobuf's sint).</summary>
    public bool TryReadZigZag(out long value)
    {
        if (!TryReadVarint(out var raw))
        {
            value = 0;
            return false;
        }

        value = (long)(raw >> 1) ^ -(long)(raw & 1);
        return true;
    }

    public bool TryReadFixed32(out uint value)
    {
        value = 0;
        if (_data.Length - _position < 4)
        {
            return false;
        }

        value = BinaryPrimitives.ReadUInt32LittleEndian(_data.Slice(_position, 4));
        _position += 4;
        return true;
    }

    public bool TryReadFixed64(out ulong value)
    {
        value = 0;
        if (_data.Length - _position < 8)
        {
            return false;
        }

        value = BinaryPrimitives.ReadUInt64LittleEndian(_data.Slice(_position, 8));
        _position += 8;
        return true;
    }

    public bool TryReadBytes(long length, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        if (length < 0 || length > _data.Length - _position)
        {
            return false;
        }

        bytes = _data.Slice(_position, (int)length);
        _position += (int)length;
        return true;
    }

    public bool TrySkip(long length) => TryReadBytes(length, out _);
}
