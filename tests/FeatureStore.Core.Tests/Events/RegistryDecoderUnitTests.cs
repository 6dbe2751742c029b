using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using Avro;
using Avro.Generic;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Events.Payloads;
using Google.Protobuf;

namespace FeatureStore.Core.Tests.Events;

/// <summary>
/// The registry decoder's rules, with writer schemas handed in by a table (the real client is tested against a
/// registry endpoint in FeatureStore.Kafka.Tests): each id is asked once and kept, known or not; a writer is read by
/// field name against the repository's (reader's) schema; a registry that cannot answer judges nothing.
/// </summary>
public sealed class RegistryDecoderUnitTests
{
    private const string Reader = """{"type": "record", "name": "E", "fields": [{"name": "user_id", "type": "string"}, {"name": "amount", "type": "double"}, {"name": "country", "type": "string", "default": "FR"}, {"name": "ts", "type": "long"}]}""";
    private const string Added = """{"type": "record", "name": "E", "fields": [{"name": "extra", "type": {"type": "array", "items": "long"}}, {"name": "ts", "type": "long"}, {"name": "amount", "type": "float"}, {"name": "country", "type": "string"}, {"name": "user_id", "type": "string"}]}""";
    private const string Removed = """{"type": "record", "name": "E", "fields": [{"name": "user_id", "type": "string"}, {"name": "ts", "type": "long"}]}""";
    private const string Proto = """
        syntax = "proto3";
        message Other { string user_id = 1; }
        message E { int64 ts = 4; string user_id = 9; double amount = 2; string country = 3; }
        """;

    private static readonly SchemaRegistryDefinition Registry = new(["http://registry:8081"], null);

    private static EventParser Parser(string format, Table table)
    {
        var schema = new EventSchema("ts", TimestampFormat.EpochMillis, ["user_id"],
            [new("user_id", FieldKind.String), new("amount", FieldKind.Double), new("country", FieldKind.String), new("ts", FieldKind.Timestamp)]);
        var decoder = new RegistryDecoder(format, format == "avro" ? Reader : Proto, schema, Registry);
        decoder.Attach(table);
        schema.UseDecoder(decoder);
        return new EventParser(schema);
    }

    [Fact]
    public void Writers_with_added_removed_and_reordered_fields_are_read_by_name_and_each_id_is_asked_once()
    {
        var table = new Table { [1] = new(Reader, "AVRO"), [2] = new(Added, "AVRO"), [3] = new(Removed, "AVRO") };
        var parser = Parser("avro", table);
        for (var round = 0; round < 50; round++)
        {
            Assert.Equal(ParseError.None, parser.Parse(Avro(1, Reader, ("user_id", "u1"), ("amount", 2.5), ("country", "DE"), ("ts", 1_000L))));
            Assert.Equal(("u1", 2.5, "DE", 1_000L), Read(parser));
            Assert.Equal(ParseError.None, parser.Parse(Avro(2, Added, ("extra", new long[] { 1, 2 }), ("ts", 2_000L), ("amount", 1.5f), ("country", "IT"), ("user_id", "u2"))));
            Assert.Equal(("u2", 1.5, "IT", 2_000L), Read(parser));

            // Removed: amount is absent, country takes the reader's default.
            Assert.Equal(ParseError.None, parser.Parse(Avro(3, Removed, ("user_id", "u3"), ("ts", 3_000L))));
            Assert.False(parser.HasValue(1));
            Assert.Equal("FR", Encoding.UTF8.GetString(parser.GetUtf8(2)));
        }

        Assert.Equal(new Dictionary<int, int> { [1] = 1, [2] = 1, [3] = 1 }, table.Asked);
    }

    [Fact]
    public void An_unknown_id_is_dead_lettered_asked_once_and_a_payload_without_the_frame_asks_nothing()
    {
        var table = new Table();
        var parser = Parser("avro", table);
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(ParseError.UnknownSchema, parser.Parse(Avro(77, Reader, ("user_id", "u"), ("amount", 1.0), ("country", "FR"), ("ts", 1L))));
        }

        Assert.Equal(ParseError.UnknownSchema, parser.Parse("{\"user_id\":\"u\"}"u8));
        Assert.Equal(ParseError.UnknownSchema, parser.Parse([0, 0, 0]));
        Assert.Equal(new Dictionary<int, int> { [77] = 1 }, table.Asked);
    }

    [Fact]
    public void A_writer_of_another_type_or_that_does_not_compile_makes_its_events_undecodable()
    {
        var table = new Table { [1] = new(Proto, "PROTOBUF"), [2] = new("{\"type\": \"strin\"}", "AVRO"), [3] = new("\"long\"", "AVRO") };
        var parser = Parser("avro", table);
        foreach (var id in new[] { 1, 2, 3, 1 })
        {
            Assert.Equal(ParseError.UndecodablePayload, parser.Parse(Avro(id, Reader, ("user_id", "u"), ("amount", 1.0), ("country", "FR"), ("ts", 1L))));
        }

        Assert.Equal(3, table.Asked.Count);
    }

    [Fact]
    public void A_registry_that_cannot_answer_judges_nothing_and_is_asked_again()
    {
        var table = new Table { [1] = new(Reader, "AVRO") };
        table.Down = true;
        var parser = Parser("avro", table);
        var payload = Avro(1, Reader, ("user_id", "u"), ("amount", 1.0), ("country", "FR"), ("ts", 1L));
        Assert.Throws<SchemaRegistryUnavailableException>(() => parser.Parse(payload));
        Assert.Throws<SchemaRegistryUnavailableException>(() => parser.Parse(payload));
        table.Down = false;
        Assert.Equal(ParseError.None, parser.Parse(payload));
        Assert.Equal(3, table.Asked[1]);

        // Without a client attached, the same: never a dead letter.
        var schema = new EventSchema("ts", TimestampFormat.EpochMillis, [], [new("ts", FieldKind.Timestamp)]);
        schema.UseDecoder(new RegistryDecoder("avro", Reader, schema, Registry));
        Assert.Throws<SchemaRegistryUnavailableException>(() => new EventParser(schema).Parse(payload));
    }

    [Fact]
    public void Protobuf_writers_are_read_by_field_name_at_the_message_their_index_path_names()
    {
        var table = new Table { [5] = new(Proto, "PROTOBUF") };
        var parser = Parser("protobuf", table);
        Assert.Equal(ParseError.None, parser.Parse(ProtoPayload(5, [2, 2])));
        Assert.Equal(("u9", 4.5, "ES", 9_000L), Read(parser));

        // The first message ([0], one 0 byte) has no time; a path past the file's messages, too deep, or cut short cannot be read.
        Assert.Equal(ParseError.MissingTimestamp, parser.Parse(ProtoPayload(5, [0])));
        Assert.Equal(ParseError.UndecodablePayload, parser.Parse(ProtoPayload(5, [2, 4])));
        Assert.Equal(ParseError.UndecodablePayload, parser.Parse(ProtoPayload(5, [6, 2, 2, 2])));
        Assert.Equal(ParseError.UndecodablePayload, parser.Parse(ProtoPayload(5, [2])));
        Assert.Equal(1, table.Asked[5]); // the id once, whichever of its messages the payloads name
    }

    [Fact]
    public void Threads_missing_one_id_together_ask_for_it_once()
    {
        var table = new Table { [1] = new(Reader, "AVRO") };
        table.Delay = TimeSpan.FromMilliseconds(50);
        var schema = new EventSchema("ts", TimestampFormat.EpochMillis, ["user_id"], [new("user_id", FieldKind.String), new("ts", FieldKind.Timestamp)]);
        var decoder = new RegistryDecoder("avro", Reader, schema, Registry);
        decoder.Attach(table);
        schema.UseDecoder(decoder);
        var payload = Avro(1, Reader, ("user_id", "u"), ("amount", 1.0), ("country", "FR"), ("ts", 1L));
        var results = new ConcurrentBag<ParseError>();
        Parallel.For(0, 16, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ => results.Add(new EventParser(schema).Parse(payload)));
        Assert.All(results, r => Assert.Equal(ParseError.None, r));
        Assert.Equal(1, table.Asked[1]);
    }

    private static (string, double, string, long) Read(EventParser parser) =>
        (Encoding.UTF8.GetString(parser.GetUtf8(0)), parser.GetDouble(1), Encoding.UTF8.GetString(parser.GetUtf8(2)), parser.EventTimeMs);

    private static byte[] Avro(int id, string writer, params (string Name, object Value)[] values)
    {
        var schema = (RecordSchema)Schema.Parse(writer);
        var record = new GenericRecord(schema);
        foreach (var (name, value) in values)
        {
            record.Add(name, value);
        }

        using var stream = new MemoryStream();
        stream.WriteByte(0);
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, id);
        stream.Write(header);
        var encoder = new Avro.IO.BinaryEncoder(stream);
        new GenericDatumWriter<GenericRecord>(schema).Write(record, encoder);
        encoder.Flush();
        return stream.ToArray();
    }

    private static byte[] ProtoPayload(int id, byte[] path)
    {
        using var stream = new MemoryStream();
        stream.WriteByte(0);
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, id);
        stream.Write(header);
        stream.Write(path);
        var output = new CodedOutputStream(stream, leaveOpen: true);
        output.WriteTag(9, WireFormat.WireType.LengthDelimited);
        output.WriteString("u9");
        output.WriteTag(2, WireFormat.WireType.Fixed64);
        output.WriteDouble(4.5);
        output.WriteTag(3, WireFormat.WireType.LengthDelimited);
        output.WriteString("ES");
        output.WriteTag(4, WireFormat.WireType.Varint);
        output.WriteInt64(9_000);
        output.Flush();
        return stream.ToArray();
    }

    /// <summary>Writer schemas by id, counting how often each id is asked.</summary>
    private sealed class Table : Dictionary<int, WriterSchema>, IWriterSchemaResolver
    {
        public ConcurrentDictionary<int, int> Asked { get; } = new();

        public bool Down { get; set; }

        public TimeSpan Delay { get; set; }

        public WriterSchema? Resolve(int schemaId)
        {
            Asked.AddOrUpdate(schemaId, 1, (_, n) => n + 1);
            if (Delay > TimeSpan.Zero)
            {
                Thread.Sleep(Delay); // a slow registry, so the threads really overlap
            }

            return Down ? throw new SchemaRegistryUnavailableException("down") : this.GetValueOrDefault(schemaId);
        }
    }
}
