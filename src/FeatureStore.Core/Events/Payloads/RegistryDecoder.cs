using System.Collections.Concurrent;
using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Events.Payloads;

/// <summary>
/// Confluent-framed events read with their writer's schema: the schema id in each payload's header is resolved once
/// (through an <see cref="IWriterSchemaResolver"/>, a Schema Registry client) to the schema the producer wrote with,
/// compiled into an <see cref="AvroDecoder"/> or <see cref="ProtobufDecoder"/> for the source's declared fields and
/// kept; every later payload of that id is decoded by the kept plan, with no call out. Fields are matched by name, so
/// a writer with added fields is read past them and one with removed fields reads them as absent, or as the
/// repository's (the reader's) Avro default. An id the registry does not have is <see cref="ParseError.UnknownSchema"/>;
/// a registry that cannot be asked throws <see cref="SchemaRegistryUnavailableException"/> and judges nothing.
/// </summary>
public sealed class RegistryDecoder : PayloadDecoder
{
    /// <summary>Unknown ids remembered (so a flood of bad ids asks once each); past it, they are forgotten and asked again.</summary>
    public const int MaxRememberedUnknownIds = 100_000;

    /// <summary>Deepest Protobuf message-index path read (a message nested in a message of the file).</summary>
    public const int MaxMessageDepth = 2;

    private readonly bool _avro;
    private readonly string _readerSchema;
    private readonly EventSchema _schema;
    private readonly ConcurrentDictionary<WriterKey, Entry> _byId = new();
    private readonly Dictionary<int, WriterSchema?> _writers = []; // under _resolving
    private readonly Lock _resolving = new();
    private IWriterSchemaResolver? _resolver;
    private int _unknown;

    /// <summary>
    /// A decoder for <paramref name="schema"/>'s fields of an Avro (<paramref name="format"/> <c>avro</c>) or Protobuf
    /// source whose repository schema is <paramref name="readerSchema"/>, asking <paramref name="registry"/>.
    /// </summary>
    public RegistryDecoder(string format, string readerSchema, EventSchema schema, SchemaRegistryDefinition registry)
    {
        ArgumentNullException.ThrowIfNull(readerSchema);
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(registry);
        _avro = format switch
        {
            "avro" => true,
            "protobuf" => false,
            _ => throw new ArgumentException($"no registry decoder for format '{format}'", nameof(format)),
        };
        _readerSchema = readerSchema;
        _schema = schema;
        Registry = registry;
    }

    /// <summary>The registry asked.</summary>
    public SchemaRegistryDefinition Registry { get; }

    /// <summary>Whether a resolver is attached.</summary>
    public bool IsAttached => Volatile.Read(ref _resolver) is not null;

    /// <summary>Asks <paramref name="resolver"/> from now on; the first one attached stays.</summary>
    public void Attach(IWriterSchemaResolver resolver)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        _ = Interlocked.CompareExchange(ref _resolver, resolver, null);
    }

    internal override ParseError Decode(ReadOnlySpan<byte> payload, EventParser sink)
    {
        if (!TryReadConfluentHeader(ref payload, out var id))
        {
            return ParseError.UnknownSchema;
        }

        var key = new WriterKey(id, -1, -1);
        if (!_avro && !TryReadMessagePath(ref payload, id, out key))
        {
            return ParseError.UndecodablePayload;
        }

        if (!_byId.TryGetValue(key, out var entry))
        {
            entry = Resolve(key);
        }

        return entry.Decoder is { } decoder ? decoder.Decode(payload, sink) : entry.Error;
    }

    // Confluent's message-index path: a zig-zag count, then the indexes; a lone 0 stands for [0], the first message.
    private static bool TryReadMessagePath(ref ReadOnlySpan<byte> payload, int id, out WriterKey key)
    {
        key = default;
        var reader = new WireReader(payload);
        if (!reader.TryReadZigZag(out var count) || count < 0 || count > MaxMessageDepth)
        {
            return false;
        }

        Span<int> path = [0, -1];
        for (var i = 0; i < count; i++)
        {
            if (!reader.TryReadZigZag(out var index) || index is < 0 or > 65_535)
            {
                return false;
            }

            path[i] = (int)index;
        }

        payload = payload[reader.Position..];
        key = new WriterKey(id, path[0], path[1]);
        return true;
    }

    private Entry Resolve(WriterKey key)
    {
        var resolver = Volatile.Read(ref _resolver)
            ?? throw new SchemaRegistryUnavailableException("no Schema Registry client is attached to this source's decoder");
        lock (_resolving)
        {
            if (_byId.TryGetValue(key, out var raced))
            {
                return raced;
            }

            // The id is asked once, whichever of its messages (Protobuf) the payloads name.
            if (!_writers.TryGetValue(key.Id, out var writer))
            {
                writer = resolver.Resolve(key.Id);
                if (writer is null && ++_unknown > MaxRememberedUnknownIds)
                {
                    foreach (var forgotten in _writers.Where(e => e.Value is null).Select(e => e.Key).ToList())
                    {
                        _ = _writers.Remove(forgotten);
                    }

                    foreach (var forgotten in _byId.Where(e => e.Value == Entry.Unknown).Select(e => e.Key).ToList())
                    {
                        _ = _byId.TryRemove(forgotten, out _);
                    }

                    _unknown = 1;
                }

                _writers[key.Id] = writer;
            }

            var entry = writer is null ? Entry.Unknown : Compile(writer, key);
            _byId[key] = entry;
            return entry;
        }
    }

    // A writer schema of another type, or one that does not compile, cannot read the payloads that name it.
    private Entry Compile(WriterSchema writer, WriterKey key)
    {
        if (!string.Equals(writer.Type, _avro ? "AVRO" : "PROTOBUF", StringComparison.OrdinalIgnoreCase))
        {
            return Entry.Unreadable;
        }

        try
        {
            if (_avro)
            {
                return new Entry(AvroDecoder.Compile(writer.Text, _schema, PayloadFraming.None, _readerSchema), ParseError.None);
            }

            ReadOnlySpan<int> path = key.Nested >= 0 ? [key.Top, key.Nested] : [key.Top];
            return new Entry(ProtobufDecoder.CompileAt(writer.Text, path, _schema), ParseError.None);
        }
        catch (PayloadSchemaException)
        {
            return Entry.Unreadable;
        }
    }

    private readonly record struct WriterKey(int Id, int Top, int Nested);

    private sealed class Entry(PayloadDecoder? decoder, ParseError error)
    {
        public static Entry Unknown { get; } = new(null, ParseError.UnknownSchema);

        public static Entry Unreadable { get; } = new(null, ParseError.UndecodablePayload);

        public PayloadDecoder? Decoder { get; } = decoder;

        public ParseError Error { get; } = error;
    }
}
