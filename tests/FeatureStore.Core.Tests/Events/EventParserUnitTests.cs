using System.Text;
using FeatureStore.Core.Events;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Core.Tests.Events;

public sealed class EventParserUnitTests
{
    private static readonly EventSchema Transactions = new(
        "event_time",
        TimestampFormat.Rfc3339,
        ["user_id"],
        [
            new FieldSpec("user_id", FieldKind.String),
            new FieldSpec("amount", FieldKind.Double),
            new FieldSpec("quantity", FieldKind.Int),
            new FieldSpec("card_present", FieldKind.Bool),
            new FieldSpec("event_time", FieldKind.Timestamp),
        ],
        maxPayloadBytes: 4096);

    private static ParseError Parse(EventParser parser, string json) => parser.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Reads_typed_fields_key_and_time()
    {
        var parser = new EventParser(Transactions);
        var result = Parse(parser, """{"user_id":"u\u00e9-1","amount":12.5,"quantity":3,"card_present":true,"event_time":"2026-11-28T15:18:10.123Z","extra":{"nested":[1,2,{"a":null}]}}""");

        Assert.Equal(ParseError.None, result);
        Assert.Equal("ué-1", Encoding.UTF8.GetString(parser.KeyUtf8));
        Assert.Equal(1795879090123L, parser.EventTimeMs);
        Assert.Equal(12.5, parser.GetDouble(1));
        Assert.Equal(3, parser.GetInt64(2));
        Assert.Equal(1, parser.GetInt64(3));
        Assert.Equal("ué-1", Encoding.UTF8.GetString(parser.GetUtf8(0)));
    }

    [Fact]
    public void Key_bytes_equal_the_key_string_for_text_number_and_composite_keys()
    {
        var schema = new EventSchema(
            "event_time",
            TimestampFormat.Rfc3339,
            ["user_id", "shop"],
            [
                new FieldSpec("user_id", FieldKind.String),
                new FieldSpec("shop", FieldKind.Int),
                new FieldSpec("event_time", FieldKind.Timestamp),
            ],
            maxPayloadBytes: 4096);
        var parser = new EventParser(schema);
        Assert.Equal(ParseError.None, Parse(parser, """{"user_id":"u\u00e9|1","shop":-9000000000,"event_time":"2026-11-28T15:18:10Z"}"""));
        Span<byte> buffer = stackalloc byte[64];
        foreach (int[] slots in new[] { new[] { 0 }, [1], [0, 1], [1, 0] })
        {
            Assert.True(parser.TryWriteKeyUtf8(slots, buffer, out var written));
            Assert.Equal(parser.KeyFor(slots), Encoding.UTF8.GetString(buffer[..written]));
        }

        // Too small a buffer: refused, whatever was written.
        Assert.False(parser.TryWriteKeyUtf8([0, 1], buffer[..8], out _));
        Assert.False(parser.TryWriteKeyUtf8([1], buffer[..3], out _));
    }

    [Fact]
    public void Absent_and_null_fields_have_no_value()
    {
        var parser = new EventParser(Transactions);
        Assert.Equal(ParseError.None, Parse(parser, """{"user_id":"u1","amount":null,"event_time":"2026-11-28T15:18:10Z"}"""));
        Assert.False(parser.HasValue(1));
        Assert.False(parser.HasValue(2));
    }

    [Theory]
    [InlineData("{\"user_id\":\"u1\",\"amount\":1,\"event_time\":\"2026-11-28T15:18:10Z\"", ParseError.MalformedJson, null)]
    [InlineData("""[1,2]""", ParseError.MalformedJson, null)]
    [InlineData("""{"user_id":"u1","event_time":"2026-11-28T15:18:10Z"} {}""", ParseError.MalformedJson, null)]
    [InlineData("""{"user_id":"u1","amount":NaN,"event_time":"2026-11-28T15:18:10Z"}""", ParseError.MalformedJson, null)]
    [InlineData("""{"amount":1,"event_time":"2026-11-28T15:18:10Z"}""", ParseError.MissingKey, "user_id")]
    [InlineData("""{"user_id":"","event_time":"2026-11-28T15:18:10Z"}""", ParseError.MissingKey, "user_id")]
    [InlineData("""{"user_id":null,"event_time":"2026-11-28T15:18:10Z"}""", ParseError.MissingKey, "user_id")]
    [InlineData("""{"user_id":"u1"}""", ParseError.MissingTimestamp, "event_time")]
    [InlineData("""{"user_id":"u1","event_time":null}""", ParseError.MissingTimestamp, "event_time")]
    [InlineData("""{"user_id":"u1","event_time":"yesterday"}""", ParseError.InvalidTimestamp, "event_time")]
    [InlineData("""{"user_id":"u1","event_time":1795879090000}""", ParseError.InvalidTimestamp, "event_time")]
    [InlineData("""{"user_id":"u1","amount":"12.5","event_time":"2026-11-28T15:18:10Z"}""", ParseError.WrongType, "amount")]
    [InlineData("""{"user_id":"u1","quantity":1.5,"event_time":"2026-11-28T15:18:10Z"}""", ParseError.WrongType, "quantity")]
    [InlineData("""{"user_id":"u1","amount":1e999,"event_time":"2026-11-28T15:18:10Z"}""", ParseError.WrongType, "amount")]
    [InlineData("""{"user_id":7,"event_time":"2026-11-28T15:18:10Z"}""", ParseError.WrongType, "user_id")]
    [InlineData("""{"user_id":"u1","card_present":"yes","event_time":"2026-11-28T15:18:10Z"}""", ParseError.WrongType, "card_present")]
    [InlineData("""{"user_id":{"id":1},"event_time":"2026-11-28T15:18:10Z"}""", ParseError.WrongType, "user_id")]
    public void Rejects_bad_events_with_reason_and_field(string json, ParseError expected, string? field)
    {
        var parser = new EventParser(Transactions);
        Assert.Equal(expected, Parse(parser, json));
        Assert.Equal(field, parser.ErrorField);
    }

    [Fact]
    public void Rejects_oversized_payloads_before_parsing()
    {
        var parser = new EventParser(Transactions);
        var huge = """{"user_id":"u1","event_time":"2026-11-28T15:18:10Z","pad":""" + "\"" + new string('x', 5000) + "\"}";
        Assert.Equal(ParseError.PayloadTooLarge, Parse(parser, huge));
    }

    [Fact]
    public void Rejects_deep_nesting_as_malformed()
    {
        var parser = new EventParser(Transactions);
        var deep = """{"user_id":"u1","event_time":"2026-11-28T15:18:10Z","x":""" + new string('[', 100) + new string(']', 100) + "}";
        Assert.Equal(ParseError.MalformedJson, Parse(parser, deep));
    }

    [Fact]
    public void Epoch_millis_sources_accept_numbers_and_digit_strings()
    {
        var schema = new EventSchema("ts", TimestampFormat.EpochMillis, ["id", "region"],
            [new FieldSpec("id", FieldKind.Int), new FieldSpec("region", FieldKind.String)]);
        var parser = new EventParser(schema);

        Assert.Equal(ParseError.None, Parse(parser, """{"id":42,"region":"eu","ts":1795879090123}"""));
        Assert.Equal(1795879090123L, parser.EventTimeMs);
        Assert.Equal("42|eu", Encoding.UTF8.GetString(parser.KeyUtf8));

        Assert.Equal(ParseError.None, Parse(parser, """{"id":42,"region":"eu","ts":"1795879090124"}"""));
        Assert.Equal(1795879090124L, parser.EventTimeMs);

        Assert.Equal(ParseError.InvalidTimestamp, Parse(parser, """{"id":42,"region":"eu","ts":9223372036854775807}"""));
        Assert.Equal(ParseError.InvalidTimestamp, Parse(parser, """{"id":42,"region":"eu","ts":1.5}"""));
    }

    [Fact]
    public void Random_bytes_never_throw() =>
        Prop.ForAll<byte[]>(bytes =>
        {
            var parser = new EventParser(Transactions);
            var result = parser.Parse(bytes);
            return result is >= ParseError.None and <= ParseError.TooFarInFuture;
        }).QuickCheckThrowOnFailure();
}
