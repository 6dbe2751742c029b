using System.Globalization;
using System.Text;
using Avro;
using Avro.Generic;
using Google.Protobuf;

namespace FeatureStore.Ingest.Tests;

/// <summary>
/// The scenario's payments in each payload format, by independent encoders (Apache.Avro's datum writer,
/// Google.Protobuf's coded output stream), framed as Confluent's serializers frame them: magic byte 0, a schema id, and
/// for Protobuf the message-index path [0].
/// </summary>
internal static class PayloadFormats
{
    public const int SchemaId = 7;

    public const string AvroSchema = """{"type": "record", "name": "Payment", "fields": [{"name": "user_id", "type": "string"}, {"name": "merchant_id", "type": "string"}, {"name": "amount", "type": "double"}, {"name": "country", "type": {"type": "enum", "name": "Country", "symbols": ["FR", "DE", "IT", "ES"]}}, {"name": "channel", "type": ["null", "string"], "default": null}, {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}""";

    public const string Proto = """
        syntax = "proto3";
        package shop;
        import "google/protobuf/timestamp.proto";
        message Payment {
          string user_id = 1;
          string merchant_id = 2;
          double amount = 3;
          string country = 4;
          repeated string tags = 5;
          google.protobuf.Timestamp ts = 6;
        }
        """;

    private static readonly RecordSchema Avro = (RecordSchema)Schema.Parse(AvroSchema);

    /// <summary>The repository text with its source declared as <paramref name="format"/>.</summary>
    public static string Declare(string yaml, string format)
    {
        if (format == "json")
        {
            return yaml;
        }

        var schema = format == "avro" ? "      " + AvroSchema : string.Join('\n', Proto.Split('\n').Select(l => "      " + l));
        return yaml.Replace("    timestamp_format: epoch_ms\n", $"    timestamp_format: epoch_ms\n    format: {format}\n    framing: confluent\n    schema: |\n{schema}\n", StringComparison.Ordinal);
    }

    public static byte[] Encode(string format, string user, string merchant, double amount, string country, long time)
    {
        switch (format)
        {
            case "avro":
                var record = new GenericRecord(Avro);
                record.Add("user_id", user);
                record.Add("merchant_id", merchant);
                record.Add("amount", amount);
                record.Add("country", new GenericEnum((EnumSchema)Avro["country"].Schema, country));
                record.Add("channel", "web");
                record.Add("ts", DateTimeOffset.FromUnixTimeMilliseconds(time).UtcDateTime);
                using (var stream = new MemoryStream())
                {
                    stream.Write([0, 0, 0, 0, SchemaId]);
                    var encoder = new Avro.IO.BinaryEncoder(stream);
                    new GenericDatumWriter<GenericRecord>(Avro).Write(record, encoder);
                    encoder.Flush();
                    return stream.ToArray();
                }

            case "protobuf":
                using (var stream = new MemoryStream())
                {
                    stream.Write([0, 0, 0, 0, SchemaId, 0]);
                    var output = new CodedOutputStream(stream, leaveOpen: true);
                    output.WriteTag(1, WireFormat.WireType.LengthDelimited);
                    output.WriteString(user);
                    output.WriteTag(2, WireFormat.WireType.LengthDelimited);
                    output.WriteString(merchant);
                    output.WriteTag(5, WireFormat.WireType.LengthDelimited);
                    output.WriteString("a tag the features do not read");
                    output.WriteTag(3, WireFormat.WireType.Fixed64);
                    output.WriteDouble(amount);
                    output.WriteTag(4, WireFormat.WireType.LengthDelimited);
                    output.WriteString(country);
                    output.WriteTag(6, WireFormat.WireType.LengthDelimited);
                    output.WriteMessage(Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(time)));
                    output.Flush();
                    return stream.ToArray();
                }

            default:
                return Encoding.UTF8.GetBytes($$"""{"user_id":"{{user}}","merchant_id":"{{merchant}}","amount":{{amount.ToString(CultureInfo.InvariantCulture)}},"country":"{{country}}","ts":{{time}}}""");
        }
    }
}
