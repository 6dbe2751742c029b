using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace FeatureStore.Contracts.Wire;

/// <summary>Parses a message from one span (<see cref="ProtoReader.Contiguous"/>).</summary>
public delegate T SpanParser<out T>(ReadOnlySpan<byte> span);

/// <summary>
/// Reads protobuf fields from a span, as the generated parser reads them: a tag is a 32-bit number whose
/// field is not 0, a length is a 32-bit number within the message, unknown fields of any wire type (groups
/// too, nested at most 100 deep) are skipped, strings are strict UTF-8. Malformed input throws an
/// <see cref="InvalidDataException"/> saying what and where; each codec says which message it was reading.
/// <see cref="Message"/> gives a reader over a nested message whose offsets stay those of the whole span.
/// </summary>
public ref struct ProtoReader
{
    private const int MaxDepth = 100;

    // As the generated parser: invalid UTF-8 is an error, not replaced.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly ReadOnlySpan<byte> _span;
    private readonly int _end;
    private readonly int _depth;
    private int _position;

    /// <summary>A reader over a whole message.</summary>
    public ProtoReader(ReadOnlySpan<byte> span)
        : this(span, 0, span.Length, 0)
    {
    }

    private ProtoReader(ReadOnlySpan<byte> span, int start, int end, int depth)
    {
        _span = span;
        _position = start;
        _end = end;
        _depth = depth;
    }

    /// <summary>Whether a field follows.</summary>
    public readonly bool More => _position < _end;

    /// <summary>
    /// Parses <paramref name="payload"/> as one span: in place when it is one segment, else from a pooled copy
    /// (returned once <paramref name="parse"/> returns, so nothing it gives back may point into the span).
    /// </summary>
    public static T Contiguous<T>(ReadOnlySequence<byte> payload, SpanParser<T> parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        if (payload.IsSingleSegment)
        {
            return parse(payload.FirstSpan);
        }

        var length = checked((int)payload.Length);
        var copy = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            payload.CopyTo(copy);
            return parse(copy.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>Decodes strict UTF-8, as the generated parser reads a string.</summary>
    public static string Decode(ReadOnlySpan<byte> utf8)
    {
        try
        {
            return StrictUtf8.GetString(utf8);
        }
        catch (DecoderFallbackException ex)
        {
            throw new InvalidDataException("a string is not valid UTF-8", ex);
        }
    }

    /// <summary>The next field's tag: a 32-bit number (the bits above dropped, as the generated parser does), its field not 0.</summary>
    public uint Tag()
    {
        var tag = (uint)Varint();
        if ((tag >> 3) == 0)
        {
            ThrowMalformed($"invalid field tag {tag} at byte {_position}");
        }

        return tag;
    }

    /// <summary>A varint of at most 10 bytes.</summary>
    public ulong Varint()
    {
        ulong value = 0;
        for (var shift = 0; shift < 70; shift += 7)
        {
            if (_position >= _end)
            {
                ThrowMalformed("the message ends inside a number");
            }

            var b = _span[_position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        ThrowMalformed($"a number longer than 10 bytes at byte {_position}");
        return 0;
    }

    /// <summary>A fixed 64-bit field, little-endian.</summary>
    public long Fixed64()
    {
        Fixed(8);
        return BinaryPrimitives.ReadInt64LittleEndian(_span.Slice(_position - 8, 8));
    }

    /// <summary>A length-delimited field's content.</summary>
    public ReadOnlySpan<byte> Bytes()
    {
        var (start, length) = Delimited();
        return _span.Slice(start, length);
    }

    /// <summary>A length-delimited field's content as its offset in the span the first reader was made over, and its length.</summary>
    public (int Start, int Length) Delimited()
    {
        // A length is read as a 32-bit number, as the generated parser does.
        var length = (int)Varint();
        if (length < 0 || length > _end - _position)
        {
            ThrowMalformed($"a field of {length} bytes at byte {_position} runs past the message's end");
        }

        var start = _position;
        _position += length;
        return (start, length);
    }

    /// <summary>A string field's text.</summary>
    public string String() => Decode(Bytes());

    /// <summary>A reader over the nested message in the length-delimited field that follows.</summary>
    public ProtoReader Message()
    {
        if (_depth >= MaxDepth)
        {
            ThrowMalformed("messages nest too deep");
        }

        var (start, length) = Delimited();
        return new ProtoReader(_span, start, start + length, _depth + 1);
    }

    /// <summary>Steps over the field whose tag was just read.</summary>
    public void Skip(uint tag)
    {
        switch (tag & 7)
        {
            case 0:
                Varint();
                break;
            case 1:
                Fixed(8);
                break;
            case 2:
                Delimited();
                break;
            case 3:
                SkipGroup(tag >> 3, _depth + 1);
                break;
            case 5:
                Fixed(4);
                break;
            default:
                ThrowMalformed($"field {tag >> 3} has an invalid wire type {tag & 7}");
                break;
        }
    }

    /// <summary>
    /// Steps over an unknown field of a map entry. The generated parser reads a map entry's wire types 6
    /// and 7 as empty fields rather than errors (it only fails them elsewhere): so does this.
    /// </summary>
    public void SkipInMapEntry(uint tag)
    {
        if ((tag & 7) is not (6 or 7))
        {
            Skip(tag);
        }
    }

    private void SkipGroup(uint field, int depth)
    {
        if (depth > MaxDepth)
        {
            ThrowMalformed("messages nest too deep");
        }

        while (true)
        {
            if (!More)
            {
                ThrowMalformed($"group {field} is not closed");
            }

            var tag = Tag();
            if ((tag & 7) == 4)
            {
                if ((tag >> 3) != field)
                {
                    ThrowMalformed($"group {field} is closed as group {tag >> 3}");
                }

                return;
            }

            if ((tag & 7) == 3)
            {
                SkipGroup(tag >> 3, depth + 1);
            }
            else
            {
                Skip(tag);
            }
        }
    }

    private void Fixed(int size)
    {
        if (size > _end - _position)
        {
            ThrowMalformed("the message ends inside a fixed-size field");
        }

        _position += size;
    }

    [DoesNotReturn]
    private static void ThrowMalformed(string detail) => throw new InvalidDataException(detail);
}
