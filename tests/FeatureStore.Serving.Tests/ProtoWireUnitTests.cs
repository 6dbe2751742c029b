using System.Buffers;
using FeatureStore.Contracts.Wire;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// The wire reader and writer the client's and the server's codecs share, one primitive at a time, against
/// the bytes Google.Protobuf's <see cref="CodedOutputStream"/> writes and the values its <see cref="CodedInputStream"/> reads.
/// </summary>
public sealed class ProtoWireUnitTests
{
    private static readonly ulong[] Numbers =
        [0, 1, 127, 128, 300, 16_383, 16_384, uint.MaxValue, (ulong)long.MaxValue, ulong.MaxValue, unchecked((ulong)-1L), unchecked((ulong)(long)int.MinValue)];

    private static readonly string[] Texts = ["", "u1", "Zürich", "日本", "𝄞 clef", new string('x', 300)];

    [Fact]
    public void Varints_and_their_sizes_are_the_generated_codes()
    {
        foreach (var number in Numbers)
        {
            var expected = Generated(output => output.WriteUInt64(number));
            Assert.Equal(CodedOutputStream.ComputeUInt64Size(number), ProtoWriter.VarintSize(number));
            var buffer = new byte[16];
            var writer = new ProtoWriter(buffer);
            writer.Varint(number);
            Assert.Equal(expected, buffer[..writer.Position]);

            var reader = new ProtoReader(expected);
            Assert.Equal(number, reader.Varint());
            Assert.False(reader.More);
        }
    }

    [Fact]
    public void String_fields_and_delimited_sizes_are_the_generated_codes()
    {
        foreach (var text in Texts)
        {
            var expected = Generated(output =>
            {
                output.WriteTag(4, WireFormat.WireType.LengthDelimited);
                output.WriteString(text);
            });
            var byteCount = System.Text.Encoding.UTF8.GetByteCount(text);
            Assert.Equal(expected.Length, ProtoWriter.DelimitedSize(byteCount));
            var buffer = new byte[expected.Length];
            var writer = new ProtoWriter(buffer);
            writer.String((4 << 3) | 2, text, byteCount);
            Assert.Equal(expected.Length, writer.Position);
            Assert.Equal(expected, buffer);

            var reader = new ProtoReader(expected);
            Assert.Equal((4u << 3) | 2, reader.Tag());
            Assert.Equal(text, reader.String());
            Assert.False(reader.More);
        }
    }

    [Fact]
    public void Doubles_and_fixed_64_bit_fields_are_the_generated_codes()
    {
        foreach (var value in new[] { 0.0, -0.0, 1.5, -1e300, double.NaN, double.PositiveInfinity, double.Epsilon })
        {
            var expected = Generated(output => output.WriteDouble(value));
            var buffer = new byte[8];
            var writer = new ProtoWriter(buffer);
            writer.Double(value);
            Assert.Equal(expected, buffer);

            var reader = new ProtoReader(expected);
            Assert.Equal(BitConverter.DoubleToInt64Bits(value), reader.Fixed64());
        }
    }

    [Fact]
    public void Timestamps_are_the_generated_codes_with_defaults_left_out()
    {
        (long Seconds, int Nanos)[] times = [(0, 0), (1, 0), (0, 1), (-62_135_596_800, 999_999_999), (1_700_000_000, 123_000_000), (5, -1)];
        foreach (var (seconds, nanos) in times)
        {
            var expected = new Timestamp { Seconds = seconds, Nanos = nanos }.ToByteArray();
            Assert.Equal(expected.Length, ProtoWriter.TimestampSize(seconds, nanos));
            var buffer = new byte[expected.Length];
            var writer = new ProtoWriter(buffer);
            writer.Timestamp(seconds, nanos);
            Assert.Equal(expected, buffer[..writer.Position]);
        }
    }

    [Fact]
    public void A_nested_message_is_read_with_offsets_into_the_whole_span()
    {
        // field 1: a nested message holding field 2 = "ab"; then field 3 = varint 7.
        byte[] bytes = [0x0A, 0x04, 0x12, 0x02, (byte)'a', (byte)'b', 0x18, 0x07];
        var reader = new ProtoReader(bytes);
        Assert.Equal((1u << 3) | 2, reader.Tag());
        var nested = reader.Message();
        Assert.Equal((2u << 3) | 2, nested.Tag());
        Assert.Equal((4, 2), nested.Delimited());
        Assert.False(nested.More);
        Assert.Equal(3u << 3, reader.Tag());
        Assert.Equal(7ul, reader.Varint());
        Assert.False(reader.More);
    }

    [Fact]
    public void Unknown_fields_of_every_wire_type_are_skipped_as_the_generated_parser_skips_them()
    {
        // varint, fixed64, length-delimited, a group holding a varint and a nested group, fixed32; then field 15 = 1.
        byte[] bytes = [0x48, 0x96, 0x01, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x5A, 0x01, 0xFF, 0x63, 0x08, 0x01, 0x6B, 0x6C, 0x64, 0x6D, 1, 2, 3, 4, 0x78, 0x01];
        Assert.Equal(1, Int32Value.Parser.ParseFrom([.. bytes[..^2], 0x08, 0x01]).Value); // the generated parser steps over all of it
        var reader = new ProtoReader(bytes);
        while (reader.More)
        {
            var tag = reader.Tag();
            if (tag == 15 << 3)
            {
                Assert.Equal(1ul, reader.Varint());
                Assert.False(reader.More);
                return;
            }

            reader.Skip(tag);
        }

        Assert.Fail("field 15 was not reached");
    }

    [Theory]
    [InlineData(new byte[] { 0x00, 0x01 }, "invalid field tag")]
    [InlineData(new byte[] { 0x08, 0x80 }, "ends inside a number")]
    [InlineData(new byte[] { 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, "longer than 10 bytes")]
    [InlineData(new byte[] { 0x12, 0x05, 0x00 }, "runs past the message's end")]
    [InlineData(new byte[] { 0x11, 0x00 }, "ends inside a fixed-size field")]
    [InlineData(new byte[] { 0x0A, 0x02, 0xC3, 0x28 }, "not valid UTF-8")]
    [InlineData(new byte[] { 0x1B, 0x08, 0x01 }, "group 3 is not closed")]
    [InlineData(new byte[] { 0x1B, 0x24 }, "closed as group 4")]
    [InlineData(new byte[] { 0x0F }, "invalid wire type 7")]
    public void Malformed_fields_throw_saying_why(byte[] bytes, string reason)
    {
        var error = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new ProtoReader(bytes);
            while (reader.More)
            {
                var tag = reader.Tag();
                if (tag == ((1 << 3) | 2))
                {
                    _ = reader.String();
                }
                else
                {
                    reader.Skip(tag);
                }
            }
        });
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.ThrowsAny<InvalidProtocolBufferException>(() => StringValue.Parser.ParseFrom(bytes));
    }

    [Fact]
    public void A_map_entry_skips_wire_types_6_and_7_as_empty_fields()
    {
        var entry = new ProtoReader([0x0E]);
        entry.SkipInMapEntry(entry.Tag());
        Assert.False(entry.More);
        Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new ProtoReader([0x0E]);
            reader.Skip(reader.Tag());
        });
    }

    [Fact]
    public void A_payload_in_several_segments_is_parsed_as_one_span()
    {
        byte[] bytes = [0x0A, 0x03, (byte)'a', (byte)'b', (byte)'c'];
        var first = new Segment(bytes.AsMemory(0, 2), 0);
        var last = first.Append(bytes.AsMemory(2));
        var text = ProtoReader.Contiguous(new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length), static span =>
        {
            var reader = new ProtoReader(span);
            _ = reader.Tag();
            return reader.String();
        });
        Assert.Equal("abc", text);
    }

    private static byte[] Generated(Action<CodedOutputStream> write)
    {
        using var memory = new MemoryStream();
        var output = new CodedOutputStream(memory);
        write(output);
        output.Flush();
        return memory.ToArray();
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
