using System.Buffers;
using System.Globalization;
using FeatureStore.Contracts.V1;
using FeatureStore.Serving.Internal;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// The hand-written reader of lookup requests against the generated protobuf parser: the same request from
/// the same bytes (random requests, unknown fields, repeated keys and sub-messages), and the same verdict
/// on altered bytes, a rejection being INVALID_ARGUMENT.
/// </summary>
public sealed class LookupRequestUnitTests
{
    private static readonly string[] Names = ["user_id", "merchant_id", "é_id", "k", ""];
    private static readonly string[] Texts = ["", "u1", "m42", "Zürich", "日本", "𝄞 clef", "a|b", new string('x', 300)];

    [Fact]
    public void Random_requests_read_as_the_generated_parser_reads_them()
    {
        var random = new Random(11);
        for (var i = 0; i < 2_000; i++)
        {
            var bytes = Encode(random);
            AssertSameAsGenerated(bytes, $"request {i}");
        }
    }

    [Fact]
    public void Altered_requests_get_the_generated_parser_verdict()
    {
        var random = new Random(12);
        var rejected = 0;
        for (var i = 0; i < 5_000; i++)
        {
            var bytes = Encode(random).ToList();
            for (var m = 0; m < 1 + random.Next(3); m++)
            {
                switch (random.Next(4))
                {
                    case 0 when bytes.Count > 0:
                        var at = random.Next(bytes.Count);
                        bytes.RemoveRange(at, 1 + random.Next(Math.Min(8, bytes.Count - at)));
                        break;
                    case 1 when bytes.Count > 0:
                        bytes[random.Next(bytes.Count)] = (byte)random.Next(256);
                        break;
                    case 2:
                        bytes.Insert(random.Next(bytes.Count + 1), (byte)random.Next(256));
                        break;
                    default:
                        var kept = random.Next(bytes.Count + 1); // cut short
                        bytes.RemoveRange(kept, bytes.Count - kept);

                        break;
                }
            }

            rejected += AssertSameAsGenerated([.. bytes], $"altered request {i}") ? 0 : 1;
        }

        Assert.InRange(rejected, 500, 4_900); // both verdicts were exercised
    }

    [Fact]
    public void Random_bytes_get_the_generated_parser_verdict()
    {
        var random = new Random(13);
        for (var i = 0; i < 5_000; i++)
        {
            var bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            AssertSameAsGenerated(bytes, $"random bytes {i}");
        }
    }

    [Theory]
    [InlineData(new byte[] { 0x1A, 0x05, 0x0A }, "runs past the message's end")] // an entity row longer than the message
    [InlineData(new byte[] { 0x0A, 0x02, 0xC3, 0x28 }, "not valid UTF-8")] // a feature reference that is not UTF-8
    [InlineData(new byte[] { 0x08, 0x80 }, "ends inside a number")] // an unknown varint cut short
    [InlineData(new byte[] { 0x00, 0x01 }, "invalid field tag")] // field number 0
    [InlineData(new byte[] { 0x0F }, "invalid wire type")] // wire type 7
    [InlineData(new byte[] { 0x2B, 0x08, 0x01 }, "group 5 is not closed")]
    [InlineData(new byte[] { 0x2C }, "invalid wire type 4")] // a group closed that was never opened
    public void Malformed_requests_are_invalid_arguments_saying_why(byte[] bytes, string reason)
    {
        var error = Assert.Throws<RpcException>(() => LookupRequest.Parse(bytes));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("malformed request: ", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(reason, error.Status.Detail, StringComparison.Ordinal);
        Assert.Throws<InvalidProtocolBufferException>(() => GetOnlineFeaturesRequest.Parser.ParseFrom(bytes));
    }

    [Fact]
    public void A_request_in_several_segments_reads_as_in_one()
    {
        var random = new Random(14);
        for (var i = 0; i < 200; i++)
        {
            var bytes = Encode(random);
            var cut = random.Next(bytes.Length + 1);
            var first = new Segment(bytes.AsMemory(0, cut), 0);
            var last = first.Append(bytes.AsMemory(cut));
            var parsed = LookupRequest.Parse(new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length));
            AssertEqual(LookupRequest.Parse(bytes), parsed, $"request {i} cut at {cut}");
        }
    }

    [Fact]
    public void The_last_entry_of_a_repeated_join_key_and_every_part_of_a_repeated_as_of_count()
    {
        // as_of twice (merged field by field), and one row in two pieces (its map entries merged, the last "user_id" kept).
        byte[] rowContent = [.. new EntityRow { JoinKeys = { ["user_id"] = "u2" } }.ToByteArray(), .. new EntityRow { JoinKeys = { ["user_id"] = "u3" } }.ToByteArray()];
        byte[] bytes =
        [
            .. new GetOnlineFeaturesRequest { AsOf = new Timestamp { Seconds = 5, Nanos = 7 } }.ToByteArray(),
            .. new GetOnlineFeaturesRequest { AsOf = new Timestamp { Seconds = 9 } }.ToByteArray(),
            0x1A, (byte)rowContent.Length, .. rowContent,
        ];
        var parsed = LookupRequest.Parse(bytes);
        Assert.Equal((9L, 7), parsed.AsOf);
        Assert.Equal(1, parsed.Rows);
        Assert.True(parsed.TryGetJoinKey(0, "user_id", out var user));
        Assert.Equal("u3", user);
        AssertSameAsGenerated(bytes, "repeated fields");
    }

    /// <summary>True when the bytes were read, false when both parsers rejected them.</summary>
    private static bool AssertSameAsGenerated(byte[] bytes, string what)
    {
        GetOnlineFeaturesRequest expected;
        try
        {
            expected = GetOnlineFeaturesRequest.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            var error = Assert.Throws<RpcException>(() => LookupRequest.Parse(bytes));
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            return false;
        }

        LookupRequest parsed;
        try
        {
            parsed = LookupRequest.Parse(bytes);
        }
        catch (RpcException ex)
        {
            throw new InvalidOperationException($"{what}: {Convert.ToHexString(bytes)} read by the generated parser, rejected: {ex.Status.Detail}", ex);
        }

        AssertEqual(LookupRequest.From(expected), parsed, what + ": " + Convert.ToHexString(bytes));
        return true;
    }

    private static void AssertEqual(LookupRequest expected, LookupRequest actual, string what)
    {
        Assert.True(expected.Features.SequenceEqual(actual.Features), what);
        Assert.True(expected.Model == actual.Model, what);
        Assert.True(expected.AsOf == actual.AsOf, what);
        Assert.True(expected.Rows == actual.Rows, what);
        for (var r = 0; r < expected.Rows; r++)
        {
            var keys = expected.JoinKeys(r);
            Assert.True(keys.OrderBy(k => k.Key, StringComparer.Ordinal).SequenceEqual(actual.JoinKeys(r).OrderBy(k => k.Key, StringComparer.Ordinal)), what);
            foreach (var (name, value) in keys)
            {
                Assert.True(actual.TryGetJoinKey(r, name, out var read) && read == value, what);
            }

            var context = expected.Context(r);
            Assert.True(context.OrderBy(k => k.Key, StringComparer.Ordinal).SequenceEqual(actual.Context(r).OrderBy(k => k.Key, StringComparer.Ordinal)), what);
            foreach (var (name, value) in context)
            {
                Assert.True(actual.TryGetContext(r, name, out var read) && read == value, what);
            }
        }
    }

    /// <summary>A random request's encoding, with unknown fields, repeated map keys and split messages at times.</summary>
    private static byte[] Encode(Random random)
    {
        var request = new GetOnlineFeaturesRequest();
        for (var f = random.Next(4); f > 0; f--)
        {
            request.Features.Add(random.Next(3) == 0 ? Texts[random.Next(Texts.Length)] : "view_" + random.Next(5).ToString(CultureInfo.InvariantCulture));
        }

        if (random.Next(3) == 0)
        {
            request.Model = "fraud@v" + random.Next(3).ToString(CultureInfo.InvariantCulture);
        }

        if (random.Next(2) == 0)
        {
            request.AsOf = new Timestamp { Seconds = random.NextInt64(-100_000_000_000, 300_000_000_000), Nanos = random.Next(3) == 0 ? -random.Next() : random.Next() };
        }

        for (var e = random.Next(8); e > 0; e--)
        {
            var row = new EntityRow();
            for (var k = random.Next(4); k > 0; k--)
            {
                row.JoinKeys[Names[random.Next(Names.Length)]] = Texts[random.Next(Texts.Length)];
            }

            for (var c = random.Next(4); c > 0; c--)
            {
                row.RequestContext[Names[random.Next(Names.Length)]] = random.Next(6) switch
                {
                    0 => Value.ForNumber(random.NextDouble() * 1e6),
                    1 => Value.ForNumber(random.Next(3) == 0 ? double.NaN : -random.Next()),
                    2 => Value.ForString(Texts[random.Next(Texts.Length)]),
                    3 => Value.ForBool(random.Next(2) == 0),
                    4 => Value.ForNull(),
                    _ => random.Next(2) == 0 ? Value.ForList(Value.ForNumber(1)) : new Value(),
                };
            }

            request.Entities.Add(row);
        }

        var bytes = request.ToByteArray().ToList();
        // Unknown fields of every wire type, at the top or inside a row, and a map entry repeating a key.
        for (var u = random.Next(3); u > 0; u--)
        {
            byte[] unknown = random.Next(5) switch
            {
                0 => [0x48, 0x96, 0x01], // field 9, varint
                1 => [0x51, 1, 2, 3, 4, 5, 6, 7, 8], // field 10, fixed64
                2 => [0x5D, 1, 2, 3, 4], // field 11, fixed32
                3 => [0x63, 0x08, 0x01, 0x64], // group 12 holding a varint
                _ => [0x1A, 0x09, 0x0A, 0x05, 0x0A, 0x01, (byte)'k', 0x10, 0x07, 0x0A, 0x00], // a row: k with a value of the wrong wire type, and an empty entry
            };
            bytes.InsertRange(random.Next(2) == 0 ? bytes.Count : 0, unknown);
        }

        return [.. bytes];
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
