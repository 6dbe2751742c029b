using System.Buffers;
using System.Text;
using FeatureStore.Contracts.V1;
using Grpc.Core;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// A lookup's request as the lookup reads it: feature references, model, <c>as_of</c>, and each entity row's
/// join keys as (name, value) pairs in flat lists. gRPC requests are read straight from the protobuf encoding
/// of <c>GetOnlineFeaturesRequest</c> (<see cref="Parse(ReadOnlySequence{byte})"/>) without the row message and map the generated
/// parser builds per entity (about half the request's allocations); the HTTP mirror converts the message it
/// parsed from JSON (<see cref="From"/>).
/// </summary>
internal sealed class LookupRequest
{
    private readonly List<string> _names = [];
    private readonly List<string> _values = [];
    private readonly List<int> _rowStarts = [0];

    /// <summary>Feature references, in request order.</summary>
    public List<string> Features { get; } = [];

    /// <summary>The model (<c>model</c> or <c>model@version</c>), or empty.</summary>
    public string Model { get; private set; } = "";

    /// <summary>The <c>as_of</c> timestamp's fields, or null when the request carries none.</summary>
    public (long Seconds, int Nanos)? AsOf { get; private set; }

    /// <summary>Entity rows, in request order.</summary>
    public int Rows => _rowStarts.Count - 1;

    /// <summary>Row <paramref name="row"/>'s value for join key <paramref name="name"/> (the last entry of a repeated key, as a protobuf map keeps).</summary>
    public bool TryGetJoinKey(int row, string name, out string value)
    {
        for (var i = _rowStarts[row + 1] - 1; i >= _rowStarts[row]; i--)
        {
            if (string.Equals(_names[i], name, StringComparison.Ordinal))
            {
                value = _values[i];
                return true;
            }
        }

        value = "";
        return false;
    }

    /// <summary>Row <paramref name="row"/>'s join keys, as a map holds them (tests).</summary>
    public Dictionary<string, string> JoinKeys(int row)
    {
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = _rowStarts[row]; i < _rowStarts[row + 1]; i++)
        {
            keys[_names[i]] = _values[i];
        }

        return keys;
    }

    /// <summary>The request a parsed message carries (the HTTP mirror's JSON).</summary>
    public static LookupRequest From(GetOnlineFeaturesRequest message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var request = new LookupRequest { Model = message.Model };
        request.Features.AddRange(message.Features);
        if (message.AsOf is { } asOf)
        {
            request.AsOf = (asOf.Seconds, asOf.Nanos);
        }

        foreach (var row in message.Entities)
        {
            foreach (var (name, value) in row.JoinKeys)
            {
                request._names.Add(name);
                request._values.Add(value);
            }

            request._rowStarts.Add(request._names.Count);
        }

        return request;
    }

    /// <summary>
    /// Reads the protobuf encoding of a <c>GetOnlineFeaturesRequest</c> as the generated parser does: fields in
    /// any order, the last of a singular field wins and a repeated sub-message merges, unknown fields (and
    /// known numbers with another wire type) skipped. Malformed input throws INVALID_ARGUMENT saying where.
    /// </summary>
    public static LookupRequest Parse(ReadOnlySequence<byte> payload) => Contiguous(payload, static span => Parse(span));

    /// <summary>
    /// Reads the protobuf encoding of a <c>LookupBatch</c> (a lookup stream's message): its lookups, each read
    /// by <see cref="Parse(ReadOnlySpan{byte})"/>, other fields skipped.
    /// </summary>
    public static List<LookupRequest> ParseBatch(ReadOnlySequence<byte> payload) => Contiguous(payload, static span => ParseBatch(span));

    private delegate T SpanParser<out T>(ReadOnlySpan<byte> span);

    /// <summary>Parses <paramref name="payload"/> as one span: in place when it is one segment, else from a pooled copy.</summary>
    private static T Contiguous<T>(ReadOnlySequence<byte> payload, SpanParser<T> parse)
    {
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

    private static List<LookupRequest> ParseBatch(ReadOnlySpan<byte> payload)
    {
        var lookups = new List<LookupRequest>();
        var reader = new ProtoReader(payload);
        while (reader.More)
        {
            var tag = reader.Tag();
            if (tag == ((1 << 3) | 2))
            {
                lookups.Add(Parse(reader.Bytes()));
            }
            else
            {
                reader.Skip(tag);
            }
        }

        return lookups;
    }

    /// <inheritdoc cref="Parse(ReadOnlySequence{byte})"/>
    public static LookupRequest Parse(ReadOnlySpan<byte> payload)
    {
        var request = new LookupRequest();
        var reader = new ProtoReader(payload);
        while (reader.More)
        {
            var tag = reader.Tag();
            switch (tag)
            {
                case (1 << 3) | 2:
                    request.Features.Add(reader.String());
                    break;
                case (2 << 3) | 2:
                    request.Model = reader.String();
                    break;
                case (3 << 3) | 2:
                    request.ReadRow(reader.Message());
                    break;
                case (4 << 3) | 2:
                    request.AsOf = ReadTimestamp(reader.Message(), request.AsOf ?? (0, 0));
                    break;
                default:
                    reader.Skip(tag);
                    break;
            }
        }

        return request;
    }

    private void ReadRow(ProtoReader row)
    {
        // Names repeat row after row: each distinct name is decoded once per request.
        while (row.More)
        {
            var tag = row.Tag();
            if (tag != ((1 << 3) | 2))
            {
                row.Skip(tag);
                continue;
            }

            var entry = row.Message();
            string? name = null;
            var value = "";
            while (entry.More)
            {
                var field = entry.Tag();
                switch (field)
                {
                    case (1 << 3) | 2:
                        name = Name(entry.Bytes());
                        break;
                    case (2 << 3) | 2:
                        value = entry.String();
                        break;
                    default:
                        entry.SkipInMapEntry(field);
                        break;
                }
            }

            _names.Add(name ?? "");
            _values.Add(value);
        }

        _rowStarts.Add(_names.Count);
    }

    private string Name(ReadOnlySpan<byte> utf8)
    {
        for (var i = _names.Count - 1; i >= 0 && i >= _names.Count - 8; i--)
        {
            if (Utf8Equals(utf8, _names[i]))
            {
                return _names[i];
            }
        }

        return ProtoReader.Decode(utf8);
    }

    private static bool Utf8Equals(ReadOnlySpan<byte> utf8, string text) =>
        Ascii.Equals(utf8, text) || (!Ascii.IsValid(utf8) && utf8.SequenceEqual(Encoding.UTF8.GetBytes(text)));

    private static (long Seconds, int Nanos) ReadTimestamp(ProtoReader reader, (long Seconds, int Nanos) merged)
    {
        while (reader.More)
        {
            var tag = reader.Tag();
            switch (tag)
            {
                case 1 << 3:
                    merged.Seconds = (long)reader.Varint();
                    break;
                case 2 << 3:
                    merged.Nanos = (int)reader.Varint();
                    break;
                default:
                    reader.Skip(tag);
                    break;
            }
        }

        return merged;
    }

    /// <summary>A reader over one message's bytes; <see cref="Message"/> gives a reader over a nested one.</summary>
    private ref struct ProtoReader(ReadOnlySpan<byte> span, int depth = 0)
    {
        // As the generated parser: UTF-8 strings are decoded strictly, groups nest at most 100 deep.
        private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        private const int MaxDepth = 100;

        private readonly ReadOnlySpan<byte> _span = span;
        private readonly int _depth = depth;
        private int _position;

        public readonly bool More => _position < _span.Length;

        public static string Decode(ReadOnlySpan<byte> utf8)
        {
            try
            {
                return Utf8.GetString(utf8);
            }
            catch (DecoderFallbackException)
            {
                throw Malformed("a string is not valid UTF-8");
            }
        }

        // A tag is a 32-bit number: as the generated parser does, the bits above are dropped.
        public uint Tag()
        {
            var tag = (uint)Varint();
            if ((tag >> 3) == 0)
            {
                throw Malformed($"invalid field tag {tag} at byte {_position}");
            }

            return tag;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 70; shift += 7)
            {
                if (_position >= _span.Length)
                {
                    throw Malformed("the message ends inside a number");
                }

                var b = _span[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw Malformed($"a number longer than 10 bytes at byte {_position}");
        }

        public ReadOnlySpan<byte> Bytes()
        {
            var length = (int)Varint();
            if (length < 0 || length > _span.Length - _position)
            {
                throw Malformed($"a field of {length} bytes at byte {_position} runs past the message's end");
            }

            var bytes = _span.Slice(_position, length);
            _position += length;
            return bytes;
        }

        public string String() => Decode(Bytes());

        public ProtoReader Message()
        {
            if (_depth >= MaxDepth)
            {
                throw Malformed("messages nest too deep");
            }

            return new ProtoReader(Bytes(), _depth + 1);
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
                    Bytes();
                    break;
                case 3:
                    SkipGroup(tag >> 3, _depth + 1);
                    break;
                case 5:
                    Fixed(4);
                    break;
                default:
                    throw Malformed($"field {tag >> 3} has an invalid wire type {tag & 7}");
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
                throw Malformed("messages nest too deep");
            }

            while (true)
            {
                if (!More)
                {
                    throw Malformed($"group {field} is not closed");
                }

                var tag = Tag();
                if ((tag & 7) == 4)
                {
                    if ((tag >> 3) != field)
                    {
                        throw Malformed($"group {field} is closed as group {tag >> 3}");
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
            if (size > _span.Length - _position)
            {
                throw Malformed("the message ends inside a fixed-size field");
            }

            _position += size;
        }

        private static RpcException Malformed(string detail) =>
            new(new Status(StatusCode.InvalidArgument, "malformed request: not a valid GetOnlineFeaturesRequest encoding (" + detail + ")"));
    }
}
