extern alias ProtobufNet;
using System.Text.Unicode;
using Descriptors = ProtobufNet::Google.Protobuf.Reflection;

namespace FeatureStore.Core.Events.Payloads;

/// <summary>
/// Protobuf events of one message type: the <c>.proto</c> text (parsed by protobuf-net.Reflection) is compiled once
/// into a table by field number; decoding reads the wire format, fills the fields a source declares (matched by name)
/// and reads past every other field, known or not — so a writer with added or removed fields is read as far as the
/// names agree. A proto3 scalar without explicit presence that is not on the wire reads as its default (0, "",
/// false), as Protobuf defines; one with presence (<c>optional</c>, a wrapper type) reads as absent. A
/// <c>google.protobuf.Timestamp</c> is a time; the wrapper types (<c>google.protobuf.DoubleValue</c> …) are their value.
/// </summary>
public sealed class ProtobufDecoder : PayloadDecoder
{
    private const string TimestampType = ".google.protobuf.Timestamp";
    private readonly Field?[] _byNumber;
    private readonly Dictionary<int, Field> _sparse;
    private readonly Field[] _implicitDefaults;
    private readonly PayloadFraming _framing;

    private ProtobufDecoder(List<Field> fields, PayloadFraming framing)
    {
        _framing = framing;
        var dense = fields.Where(f => f.Number < 256).ToList();
        _byNumber = new Field?[dense.Count == 0 ? 0 : dense.Max(f => f.Number) + 1];
        foreach (var f in dense)
        {
            _byNumber[f.Number] = f;
        }

        _sparse = fields.Where(f => f.Number >= 256).ToDictionary(f => f.Number);
        _implicitDefaults = [.. fields.Where(f => f.ImplicitPresence && f.Target.Wanted && !f.Target.IsEventTime)];
    }

    /// <summary>
    /// Compiles message <paramref name="message"/> (its name, or its full name with the package; null: the file's first
    /// message) of the <c>.proto</c> text <paramref name="proto"/> for <paramref name="schema"/>'s fields. Throws
    /// <see cref="PayloadSchemaException"/> with the line and column of a syntax error, or for an unknown message.
    /// </summary>
    public static ProtobufDecoder Compile(string proto, string? message, EventSchema schema, PayloadFraming framing = PayloadFraming.None)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var (type, file) = FindMessage(proto, message);
        return new ProtobufDecoder(Plan(type, schema, file.Syntax == "proto3"), framing);
    }

    /// <summary>The message's name and its fields' names, for checking a repository against it.</summary>
    public static (string Name, IReadOnlyList<string> Fields) Describe(string proto, string? message)
    {
        var (type, _) = FindMessage(proto, message);
        return (type.Name, [.. type.Fields.Select(f => f.Name)]);
    }

    /// <summary>
    /// Compiles the message a Confluent message-index path names in the writer's <c>.proto</c>: empty or [0], the first
    /// message; [i], the i-th; [i, j], the i-th's j-th nested message, and so on.
    /// </summary>
    internal static ProtobufDecoder CompileAt(string proto, ReadOnlySpan<int> path, EventSchema schema)
    {
        var file = ParseFile(proto);
        var types = file.MessageTypes;
        Descriptors.DescriptorProto? type = null;
        ReadOnlySpan<int> walk = path.IsEmpty ? [0] : path;
        foreach (var index in walk)
        {
            if ((uint)index >= (uint)types.Count)
            {
                throw new PayloadSchemaException($"the .proto has no message at index {index}");
            }

            type = types[index];
            types = type.NestedTypes;
        }

        return new ProtobufDecoder(Plan(type!, schema, file.Syntax == "proto3"), PayloadFraming.None);
    }

    private static Descriptors.FileDescriptorProto ParseFile(string proto)
    {
        var set = new Descriptors.FileDescriptorSet();
        set.Add("event.proto", true, new StringReader(proto));
        set.Process();
        if (set.GetErrors().FirstOrDefault(e => e.IsError) is { } error)
        {
            throw new PayloadSchemaException($"not a valid .proto: {error.Message}", error.LineNumber, error.ColumnNumber);
        }

        return set.Files.First(f => f.Name == "event.proto");
    }

    private static (Descriptors.DescriptorProto Type, Descriptors.FileDescriptorProto File) FindMessage(string proto, string? message)
    {
        var file = ParseFile(proto);
        var all = file.MessageTypes.SelectMany(m => Nested(m, string.IsNullOrEmpty(file.Package) ? m.Name : $"{file.Package}.{m.Name}")).ToList();
        if (all.Count == 0)
        {
            throw new PayloadSchemaException("the .proto declares no message");
        }

        if (message is null)
        {
            return (all[0].Type, file);
        }

        var found = all.FirstOrDefault(m => m.FullName == message) is { Type: not null } byFull ? byFull
            : all.Where(m => m.Type.Name == message).ToList() is [var only] ? only
            : default;
        return found.Type is not null ? (found.Type, file)
            : throw new PayloadSchemaException($"the .proto has no message '{message}' (messages: {string.Join(", ", all.Select(m => m.FullName))})");
    }

    private static IEnumerable<(Descriptors.DescriptorProto Type, string FullName)> Nested(Descriptors.DescriptorProto type, string fullName) =>
        new[] { (type, fullName) }.Concat(type.NestedTypes.SelectMany(n => Nested(n, $"{fullName}.{n.Name}")));

    private static List<Field> Plan(Descriptors.DescriptorProto type, EventSchema schema, bool proto3)
    {
        var fields = new List<Field>();
        foreach (var f in type.Fields)
        {
            var slot = schema.IndexOf(f.Name);
            var isTime = f.Name == schema.TimestampField;
            var repeated = f.label == Descriptors.FieldDescriptorProto.Label.LabelRepeated;
            var wrapper = f.type == Descriptors.FieldDescriptorProto.Type.TypeMessage ? Wrapper(f.TypeName) : null;
            var valueType = wrapper ?? f.type;
            var kind = isTime ? FieldKind.Timestamp : slot >= 0 ? schema.Fields[slot].Kind : (FieldKind?)null;
            var conversion = kind is null ? Conversion.Skip
                : repeated || (isTime && slot >= 0 && schema.Fields[slot].Kind != FieldKind.Timestamp) ? Conversion.Mismatch
                : f.type == Descriptors.FieldDescriptorProto.Type.TypeMessage && f.TypeName == TimestampType
                    ? (kind == FieldKind.Timestamp ? Conversion.TimeMillis : Conversion.Mismatch)
                    : Convert(kind.Value, valueType, schema.TimestampFormat);
            var implicitPresence = !repeated && !f.Proto3Optional && f.type != Descriptors.FieldDescriptorProto.Type.TypeMessage && !f.ShouldSerializeOneofIndex();
            fields.Add(new Field(f.Number, valueType, f.type == Descriptors.FieldDescriptorProto.Type.TypeMessage && f.TypeName == TimestampType, wrapper is not null,
                implicitPresence && proto3, new SlotTarget(slot, isTime, conversion)));
        }

        return fields;
    }

    private static Descriptors.FieldDescriptorProto.Type? Wrapper(string typeName) => typeName switch
    {
        ".google.protobuf.DoubleValue" => Descriptors.FieldDescriptorProto.Type.TypeDouble,
        ".google.protobuf.FloatValue" => Descriptors.FieldDescriptorProto.Type.TypeFloat,
        ".google.protobuf.Int64Value" => Descriptors.FieldDescriptorProto.Type.TypeInt64,
        ".google.protobuf.UInt64Value" => Descriptors.FieldDescriptorProto.Type.TypeUint64,
        ".google.protobuf.Int32Value" => Descriptors.FieldDescriptorProto.Type.TypeInt32,
        ".google.protobuf.UInt32Value" => Descriptors.FieldDescriptorProto.Type.TypeUint32,
        ".google.protobuf.BoolValue" => Descriptors.FieldDescriptorProto.Type.TypeBool,
        ".google.protobuf.StringValue" => Descriptors.FieldDescriptorProto.Type.TypeString,
        _ => null,
    };

    private static Conversion Convert(FieldKind kind, Descriptors.FieldDescriptorProto.Type type, TimestampFormat format)
    {
        var integer = type is Descriptors.FieldDescriptorProto.Type.TypeInt32 or Descriptors.FieldDescriptorProto.Type.TypeInt64
            or Descriptors.FieldDescriptorProto.Type.TypeUint32 or Descriptors.FieldDescriptorProto.Type.TypeUint64
            or Descriptors.FieldDescriptorProto.Type.TypeSint32 or Descriptors.FieldDescriptorProto.Type.TypeSint64
            or Descriptors.FieldDescriptorProto.Type.TypeFixed32 or Descriptors.FieldDescriptorProto.Type.TypeFixed64
            or Descriptors.FieldDescriptorProto.Type.TypeSfixed32 or Descriptors.FieldDescriptorProto.Type.TypeSfixed64;
        var floating = type is Descriptors.FieldDescriptorProto.Type.TypeDouble or Descriptors.FieldDescriptorProto.Type.TypeFloat;
        return kind switch
        {
            FieldKind.Int when integer => Conversion.Integer,
            FieldKind.Double when integer || floating => Conversion.Double,
            FieldKind.Bool when type == Descriptors.FieldDescriptorProto.Type.TypeBool => Conversion.Bool,
            FieldKind.String when type == Descriptors.FieldDescriptorProto.Type.TypeString => Conversion.Text,
            FieldKind.Timestamp when integer && format == TimestampFormat.EpochMillis => Conversion.TimeMillis,
            FieldKind.Timestamp when type == Descriptors.FieldDescriptorProto.Type.TypeString => Conversion.TimeText,
            _ => Conversion.Mismatch,
        };
    }

    internal override ParseError Decode(ReadOnlySpan<byte> payload, EventParser sink)
    {
        if (_framing == PayloadFraming.Confluent)
        {
            if (!TryReadConfluentHeader(ref payload, out _) || !SkipMessageIndexes(ref payload))
            {
                return ParseError.UnknownSchema;
            }
        }

        foreach (var f in _implicitDefaults)
        {
            SetDefault(f, sink);
        }

        var reader = new WireReader(payload);
        return ReadMessage(ref reader, sink) ? ParseError.None : ParseError.UndecodablePayload;
    }

    // Confluent's message-index path after the schema id: a zig-zag count then as many indexes ([0], the first message, as one 0 byte).
    internal static bool SkipMessageIndexes(ref ReadOnlySpan<byte> payload)
    {
        var reader = new WireReader(payload);
        if (!reader.TryReadZigZag(out var count) || count < 0 || count > 100)
        {
            return false;
        }

        for (var i = 0; i < count; i++)
        {
            if (!reader.TryReadZigZag(out _))
            {
                return false;
            }
        }

        payload = payload[reader.Position..];
        return true;
    }

    private static void SetDefault(Field f, EventParser sink)
    {
        switch (f.Target.Conversion)
        {
            case Conversion.Text:
                sink.SetText(f.Target, default);
                break;
            case Conversion.Integer or Conversion.Double or Conversion.Bool:
                sink.SetInteger(f.Target, 0);
                break;
        }
    }

    private bool ReadMessage(ref WireReader reader, EventParser sink)
    {
        while (!reader.AtEnd)
        {
            if (!reader.TryReadVarint(out var tag) || tag >> 3 is 0 or > 536_870_911)
            {
                return false;
            }

            var number = (int)(tag >> 3);
            var wire = (int)(tag & 7);
            var field = (uint)number < (uint)_byNumber.Length ? _byNumber[number] : _sparse.GetValueOrDefault(number);
            if (field is null || !field.Target.Wanted)
            {
                if (!Skip(ref reader, wire))
                {
                    return false;
                }

                continue;
            }

            if (!ReadField(ref reader, wire, field, sink))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Skip(ref WireReader reader, int wire) => wire switch
    {
        0 => reader.TryReadVarint(out _),
        1 => reader.TryReadFixed64(out _),
        2 => reader.TryReadVarint(out var length) && length <= int.MaxValue && reader.TrySkip((long)length),
        5 => reader.TryReadFixed32(out _),
        _ => false, // groups (3, 4) are long deprecated; anything else is not Protobuf
    };

    private static bool ReadField(ref WireReader reader, int wire, Field field, EventParser sink)
    {
        if (field.IsTimestamp || field.IsWrapper)
        {
            if (wire != 2 || !reader.TryReadVarint(out var length) || length > int.MaxValue || !reader.TryReadBytes((long)length, out var inner))
            {
                return false;
            }

            return field.IsTimestamp ? ReadTimestamp(inner, field, sink) : ReadWrapper(inner, field, sink);
        }

        return ReadScalar(ref reader, wire, field, sink);
    }

    // google.protobuf.Timestamp: seconds (1, int64) and nanos (2, int32) since the epoch.
    private static bool ReadTimestamp(ReadOnlySpan<byte> message, Field field, EventParser sink)
    {
        var reader = new WireReader(message);
        long seconds = 0, nanos = 0;
        while (!reader.AtEnd)
        {
            if (!reader.TryReadVarint(out var tag))
            {
                return false;
            }

            if (tag == 8 && reader.TryReadVarint(out var s))
            {
                seconds = (long)s;
            }
            else if (tag == 16 && reader.TryReadVarint(out var n))
            {
                nanos = (long)n;
            }
            else if (!Skip(ref reader, (int)(tag & 7)))
            {
                return false;
            }
        }

        if (seconds is < -62_135_596_800 or > 253_402_300_799 || nanos is < 0 or > 999_999_999)
        {
            sink.SetEpochMillis(field.Target, long.MinValue); // out of range: an invalid timestamp
            return true;
        }

        sink.SetEpochMillis(field.Target, (seconds * 1000) + (nanos / 1_000_000));
        return true;
    }

    // A wrapper type: its value is field 1; an empty wrapper is the default value, present.
    private static bool ReadWrapper(ReadOnlySpan<byte> message, Field field, EventParser sink)
    {
        SetDefault(field, sink);
        var reader = new WireReader(message);
        while (!reader.AtEnd)
        {
            if (!reader.TryReadVarint(out var tag))
            {
                return false;
            }

            if (tag >> 3 == 1)
            {
                if (!ReadScalar(ref reader, (int)(tag & 7), field, sink))
                {
                    return false;
                }
            }
            else if (!Skip(ref reader, (int)(tag & 7)))
            {
                return false;
            }
        }

        return true;
    }

    private static bool ReadScalar(ref WireReader reader, int wire, Field field, EventParser sink)
    {
        var type = field.Type;
        switch (type)
        {
            case Descriptors.FieldDescriptorProto.Type.TypeDouble when wire == 1:
                if (!reader.TryReadFixed64(out var d))
                {
                    return false;
                }

                sink.SetDouble(field.Target, BitConverter.UInt64BitsToDouble(d));
                return true;
            case Descriptors.FieldDescriptorProto.Type.TypeFloat when wire == 5:
                if (!reader.TryReadFixed32(out var f))
                {
                    return false;
                }

                sink.SetDouble(field.Target, BitConverter.UInt32BitsToSingle(f));
                return true;
            case Descriptors.FieldDescriptorProto.Type.TypeFixed64 or Descriptors.FieldDescriptorProto.Type.TypeSfixed64 when wire == 1:
                if (!reader.TryReadFixed64(out var q))
                {
                    return false;
                }

                sink.SetInteger(field.Target, (long)q);
                return true;
            case Descriptors.FieldDescriptorProto.Type.TypeFixed32 when wire == 5:
                if (!reader.TryReadFixed32(out var u))
                {
                    return false;
                }

                sink.SetInteger(field.Target, u);
                return true;
            case Descriptors.FieldDescriptorProto.Type.TypeSfixed32 when wire == 5:
                if (!reader.TryReadFixed32(out var i32))
                {
                    return false;
                }

                sink.SetInteger(field.Target, (int)i32);
                return true;
            case Descriptors.FieldDescriptorProto.Type.TypeSint32 or Descriptors.FieldDescriptorProto.Type.TypeSint64 when wire == 0:
                if (!reader.TryReadZigZag(out var z))
                {
                    return false;
                }

                sink.SetInteger(field.Target, z);
                return true;
            case Descriptors.FieldDescriptorProto.Type.TypeBool when wire == 0:
                if (!reader.TryReadVarint(out var b))
                {
                    return false;
                }

                sink.SetInteger(field.Target, b != 0 ? 1 : 0);
                return true;
            case Descriptors.FieldDescriptorProto.Type.TypeInt32 or Descriptors.FieldDescriptorProto.Type.TypeEnum when wire == 0:
                if (!reader.TryReadVarint(out var v32))
                {
                    return false;
                }

                sink.SetInteger(field.Target, (int)v32); // negative int32s are sign-extended to ten bytes; the low 32 bits are the value
                return true;
            case Descriptors.FieldDescriptorProto.Type.TypeInt64 or Descriptors.FieldDescriptorProto.Type.TypeUint32 when wire == 0:
                if (!reader.TryReadVarint(out var v64))
                {
                    return false;
                }

                sink.SetInteger(field.Target, type == Descriptors.FieldDescriptorProto.Type.TypeUint32 ? (uint)v64 : (long)v64);
                return true;
            case Descriptors.FieldDescriptorProto.Type.TypeUint64 when wire == 0:
                if (!reader.TryReadVarint(out var big))
                {
                    return false;
                }

                if (big > long.MaxValue)
                {
                    sink.SetInteger(field.Target with { Conversion = Conversion.Mismatch }, 0); // does not fit a 64-bit signed integer
                    return true;
                }

                sink.SetInteger(field.Target, (long)big);
                return true;
            case Descriptors.FieldDescriptorProto.Type.TypeString when wire == 2:
                if (!reader.TryReadVarint(out var length) || length > int.MaxValue || !reader.TryReadBytes((long)length, out var utf8) || !Utf8.IsValid(utf8))
                {
                    return false;
                }

                sink.SetText(field.Target, utf8);
                return true;
            default:
                // A wire type other than the field's (a changed type): its value cannot be this field's.
                if (!Skip(ref reader, wire))
                {
                    return false;
                }

                sink.SetInteger(field.Target with { Conversion = Conversion.Mismatch }, 0);
                return true;
        }
    }

    private sealed record Field(int Number, Descriptors.FieldDescriptorProto.Type Type, bool IsTimestamp, bool IsWrapper, bool ImplicitPresence, SlotTarget Target);
}
