using System.Globalization;
using System.Text;
using System.Text.Json;
using Avro;
using Avro.Generic;
using FeatureStore.Core.Events;
using FeatureStore.Core.Events.Payloads;
using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;

namespace FeatureStore.Core.Tests.Events;

/// <summary>
/// Avro and Protobuf payloads are read into the same slots as the JSON of the same event: each event is encoded by
/// an independent encoder (Apache.Avro's datum writer, Google.Protobuf's coded output stream, System.Text.Json),
/// parsed three times, and every slot, the key and the time compared. Then the evolution rules and hostile payloads.
/// </summary>
public sealed class PayloadFormatTests
{
    private const string AvroSchemaText = """
        {"type": "record", "name": "Payment", "namespace": "shop", "fields": [
          {"name": "user_id", "type": "string"},
          {"name": "amount", "type": ["null", "double"], "default": null},
          {"name": "count", "type": ["null", "long"], "default": null},
          {"name": "card_present", "type": ["null", "boolean"], "default": null},
          {"name": "country", "type": ["null", "string"], "default": null},
          {"name": "tags", "type": {"type": "array", "items": "string"}},
          {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}}
        ]}
        """;

    private const string ProtoText = """
        syntax = "proto3";
        package shop;
        import "google/protobuf/timestamp.proto";
        message Payment {
          string user_id = 1;
          optional double amount = 2;
          optional int64 count = 3;
          optional bool card_present = 4;
          optional string country = 5;
          repeated string tags = 6;
          google.protobuf.Timestamp event_time = 7;
        }
        """;

    private static EventSchema Schema() => new("event_time", TimestampFormat.EpochMillis, ["user_id"],
        [new("user_id", FieldKind.String), new("amount", FieldKind.Double), new("count", FieldKind.Int), new("card_present", FieldKind.Bool),
         new("country", FieldKind.String), new("event_time", FieldKind.Timestamp)]);

    private static EventParser Parser(Func<EventSchema, PayloadDecoder>? decoder)
    {
        var schema = Schema();
        if (decoder is not null)
        {
            schema.UseDecoder(decoder(schema));
        }

        return new EventParser(schema);
    }

    internal sealed record Event(string User, double? Amount, long? Count, bool? CardPresent, string? Country, string[] Tags, long TimeMs);

    private static Arbitrary<Event> Events() =>
        (from user in Gen.Elements("u1", "ü-ñ", "a|b", "x", "")
         from amount in Gen.OneOf(Gen.Constant((double?)null), Gen.Choose(-1_000_000, 1_000_000).Select(i => (double?)(i / 7.0)))
         from count in Gen.OneOf(Gen.Constant((long?)null), Gen.Choose(int.MinValue, int.MaxValue).Select(i => (long?)i * 3))
         from card in Gen.Elements((bool?)null, true, false)
         from country in Gen.Elements(null, "DE", "日本", "")
         from tags in Gen.Elements(Array.Empty<string>(), ["a"], ["x", "y", "z"])
         from time in Gen.Choose(0, int.MaxValue).Select(t => 1_700_000_000_000L + t)
         select new Event(user, amount, count, card, country, tags, time)).ToArbitrary();

    private static byte[] Json(Event e) => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
    {
        ["user_id"] = e.User,
        ["amount"] = e.Amount,
        ["count"] = e.Count,
        ["card_present"] = e.CardPresent,
        ["country"] = e.Country,
        ["tags"] = e.Tags,
        ["event_time"] = e.TimeMs,
    });

    private static byte[] Avro(Event e, string schemaText = AvroSchemaText)
    {
        var schema = (RecordSchema)global::Avro.Schema.Parse(schemaText);
        var record = new GenericRecord(schema);
        foreach (var field in schema.Fields)
        {
            record.Add(field.Name, field.Name switch
            {
                "user_id" => e.User,
                "amount" => e.Amount,
                "count" => e.Count,
                "card_present" => e.CardPresent,
                "country" => e.Country,
                "tags" => e.Tags,
                "event_time" => field.Schema is LogicalSchema ? DateTimeOffset.FromUnixTimeMilliseconds(e.TimeMs).UtcDateTime : (object)e.TimeMs,
                "extra" => "added by a newer writer",
                _ => null,
            });
        }

        using var stream = new MemoryStream();
        var encoder = new global::Avro.IO.BinaryEncoder(stream);
        new GenericDatumWriter<GenericRecord>(schema).Write(record, encoder);
        encoder.Flush();
        return stream.ToArray();
    }

    private static byte[] Protobuf(Event e, bool unknownField = false)
    {
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        if (unknownField)
        {
            output.WriteTag(99, WireFormat.WireType.LengthDelimited);
            output.WriteString("a field this reader does not know");
        }

        if (e.User.Length > 0)
        {
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteString(e.User);
        }

        if (e.Amount is { } amount)
        {
            output.WriteTag(2, WireFormat.WireType.Fixed64);
            output.WriteDouble(amount);
        }

        if (e.Count is { } count)
        {
            output.WriteTag(3, WireFormat.WireType.Varint);
            output.WriteInt64(count);
        }

        if (e.CardPresent is { } card)
        {
            output.WriteTag(4, WireFormat.WireType.Varint);
            output.WriteBool(card);
        }

        if (e.Country is { } country)
        {
            output.WriteTag(5, WireFormat.WireType.LengthDelimited);
            output.WriteString(country);
        }

        foreach (var tag in e.Tags)
        {
            output.WriteTag(6, WireFormat.WireType.LengthDelimited);
            output.WriteString(tag);
        }

        var timestamp = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(e.TimeMs));
        output.WriteTag(7, WireFormat.WireType.LengthDelimited);
        output.WriteMessage(timestamp);
        output.Flush();
        return stream.ToArray();
    }

    private static string Read(EventParser parser, ReadOnlySpan<byte> payload)
    {
        var error = parser.Parse(payload);
        if (error != ParseError.None)
        {
            return $"{error.ToReason()} {parser.ErrorField}";
        }

        var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"time={parser.EventTimeMs} key={Encoding.UTF8.GetString(parser.KeyUtf8)}");
        for (var slot = 0; slot < parser.Schema.Fields.Count; slot++)
        {
            var field = parser.Schema.Fields[slot];
            text.Append(' ').Append(field.Name).Append('=');
            if (!parser.HasValue(slot))
            {
                text.Append("null");
                continue;
            }

            text.Append(field.Kind switch
            {
                FieldKind.String => Encoding.UTF8.GetString(parser.GetUtf8(slot)),
                FieldKind.Double => parser.GetDouble(slot).ToString("R", CultureInfo.InvariantCulture),
                _ => parser.GetInt64(slot).ToString(CultureInfo.InvariantCulture),
            });
        }

        return text.ToString();
    }

    [Fact]
    public void Avro_and_protobuf_events_read_as_their_json()
    {
        var json = Parser(null);
        var avro = Parser(s => AvroDecoder.Compile(AvroSchemaText, s));
        var proto = Parser(s => ProtobufDecoder.Compile(ProtoText, "Payment", s));
        Prop.ForAll(Events(), e =>
        {
            var expected = Read(json, Json(e));
            Assert.Equal(expected, Read(avro, Avro(e)));

            // proto3 has no null for a string without presence: the empty key reads as missing in both.
            Assert.Equal(expected, Read(proto, Protobuf(e)));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void A_newer_avro_writer_is_read_by_name_and_a_missing_field_takes_the_reader_default()
    {
        // The writer added `extra` and dropped `country`; the reader schema gives `country` a default.
        var writer = AvroSchemaText.Replace("""{"name": "country", "type": ["null", "string"], "default": null},""", """{"name": "extra", "type": "string"},""", StringComparison.Ordinal);
        var reader = AvroSchemaText.Replace("""{"name": "country", "type": ["null", "string"], "default": null}""", """{"name": "country", "type": "string", "default": "unknown"}""", StringComparison.Ordinal);
        var parser = Parser(s => AvroDecoder.Compile(writer, s, PayloadFraming.None, reader));
        var e = new Event("u1", 2.5, 3, true, "DE", ["t"], 1_700_000_000_000);
        Assert.Equal(Read(Parser(null), Json(e with { Country = "unknown" })), Read(parser, Avro(e, writer)));

        // Without a reader schema the field the writer lacks is absent.
        var bare = Parser(s => AvroDecoder.Compile(writer, s));
        Assert.Equal(Read(Parser(null), Json(e with { Country = null })), Read(bare, Avro(e, writer)));
    }

    [Fact]
    public void Protobuf_reads_past_unknown_fields_and_rejects_a_changed_wire_type()
    {
        var parser = Parser(s => ProtobufDecoder.Compile(ProtoText, "shop.Payment", s));
        var e = new Event("u1", 2.5, 3, false, "DE", [], 1_700_000_000_000);
        Assert.Equal(Read(Parser(null), Json(e)), Read(parser, Protobuf(e, unknownField: true)));

        // `amount` written as a varint (a writer that changed its type): wrong_type, naming the field.
        var changed = Protobuf(e with { Amount = null }).Concat(new byte[] { (2 << 3) | 0, 5 }).ToArray();
        Assert.Equal("wrong_type amount", Read(parser, changed));
    }

    [Fact]
    public void A_proto3_scalar_without_presence_reads_as_its_default()
    {
        var proto = ProtoText.Replace("optional double amount", "double amount", StringComparison.Ordinal);
        var parser = Parser(s => ProtobufDecoder.Compile(proto, null, s));
        var e = new Event("u1", null, null, null, null, [], 1_700_000_000_000);
        Assert.Contains(" amount=0 ", Read(parser, Protobuf(e)), StringComparison.Ordinal);
        Assert.Contains(" count=null ", Read(parser, Protobuf(e)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_declared_type_the_payload_cannot_fill_is_wrong_type_and_names_the_field()
    {
        var avro = AvroSchemaText.Replace("""{"name": "count", "type": ["null", "long"], "default": null}""", """{"name": "count", "type": ["null", "string"], "default": null}""", StringComparison.Ordinal);
        var parser = Parser(s => AvroDecoder.Compile(avro, s));
        var e = new Event("u1", 1, 7, null, null, [], 1_700_000_000_000);
        Assert.Equal("wrong_type count", Read(parser, AvroWithCountText(avro)));
        Assert.StartsWith("time=", Read(parser, Avro(e with { Count = null }, avro)), StringComparison.Ordinal); // null is fine
    }

    private static byte[] AvroWithCountText(string schemaText)
    {
        var schema = (RecordSchema)global::Avro.Schema.Parse(schemaText);
        var record = new GenericRecord(schema);
        record.Add("user_id", "u1");
        record.Add("amount", null);
        record.Add("count", "seven");
        record.Add("card_present", null);
        record.Add("country", null);
        record.Add("tags", Array.Empty<string>());
        record.Add("event_time", DateTime.UnixEpoch.AddDays(20_000));
        using var stream = new MemoryStream();
        var encoder = new global::Avro.IO.BinaryEncoder(stream);
        new GenericDatumWriter<GenericRecord>(schema).Write(record, encoder);
        encoder.Flush();
        return stream.ToArray();
    }

    [Fact]
    public void Every_truncation_and_random_bytes_are_undecodable_never_a_crash()
    {
        var avro = Parser(s => AvroDecoder.Compile(AvroSchemaText, s));
        var proto = Parser(s => ProtobufDecoder.Compile(ProtoText, "Payment", s));
        var e = new Event("user-1", 2.5, 3, true, "DE", ["a", "b"], 1_700_000_000_000);
        foreach (var (parser, payload) in new[] { (avro, Avro(e)), (proto, Protobuf(e)) })
        {
            for (var length = 0; length < payload.Length; length++)
            {
                var error = parser.Parse(payload.AsSpan(0, length));
                Assert.NotEqual(ParseError.None, error);
            }
        }

        var random = new Random(3);
        var bytes = new byte[64];
        for (var i = 0; i < 5_000; i++)
        {
            random.NextBytes(bytes);
            _ = avro.Parse(bytes.AsSpan(0, random.Next(bytes.Length)));
            _ = proto.Parse(bytes.AsSpan(0, random.Next(bytes.Length)));
        }
    }

    [Fact]
    public void An_avro_array_of_a_billion_nulls_is_refused_at_once()
    {
        const string schema = """{"type": "record", "name": "E", "fields": [{"name": "user_id", "type": "string"}, {"name": "n", "type": {"type": "array", "items": "null"}}, {"name": "event_time", "type": "long"}]}""";
        var parser = Parser(s => AvroDecoder.Compile(schema, s));
        // user_id "u", then an array block of 10^9 nulls (zig-zag varint), no end.
        byte[] payload = [2, (byte)'u', 0x80, 0xA8, 0xD6, 0xB9, 0x07];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(ParseError.UndecodablePayload, parser.Parse(payload));
        Assert.True(clock.ElapsedMilliseconds < 1000, $"{clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void Invalid_utf8_in_a_string_is_undecodable()
    {
        var parser = Parser(s => ProtobufDecoder.Compile(ProtoText, null, s));
        byte[] payload = [(1 << 3) | 2, 2, 0xC3, 0x28];
        Assert.Equal(ParseError.UndecodablePayload, parser.Parse(payload));
    }

    [Fact]
    public void Confluent_framing_is_read_and_its_absence_is_an_unknown_schema()
    {
        var avro = Parser(s => AvroDecoder.Compile(AvroSchemaText, s, PayloadFraming.Confluent));
        var proto = Parser(s => ProtobufDecoder.Compile(ProtoText, null, s, PayloadFraming.Confluent));
        var e = new Event("u1", 1.5, null, null, "DE", [], 1_700_000_000_000);
        var expected = Read(Parser(null), Json(e));
        Assert.Equal(expected, Read(avro, [0, 0, 0, 0, 42, .. Avro(e)]));
        Assert.Equal(expected, Read(proto, [0, 0, 0, 0, 42, 0, .. Protobuf(e)]));
        Assert.Equal("unknown_schema_id ", Read(avro, Avro(e)));
    }

    [Fact]
    public void A_broken_schema_says_where()
    {
        var proto = Assert.Throws<PayloadSchemaException>(() => ProtobufDecoder.Compile("syntax = \"proto3\";\nmessage P {\n  string a = ;\n}\n", null, Schema()));
        Assert.Equal(3, proto.Line);
        Assert.True(proto.Column > 0);
        Assert.Contains("has no message 'Nope'", Assert.Throws<PayloadSchemaException>(() => ProtobufDecoder.Compile(ProtoText, "Nope", Schema())).Message, StringComparison.Ordinal);
        Assert.Contains("not an Avro schema", Assert.Throws<PayloadSchemaException>(() => AvroDecoder.Compile("{\"type\": \"recrd\"}", Schema())).Message, StringComparison.Ordinal);
        Assert.Contains("must be an Avro record", Assert.Throws<PayloadSchemaException>(() => AvroDecoder.Compile("\"string\"", Schema())).Message, StringComparison.Ordinal);
    }
}
