using System.Globalization;
using System.Text;
using Avro;
using Avro.Generic;
using FeatureStore.Bench.Harness;
using FeatureStore.Core.Events;
using FeatureStore.Core.Events.Payloads;
using Google.Protobuf;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// The parse rate of Avro and Protobuf payloads against the same events in JSON: one parser per format reads every
/// payload into its slots, as ingest does (framed for Schema Registry, the schemas of the payments source).
/// </summary>
internal static class PayloadFormatScenario
{
    private const string AvroSchema = """{"type": "record", "name": "Payment", "fields": [{"name": "user_id", "type": "string"}, {"name": "merchant_id", "type": "string"}, {"name": "amount", "type": "double"}, {"name": "country", "type": "string"}, {"name": "card_present", "type": "boolean"}, {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}""";

    private const string Proto = """
        syntax = "proto3";
        message Payment { string user_id = 1; string merchant_id = 2; double amount = 3; string country = 4; bool card_present = 5; int64 ts = 6; }
        """;

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(int events, int repetitions)
    {
        var random = new Random(17);
        var json = new byte[events][];
        var avro = new byte[events][];
        var proto = new byte[events][];
        var schema = (RecordSchema)Schema.Parse(AvroSchema);
        var writer = new GenericDatumWriter<GenericRecord>(schema);
        using var buffer = new MemoryStream();
        for (var i = 0; i < events; i++)
        {
            var user = "u" + random.Next(100_000).ToString(CultureInfo.InvariantCulture);
            var merchant = "m" + random.Next(5_000).ToString(CultureInfo.InvariantCulture);
            var amount = Math.Round(random.NextDouble() * 500, 2);
            var country = new[] { "FR", "DE", "IT", "ES" }[random.Next(4)];
            var card = random.Next(2) == 0;
            var time = 1_790_000_000_000 + random.NextInt64(86_400_000);
            json[i] = Encoding.UTF8.GetBytes($$"""{"user_id":"{{user}}","merchant_id":"{{merchant}}","amount":{{amount.ToString(CultureInfo.InvariantCulture)}},"country":"{{country}}","card_present":{{(card ? "true" : "false")}},"ts":{{time}}}""");

            var record = new GenericRecord(schema);
            record.Add("user_id", user);
            record.Add("merchant_id", merchant);
            record.Add("amount", amount);
            record.Add("country", country);
            record.Add("card_present", card);
            record.Add("ts", DateTimeOffset.FromUnixTimeMilliseconds(time).UtcDateTime);
            buffer.SetLength(0);
            buffer.Write([0, 0, 0, 0, 1]);
            var encoder = new Avro.IO.BinaryEncoder(buffer);
            writer.Write(record, encoder);
            encoder.Flush();
            avro[i] = buffer.ToArray();

            buffer.SetLength(0);
            buffer.Write([0, 0, 0, 0, 2, 0]);
            var output = new CodedOutputStream(buffer, leaveOpen: true);
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteString(user);
            output.WriteTag(2, WireFormat.WireType.LengthDelimited);
            output.WriteString(merchant);
            output.WriteTag(3, WireFormat.WireType.Fixed64);
            output.WriteDouble(amount);
            output.WriteTag(4, WireFormat.WireType.LengthDelimited);
            output.WriteString(country);
            output.WriteTag(5, WireFormat.WireType.Varint);
            output.WriteBool(card);
            output.WriteTag(6, WireFormat.WireType.Varint);
            output.WriteInt64(time);
            output.Flush();
            proto[i] = buffer.ToArray();
        }

        var jsonRate = await RateAsync(Parser(null), json, repetitions);
        var avroRate = await RateAsync(Parser(s => AvroDecoder.Compile(AvroSchema, s, PayloadFraming.Confluent)), avro, repetitions);
        var protoRate = await RateAsync(Parser(s => ProtobufDecoder.Compile(Proto, null, s, PayloadFraming.Confluent)), proto, repetitions);
        return
        [
            new ResultRow("payload formats", "JSON parse", jsonRate, "events/s"),
            new ResultRow("payload formats", "Avro parse (Confluent framing)", avroRate, "events/s", "JSON parse", jsonRate),
            new ResultRow("payload formats", "Protobuf parse (Confluent framing)", protoRate, "events/s", "JSON parse", jsonRate),
        ];
    }

    private static EventParser Parser(Func<EventSchema, PayloadDecoder>? decoder)
    {
        var schema = new EventSchema("ts", TimestampFormat.EpochMillis, ["user_id"],
            [new("user_id", FieldKind.String), new("merchant_id", FieldKind.String), new("amount", FieldKind.Double), new("country", FieldKind.String),
             new("card_present", FieldKind.Bool), new("ts", FieldKind.Timestamp)]);
        if (decoder is not null)
        {
            schema.UseDecoder(decoder(schema));
        }

        return new EventParser(schema);
    }

    private static Task<double> RateAsync(EventParser parser, byte[][] payloads, int repetitions) =>
        Measure.MedianRateAsync(repetitions, _ =>
        {
            foreach (var payload in payloads)
            {
                if (parser.Parse(payload) != ParseError.None)
                {
                    throw new InvalidOperationException($"a generated payload did not parse: {parser.Parse(payload)}");
                }
            }

            return Task.FromResult((long)payloads.Length);
        });
}
