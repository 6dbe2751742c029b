using System.Text;
using System.Text.Unicode;
using Avro;

namespace FeatureStore.Core.Events.Payloads;

/// <summary>
/// Avro binary events of one writer schema: the schema (parsed by Apache.Avro) is compiled once into a tree of
/// nodes; decoding walks the payload with it, writes the top-level fields a source declares into their slots
/// (matched by name) and reads past the rest. A declared field the writer does not have is absent, or takes the
/// reader schema's default when one is given (Avro's schema resolution for added fields).
/// </summary>
public sealed class AvroDecoder : PayloadDecoder
{
    private const int MaxDepth = 64;
    private const long MaxEmptyItems = 65_536;
    private readonly Node _root;
    private readonly (SlotTarget Target, Node Value)[] _defaults;
    private readonly PayloadFraming _framing;

    private AvroDecoder(Node root, (SlotTarget, Node)[] defaults, PayloadFraming framing)
    {
        _root = root;
        _defaults = defaults;
        _framing = framing;
    }

    /// <summary>
    /// Compiles <paramref name="writerSchema"/> (Avro schema JSON, a record) for <paramref name="schema"/>'s fields;
    /// <paramref name="readerSchema"/>, when given, supplies defaults for declared fields the writer lacks.
    /// Throws <see cref="PayloadSchemaException"/> for a schema that is not a record or does not parse.
    /// </summary>
    public static AvroDecoder Compile(string writerSchema, EventSchema schema, PayloadFraming framing = PayloadFraming.None, string? readerSchema = null)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var writer = Parse(writerSchema);
        var named = new Dictionary<string, Node>(StringComparer.Ordinal);
        var root = Build(writer, schema, topLevel: true, named);
        var defaults = new List<(SlotTarget, Node)>();
        if (readerSchema is not null && Parse(readerSchema) is RecordSchema reader)
        {
            var written = ((RecordSchema)writer).Fields.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var field in reader.Fields.Where(f => !written.Contains(f.Name) && f.DefaultValue is not null))
            {
                var target = TargetFor(field.Name, field.Schema, schema);
                if (target.Wanted && DefaultNode(field.Schema, field.DefaultValue) is { } value)
                {
                    defaults.Add((target, value));
                }
            }
        }

        return new AvroDecoder(root, [.. defaults], framing);
    }

    /// <summary>Parses Avro schema JSON; the error says what is wrong.</summary>
    public static Schema Parse(string text)
    {
        Schema? parsed;
        try
        {
            parsed = Schema.Parse(text);
        }
        catch (Exception ex) when (ex is AvroException or Newtonsoft.Json.JsonException or ArgumentException or InvalidOperationException or NullReferenceException or FormatException)
        {
            // The library reports some malformed schemas by a NullReferenceException of its own.
            throw new PayloadSchemaException($"not an Avro schema: {ex.Message}");
        }

        return parsed switch
        {
            RecordSchema => parsed,
            null => throw new PayloadSchemaException("not an Avro schema"),
            _ => throw new PayloadSchemaException($"an event schema must be an Avro record, not {parsed.Tag.ToString().ToLowerInvariant()}"),
        };
    }

    internal override ParseError Decode(ReadOnlySpan<byte> payload, EventParser sink)
    {
        if (_framing == PayloadFraming.Confluent && !TryReadConfluentHeader(ref payload, out _))
        {
            return ParseError.UnknownSchema;
        }

        foreach (var (target, value) in _defaults)
        {
            var empty = new WireReader(value.DefaultBytes);
            _ = Read(ref empty, value, target, sink, 0);
        }

        var reader = new WireReader(payload);
        return Read(ref reader, _root, SlotTarget.None, sink, 0) && reader.AtEnd ? ParseError.None : ParseError.UndecodablePayload;
    }

    private static bool Read(ref WireReader reader, Node node, in SlotTarget target, EventParser sink, int depth)
    {
        if (depth > MaxDepth)
        {
            return false;
        }

        switch (node.Kind)
        {
            case Schema.Type.Null:
                return true;
            case Schema.Type.Boolean:
                if (!reader.TryReadBytes(1, out var flag) || flag[0] > 1)
                {
                    return false;
                }

                if (target.Wanted)
                {
                    // A boolean fills a bool field only: never an integer's 0 or 1.
                    sink.SetInteger(target.Conversion == Conversion.Bool ? target : target with { Conversion = Conversion.Mismatch }, flag[0]);
                }

                return true;
            case Schema.Type.Int:
            case Schema.Type.Long:
                if (!reader.TryReadZigZag(out var integer) || (node.Kind == Schema.Type.Int && integer is < int.MinValue or > int.MaxValue))
                {
                    return false;
                }

                if (target.Wanted)
                {
                    sink.SetInteger(target, integer);
                }

                return true;
            case Schema.Type.Float:
                if (!reader.TryReadFixed32(out var single))
                {
                    return false;
                }

                if (target.Wanted)
                {
                    sink.SetDouble(target, BitConverter.UInt32BitsToSingle(single));
                }

                return true;
            case Schema.Type.Double:
                if (!reader.TryReadFixed64(out var bits))
                {
                    return false;
                }

                if (target.Wanted)
                {
                    sink.SetDouble(target, BitConverter.UInt64BitsToDouble(bits));
                }

                return true;
            case Schema.Type.String:
            case Schema.Type.Bytes:
                if (!reader.TryReadZigZag(out var length) || !reader.TryReadBytes(length, out var bytes))
                {
                    return false;
                }

                if (target.Wanted)
                {
                    if (node.Kind == Schema.Type.String && !Utf8.IsValid(bytes))
                    {
                        return false;
                    }

                    sink.SetText(node.Kind == Schema.Type.String ? target : target with { Conversion = Conversion.Mismatch }, bytes);
                }

                return true;
            case Schema.Type.Fixed:
                return reader.TrySkip(node.Size);
            case Schema.Type.Enumeration:
                if (!reader.TryReadZigZag(out var symbol) || symbol < 0 || symbol >= node.Symbols.Length)
                {
                    return false;
                }

                if (target.Wanted)
                {
                    sink.SetText(target, node.Symbols[symbol]);
                }

                return true;
            case Schema.Type.Union:
                if (!reader.TryReadZigZag(out var branch) || branch < 0 || branch >= node.Children.Length)
                {
                    return false;
                }

                return Read(ref reader, node.Children[branch], target, sink, depth + 1);
            case Schema.Type.Record:
                for (var i = 0; i < node.Children.Length; i++)
                {
                    if (!Read(ref reader, node.Children[i], node.Targets[i], sink, depth + 1))
                    {
                        return false;
                    }
                }

                if (target.Wanted)
                {
                    sink.SetText(target with { Conversion = Conversion.Mismatch }, default);
                }

                return true;
            case Schema.Type.Array:
            case Schema.Type.Map:
                if (target.Wanted)
                {
                    sink.SetText(target with { Conversion = Conversion.Mismatch }, default);
                }

                return SkipBlocks(ref reader, node, sink, depth);
            default:
                return false;
        }
    }

    // Array and map blocks: a count (negative: followed by the block's size in bytes), the items, a zero count at the end.
    private static bool SkipBlocks(ref WireReader reader, Node node, EventParser sink, int depth)
    {
        for (var blocks = 0; ; blocks++)
        {
            if (!reader.TryReadZigZag(out var count))
            {
                return false;
            }

            if (count == 0)
            {
                return true;
            }

            if (count < 0)
            {
                if (count == long.MinValue || !reader.TryReadZigZag(out var size) || !reader.TrySkip(size))
                {
                    return false;
                }

                continue;
            }

            for (long i = 0; i < count; i++)
            {
                if (node.Kind == Schema.Type.Map && (!reader.TryReadZigZag(out var keyLength) || !reader.TrySkip(keyLength)))
                {
                    return false;
                }

                var before = reader.Position;
                if (!Read(ref reader, node.Children[0], SlotTarget.None, sink, depth + 1))
                {
                    return false;
                }

                if (reader.Position == before && count > MaxEmptyItems)
                {
                    return false; // items of no bytes (nulls) by the billion: a payload built to spin
                }
            }
        }
    }

    private static Node Build(Schema schema, EventSchema events, bool topLevel, Dictionary<string, Node> named)
    {
        if (schema is NamedSchema n && named.TryGetValue(n.Fullname, out var seen))
        {
            return seen;
        }

        switch (schema)
        {
            case LogicalSchema logical:
                return Build(logical.BaseSchema, events, false, named) with { Logical = logical.LogicalTypeName };
            case RecordSchema record:
                var node = new Node(Schema.Type.Record);
                named[record.Fullname] = node;
                node.Children = [.. record.Fields.Select(f => Build(f.Schema, events, false, named))];
                node.Targets = [.. record.Fields.Select(f => topLevel ? TargetFor(f.Name, f.Schema, events) : SlotTarget.None)];
                return node;
            case EnumSchema enumeration:
                var symbols = new Node(Schema.Type.Enumeration) { Symbols = [.. enumeration.Symbols.Select(Encoding.UTF8.GetBytes)] };
                named[enumeration.Fullname] = symbols;
                return symbols;
            case FixedSchema fixedSchema:
                var fixedNode = new Node(Schema.Type.Fixed) { Size = fixedSchema.Size };
                named[fixedSchema.Fullname] = fixedNode;
                return fixedNode;
            case UnionSchema union:
                return new Node(Schema.Type.Union) { Children = [.. union.Schemas.Select(s => Build(s, events, false, named))] };
            case ArraySchema array:
                return new Node(Schema.Type.Array) { Children = [Build(array.ItemSchema, events, false, named)] };
            case MapSchema map:
                return new Node(Schema.Type.Map) { Children = [Build(map.ValueSchema, events, false, named)] };
            default:
                return new Node(schema.Tag);
        }
    }

    // Which slot a top-level field fills and how: decided from the writer's type (the first non-null branch of a union).
    private static SlotTarget TargetFor(string name, Schema type, EventSchema events)
    {
        var slot = events.IndexOf(name);
        var isTime = name == events.TimestampField;
        if (slot < 0 && !isTime)
        {
            return SlotTarget.None;
        }

        var value = type is UnionSchema union ? union.Schemas.FirstOrDefault(s => s.Tag != Schema.Type.Null) ?? type : type;
        var logical = (value as LogicalSchema)?.LogicalTypeName;
        var tag = value is LogicalSchema l ? l.BaseSchema.Tag : value.Tag;
        var kind = slot >= 0 ? events.Fields[slot].Kind : FieldKind.Timestamp;
        var conversion = (isTime ? FieldKind.Timestamp : kind, tag) switch
        {
            (FieldKind.Timestamp, Schema.Type.Long) when logical == "timestamp-micros" => Conversion.TimeMicros,
            (FieldKind.Timestamp, Schema.Type.Long) when logical == "timestamp-millis" || events.TimestampFormat == TimestampFormat.EpochMillis => Conversion.TimeMillis,
            (FieldKind.Timestamp, Schema.Type.String) => Conversion.TimeText,
            (FieldKind.String, Schema.Type.String or Schema.Type.Enumeration) => Conversion.Text,
            (FieldKind.Int, Schema.Type.Int or Schema.Type.Long) => Conversion.Integer,
            (FieldKind.Double, Schema.Type.Int or Schema.Type.Long or Schema.Type.Float or Schema.Type.Double) => Conversion.Double,
            (FieldKind.Bool, Schema.Type.Boolean) => Conversion.Bool,
            _ => Conversion.Mismatch,
        };
        if (isTime && slot >= 0 && kind != FieldKind.Timestamp)
        {
            conversion = Conversion.Mismatch;
        }

        return new SlotTarget(slot, isTime, conversion);
    }

    // A reader default, encoded once as Avro binary, so it is read by the same code as the payload.
    private static Node? DefaultNode(Schema schema, Newtonsoft.Json.Linq.JToken value)
    {
        try
        {
            using var stream = new MemoryStream();
            var encoder = new Avro.IO.BinaryEncoder(stream);
            var datum = ToDatum(schema, value);
            new Avro.Generic.GenericDatumWriter<object?>(schema).Write(datum, encoder);
            encoder.Flush();
            return Build(schema, new EventSchema("_", TimestampFormat.EpochMillis, [], []), false, []) with { DefaultBytes = stream.ToArray() };
        }
        catch (Exception ex) when (ex is AvroException or InvalidCastException or FormatException)
        {
            return null;
        }
    }

    private static object? ToDatum(Schema schema, Newtonsoft.Json.Linq.JToken value)
    {
        var type = schema is UnionSchema union ? union.Schemas[0] : schema; // Avro: a union's default is of its first branch
        var tag = type is LogicalSchema l ? l.BaseSchema.Tag : type.Tag;
        return tag switch
        {
            Schema.Type.Null => null,
            Schema.Type.Boolean => (bool)value,
            Schema.Type.Int => (int)value,
            Schema.Type.Long => (long)value,
            Schema.Type.Float => (float)value,
            Schema.Type.Double => (double)value,
            Schema.Type.String => (string?)value,
            Schema.Type.Enumeration => new Avro.Generic.GenericEnum((EnumSchema)type, (string)value!),
            _ => throw new InvalidCastException($"no default of {tag} is used"),
        };
    }

    private sealed record Node(Schema.Type Kind)
    {
        public Node[] Children { get; set; } = [];

        public SlotTarget[] Targets { get; set; } = [];

        public byte[][] Symbols { get; init; } = [];

        public int Size { get; init; }

        public string? Logical { get; init; }

        public byte[] DefaultBytes { get; init; } = [];
    }
}

/// <summary>A payload schema (Avro, Protobuf) that cannot be used; the message says why.</summary>
public sealed class PayloadSchemaException(string message, int line = 0, int column = 0) : Exception(message)
{
    /// <summary>1-based line in the schema text, or 0.</summary>
    public int Line { get; } = line;

    /// <summary>1-based column in the schema text, or 0.</summary>
    public int Column { get; } = column;
}
