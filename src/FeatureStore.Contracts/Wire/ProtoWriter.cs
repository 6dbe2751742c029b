using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace FeatureStore.Contracts.Wire;

/// <summary>
/// Writes protobuf fields into a span sized beforehand (protobuf prefixes each message with its length, so
/// a codec computes sizes with the static methods first, then writes): the bytes the generated code writes
/// for the same values. One-byte tags only (every field of the online messages, <see cref="OnlineWire"/>).
/// </summary>
public ref struct ProtoWriter(Span<byte> span)
{
    private readonly Span<byte> _span = span;

    /// <summary>Bytes written so far.</summary>
    public int Position { get; private set; }

    /// <summary>The size of a varint.</summary>
    public static int VarintSize(ulong value) => (63 - BitOperations.LeadingZeroCount(value | 1) + 7) / 7;

    /// <summary>A length-delimited field's size: its one-byte tag, its length, its content.</summary>
    public static int DelimitedSize(int length) => 1 + VarintSize((uint)length) + length;

    /// <summary>The size of a <c>google.protobuf.Timestamp</c>'s content: fields at their default (0) are not written.</summary>
    public static int TimestampSize(long seconds, int nanos) =>
        (seconds != 0 ? 1 + VarintSize(unchecked((ulong)seconds)) : 0) + (nanos != 0 ? 1 + VarintSize(unchecked((ulong)(long)nanos)) : 0);

    /// <summary>One byte: a tag, or a one-byte enum value.</summary>
    public void Byte(byte value) => _span[Position++] = value;

    /// <summary>A length-delimited field's head: its tag and the length of the content that follows.</summary>
    public void Delimited(byte tag, int length)
    {
        Byte(tag);
        Varint((uint)length);
    }

    /// <summary>A varint (negative integers as their 64-bit two's complement, as <c>int32</c> and <c>int64</c> are).</summary>
    public void Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _span[Position++] = (byte)(value | 0x80);
            value >>= 7;
        }

        _span[Position++] = (byte)value;
    }

    /// <summary>A double, fixed 64-bit little-endian.</summary>
    public void Double(double value)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(_span[Position..], value);
        Position += 8;
    }

    /// <summary>A text's UTF-8 bytes (after its field's head, <see cref="Delimited"/>).</summary>
    public void Utf8(string text) => Position += Encoding.UTF8.GetBytes(text, _span[Position..]);

    /// <summary>A string field: its tag, its length (<paramref name="byteCount"/>, its UTF-8 size) and its bytes.</summary>
    public void String(byte tag, string text, int byteCount)
    {
        Delimited(tag, byteCount);
        Utf8(text);
    }

    /// <summary>A <c>google.protobuf.Timestamp</c>'s content (after its field's head): the fields not at their default.</summary>
    public void Timestamp(long seconds, int nanos)
    {
        if (seconds != 0)
        {
            Byte(OnlineWire.TimestampSeconds);
            Varint(unchecked((ulong)seconds));
        }

        if (nanos != 0)
        {
            Byte(OnlineWire.TimestampNanos);
            Varint(unchecked((ulong)(long)nanos));
        }
    }
}
