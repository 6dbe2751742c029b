using System.Buffers;
using System.Text;
using FeatureStore.Contracts.V1;
using FeatureStore.Contracts.Wire;
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

    // Request context entries, row by row: empty (and never grown) for a lookup without request-time features.
    private readonly List<ContextEntry> _context = [];
    private readonly List<int> _contextStarts = [0];

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

    /// <summary>Row <paramref name="row"/>'s request context value named <paramref name="name"/> (the last entry of a repeated name).</summary>
    public bool TryGetContext(int row, string name, out ContextEntry value)
    {
        if (row + 1 < _contextStarts.Count)
        {
            for (var i = _contextStarts[row + 1] - 1; i >= _contextStarts[row]; i--)
            {
                if (string.Equals(_context[i].Name, name, StringComparison.Ordinal))
                {
                    value = _context[i];
                    return true;
                }
            }
        }

        value = default;
        return false;
    }

    /// <summary>Row <paramref name="row"/>'s request context, as a map holds it (tests).</summary>
    public Dictionary<string, ContextEntry> Context(int row)
    {
        var context = new Dictionary<string, ContextEntry>(StringComparer.Ordinal);
        for (var i = row + 1 < _contextStarts.Count ? _contextStarts[row] : 0; row + 1 < _contextStarts.Count && i < _contextStarts[row + 1]; i++)
        {
            context[_context[i].Name] = _context[i];
        }

        return context;
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
            foreach (var (name, value) in row.RequestContext)
            {
                request._context.Add(ContextEntry.From(name, value));
            }

            request._contextStarts.Add(request._context.Count);
        }

        return request;
    }

    /// <summary>
    /// Reads the protobuf encoding of a <c>GetOnlineFeaturesRequest</c> as the generated parser does
    /// (<see cref="ProtoReader"/>): fields in any order, the last of a singular field wins and a repeated
    /// sub-message merges, unknown fields (and known numbers with another wire type) skipped. Malformed input
    /// throws INVALID_ARGUMENT saying where.
    /// </summary>
    public static LookupRequest Parse(ReadOnlySequence<byte> payload) => ProtoReader.Contiguous(payload, static span => Parse(span));

    /// <summary>
    /// Reads the protobuf encoding of a <c>LookupBatch</c> (a lookup stream's message): its lookups, each read
    /// by <see cref="Parse(ReadOnlySpan{byte})"/>, other fields skipped.
    /// </summary>
    public static List<LookupRequest> ParseBatch(ReadOnlySequence<byte> payload) => ProtoReader.Contiguous(payload, static span => ParseBatch(span));

    private static List<LookupRequest> ParseBatch(ReadOnlySpan<byte> payload)
    {
        var lookups = new List<LookupRequest>();
        try
        {
            var reader = new ProtoReader(payload);
            while (reader.More)
            {
                var tag = reader.Tag();
                if (tag == OnlineWire.BatchLookups)
                {
                    lookups.Add(Read(new ProtoReader(reader.Bytes())));
                }
                else
                {
                    reader.Skip(tag);
                }
            }
        }
        catch (InvalidDataException ex)
        {
            throw Malformed(ex);
        }

        return lookups;
    }

    /// <inheritdoc cref="Parse(ReadOnlySequence{byte})"/>
    public static LookupRequest Parse(ReadOnlySpan<byte> payload)
    {
        try
        {
            return Read(new ProtoReader(payload));
        }
        catch (InvalidDataException ex)
        {
            throw Malformed(ex);
        }
    }

    private static LookupRequest Read(ProtoReader reader)
    {
        var request = new LookupRequest();
        while (reader.More)
        {
            var tag = reader.Tag();
            switch (tag)
            {
                case OnlineWire.RequestFeatures:
                    request.Features.Add(reader.String());
                    break;
                case OnlineWire.RequestModel:
                    request.Model = reader.String();
                    break;
                case OnlineWire.RequestEntities:
                    request.ReadRow(reader.Message());
                    break;
                case OnlineWire.RequestAsOf:
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
            if (tag == OnlineWire.EntityRequestContext)
            {
                ReadContextEntry(row.Message());
                continue;
            }

            if (tag != OnlineWire.EntityJoinKeys)
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
                    case OnlineWire.MapKey:
                        name = Name(entry.Bytes());
                        break;
                    case OnlineWire.MapValue:
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
        while (_contextStarts.Count < _rowStarts.Count)
        {
            _contextStarts.Add(_context.Count);
        }
    }

    private void ReadContextEntry(ProtoReader entry)
    {
        // Rows before this one without context close their (empty) ranges first.
        while (_contextStarts.Count < _rowStarts.Count)
        {
            _contextStarts.Add(_context.Count);
        }

        var name = "";
        var value = new ContextEntry("", ContextEntryKind.Null, 0, null);
        while (entry.More)
        {
            var field = entry.Tag();
            switch (field)
            {
                case OnlineWire.MapKey:
                    name = ContextName(entry.Bytes());
                    break;
                case OnlineWire.MapValue:
                    value = ReadValue(entry.Message());
                    break;
                default:
                    entry.SkipInMapEntry(field);
                    break;
            }
        }

        _context.Add(value with { Name = name });
    }

    private static ContextEntry ReadValue(ProtoReader value)
    {
        var read = new ContextEntry("", ContextEntryKind.Null, 0, null);
        while (value.More)
        {
            var tag = value.Tag();
            switch (tag)
            {
                case OnlineWire.ProtoValueNull:
                    value.Varint();
                    read = read with { Kind = ContextEntryKind.Null, Text = null };
                    break;
                case OnlineWire.ProtoValueNumber:
                    read = read with { Kind = ContextEntryKind.Number, Number = BitConverter.Int64BitsToDouble(value.Fixed64()), Text = null };
                    break;
                case OnlineWire.ProtoValueString:
                    read = read with { Kind = ContextEntryKind.Text, Text = value.String() };
                    break;
                case OnlineWire.ProtoValueBool:
                    read = read with { Kind = ContextEntryKind.Flag, Number = value.Varint() != 0 ? 1 : 0, Text = null };
                    break;
                default:
                    // A struct or a list (or a field of a later version): no value a context field can hold.
                    value.Skip(tag);
                    read = read with { Kind = ContextEntryKind.Other, Text = null };
                    break;
            }
        }

        return read;
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

    // Context names repeat row after row, as join key names do: each distinct one is decoded once per request.
    private string ContextName(ReadOnlySpan<byte> utf8)
    {
        for (var i = _context.Count - 1; i >= 0 && i >= _context.Count - 16; i--)
        {
            if (Utf8Equals(utf8, _context[i].Name))
            {
                return _context[i].Name;
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
                case OnlineWire.TimestampSeconds:
                    merged.Seconds = (long)reader.Varint();
                    break;
                case OnlineWire.TimestampNanos:
                    merged.Nanos = (int)reader.Varint();
                    break;
                default:
                    reader.Skip(tag);
                    break;
            }
        }

        return merged;
    }

    // Outside the parsing loops: the reader throws, this only says which message it was reading.
    private static RpcException Malformed(InvalidDataException detail) =>
        new(new Status(StatusCode.InvalidArgument, "malformed request: not a valid GetOnlineFeaturesRequest encoding (" + detail.Message + ")"));
}

/// <summary>What a request context value sent with a lookup is.</summary>
internal enum ContextEntryKind
{
    Null,
    Number,
    Text,
    Flag,
    Other,
}

/// <summary>One request context value as sent (a <c>google.protobuf.Value</c>), before it is checked against its field's type.</summary>
internal readonly record struct ContextEntry(string Name, ContextEntryKind Kind, double Number, string? Text)
{
    public static ContextEntry From(string name, Google.Protobuf.WellKnownTypes.Value value) => value.KindCase switch
    {
        Google.Protobuf.WellKnownTypes.Value.KindOneofCase.NumberValue => new(name, ContextEntryKind.Number, value.NumberValue, null),
        Google.Protobuf.WellKnownTypes.Value.KindOneofCase.StringValue => new(name, ContextEntryKind.Text, 0, value.StringValue),
        Google.Protobuf.WellKnownTypes.Value.KindOneofCase.BoolValue => new(name, ContextEntryKind.Flag, value.BoolValue ? 1 : 0, null),
        Google.Protobuf.WellKnownTypes.Value.KindOneofCase.NullValue or Google.Protobuf.WellKnownTypes.Value.KindOneofCase.None => new(name, ContextEntryKind.Null, 0, null),
        _ => new(name, ContextEntryKind.Other, 0, null),
    };
}
