using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using FeatureStore.Core.Windows;
using Grpc.Core;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// Writes a <see cref="LookupAnswer"/> as the protobuf encoding of <c>GetOnlineFeaturesResponse</c>
/// (schemas/featurestore/v1/online.proto): the bytes the generated message would write for the same
/// values, field for field, so every client reads it as before. Sizes are computed first (protobuf
/// prefixes each message with its length), then each row is written into the transport's buffer.
/// </summary>
internal static class LookupAnswerEncoding
{
    // Tags: field number << 3 | wire type (0 varint, 1 fixed 64-bit, 2 length-delimited).
    private const byte FeatureNamesTag = (1 << 3) | 2;
    private const byte RowsTag = (2 << 3) | 2;
    private const byte EvaluatedAtTag = (3 << 3) | 2;
    private const byte RegistryVersionTag = 4 << 3;
    private const byte ValuesTag = (1 << 3) | 2; // FeatureRow.values
    private const byte StatusTag = 1 << 3; // FeatureValue.status
    private const byte DoubleTag = (2 << 3) | 1;
    private const byte Int64Tag = 3 << 3;
    private const byte StringTag = (4 << 3) | 2;
    private const byte EventTimestampTag = (6 << 3) | 2;
    private const byte SecondsTag = 1 << 3; // Timestamp.seconds
    private const byte NanosTag = 2 << 3; // Timestamp.nanos
    private const byte BatchResultTag = (1 << 3) | 2; // LookupBatchResult.results
    private const byte StreamedResponseTag = (1 << 3) | 2; // StreamedLookup.response
    private const byte StreamedErrorTag = (2 << 3) | 2; // StreamedLookup.error
    private const byte ErrorCodeTag = 1 << 3; // LookupError.code
    private const byte ErrorMessageTag = (2 << 3) | 2; // LookupError.message

    /// <summary>The gRPC marshaller of answers: writes (and then releases) them; servers never read one.</summary>
    public static readonly Marshaller<LookupAnswer> Marshaller = Marshallers.Create<LookupAnswer>(
        Serialize, static _ => throw new NotSupportedException("lookup answers are only written"));

    /// <summary>
    /// The marshaller of a lookup stream's messages (<c>LookupBatchResult</c>): per lookup a <c>StreamedLookup</c>
    /// holding the answer's encoding as its field <c>response</c>, or its error as <c>error</c>.
    /// </summary>
    public static readonly Marshaller<LookupResult[]> BatchMarshaller = Marshallers.Create<LookupResult[]>(
        SerializeBatch, static _ => throw new NotSupportedException("lookup answers are only written"));

    /// <summary>The encoded answer in one array (tests, and callers without a transport buffer).</summary>
    public static byte[] Encode(LookupAnswer answer)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var rowSizes = new int[Math.Max(1, answer.Rows)];
        Size(answer, rowSizes);
        Write(answer, rowSizes, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static void Serialize(LookupAnswer answer, SerializationContext context)
    {
        var rowSizes = ArrayPool<int>.Shared.Rent(Math.Max(1, answer.Rows));
        try
        {
            context.SetPayloadLength(Size(answer, rowSizes));
            Write(answer, rowSizes, context.GetBufferWriter());
            context.Complete();
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rowSizes);
            answer.Release();
        }
    }

    private static void SerializeBatch(LookupResult[] results, SerializationContext context)
    {
        // Sizes first: each result's (and each answer's rows'), then the whole message's.
        var rowCount = 0;
        foreach (var result in results)
        {
            rowCount += result.Answer?.Rows ?? 0;
        }

        var rowSizes = ArrayPool<int>.Shared.Rent(Math.Max(1, rowCount));
        var sizes = ArrayPool<int>.Shared.Rent(Math.Max(1, results.Length));
        try
        {
            var total = 0;
            var rowsAt = 0;
            for (var i = 0; i < results.Length; i++)
            {
                var result = results[i];
                // The StreamedLookup's one field: the answer's encoding, or the LookupError's.
                sizes[i] = result.Answer is { } answer
                    ? Size(answer, rowSizes.AsSpan(rowsAt, answer.Rows))
                    : ErrorSize(result.Status, result.Error ?? "");
                rowsAt += result.Answer?.Rows ?? 0;
                total += Delimited(Delimited(sizes[i]));
            }

            context.SetPayloadLength(total);
            var output = context.GetBufferWriter();
            rowsAt = 0;
            for (var i = 0; i < results.Length; i++)
            {
                var result = results[i];
                var head = new SpanWriter(output.GetSpan(16));
                head.Tag(BatchResultTag, Delimited(sizes[i]));
                head.Tag(result.Answer is null ? StreamedErrorTag : StreamedResponseTag, sizes[i]);
                output.Advance(head.Position);
                if (result.Answer is { } answer)
                {
                    Write(answer, rowSizes.AsSpan(rowsAt, answer.Rows), output);
                    rowsAt += answer.Rows;
                }
                else
                {
                    WriteError(result.Status, result.Error ?? "", sizes[i], output);
                }
            }

            context.Complete();
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rowSizes);
            ArrayPool<int>.Shared.Return(sizes);
            foreach (var result in results)
            {
                result.Answer?.Release();
            }
        }
    }

    // StreamedLookup.error's content: LookupError { int32 code = 1; string message = 2; }, defaults not written.
    private static int ErrorSize(StatusCode status, string message)
    {
        var code = (ulong)(long)(int)status;
        var messageBytes = Encoding.UTF8.GetByteCount(message);
        return (code != 0 ? 1 + VarintSize(code) : 0) + (messageBytes != 0 ? Delimited(messageBytes) : 0);
    }

    private static void WriteError(StatusCode status, string message, int size, IBufferWriter<byte> output)
    {
        var code = (ulong)(long)(int)status;
        var messageBytes = Encoding.UTF8.GetByteCount(message);
        var writer = new SpanWriter(output.GetSpan(size));
        if (code != 0)
        {
            writer.Byte(ErrorCodeTag);
            writer.Varint(code);
        }

        if (messageBytes != 0)
        {
            writer.Tag(ErrorMessageTag, messageBytes);
            writer.Utf8(message);
        }

        output.Advance(writer.Position);
    }

    /// <summary>The message's size; each row's size into <paramref name="rowSizes"/>.</summary>
    private static int Size(LookupAnswer answer, Span<int> rowSizes)
    {
        var size = 0;
        foreach (var name in answer.Names)
        {
            size += Delimited(Encoding.UTF8.GetByteCount(name));
        }

        for (var e = 0; e < answer.Rows; e++)
        {
            var row = 0;
            for (var c = 0; c < answer.Names.Count; c++)
            {
                row += Delimited(ValueSize(answer.Value(e, c)));
            }

            rowSizes[e] = row;
            size += Delimited(row);
        }

        size += Delimited(TimestampSize(answer.AtMs));
        if (answer.RegistryVersion != 0)
        {
            size += 1 + VarintSize((ulong)answer.RegistryVersion);
        }

        return size;
    }

    private static void Write(LookupAnswer answer, ReadOnlySpan<int> rowSizes, IBufferWriter<byte> output)
    {
        foreach (var name in answer.Names)
        {
            var length = Encoding.UTF8.GetByteCount(name);
            var writer = new SpanWriter(output.GetSpan(Delimited(length)));
            writer.Tag(FeatureNamesTag, length);
            writer.Utf8(name);
            output.Advance(writer.Position);
        }

        for (var e = 0; e < answer.Rows; e++)
        {
            var writer = new SpanWriter(output.GetSpan(Delimited(rowSizes[e])));
            writer.Tag(RowsTag, rowSizes[e]);
            for (var c = 0; c < answer.Names.Count; c++)
            {
                WriteValue(ref writer, answer.Value(e, c));
            }

            output.Advance(writer.Position);
        }

        var tail = new SpanWriter(output.GetSpan(32));
        tail.Tag(EvaluatedAtTag, TimestampSize(answer.AtMs));
        tail.Timestamp(answer.AtMs);
        if (answer.RegistryVersion != 0)
        {
            tail.Byte(RegistryVersionTag);
            tail.Varint((ulong)answer.RegistryVersion);
        }

        output.Advance(tail.Position);
    }

    private static void WriteValue(ref SpanWriter writer, in CoreValue value)
    {
        writer.Tag(ValuesTag, ValueSize(value));
        writer.Byte(StatusTag);
        writer.Byte((byte)LookupAnswer.WireStatus(value.Status));
        switch (value.Kind)
        {
            case ValueKind.Double:
                writer.Byte(DoubleTag);
                writer.Double(value.Double);
                break;
            case ValueKind.Int64:
                writer.Byte(Int64Tag);
                writer.Varint((ulong)value.Int64);
                break;
            case ValueKind.String:
                var text = value.Text ?? "";
                writer.Tag(StringTag, Encoding.UTF8.GetByteCount(text));
                writer.Utf8(text);
                break;
            default:
                break;
        }

        if (value.EventTimeMs is { } ms)
        {
            writer.Tag(EventTimestampTag, TimestampSize(ms));
            writer.Timestamp(ms);
        }
    }

    private static int ValueSize(in CoreValue value)
    {
        var size = 2; // status: its tag and a one-byte enum, never the default (0) so always written
        switch (value.Kind)
        {
            case ValueKind.Double:
                size += 9;
                break;
            case ValueKind.Int64:
                size += 1 + VarintSize((ulong)value.Int64);
                break;
            case ValueKind.String:
                size += Delimited(Encoding.UTF8.GetByteCount(value.Text ?? ""));
                break;
            default:
                break;
        }

        return value.EventTimeMs is { } ms ? size + Delimited(TimestampSize(ms)) : size;
    }

    // Fields at their default (0) are not written, as the generated code does.
    private static int TimestampSize(long ms)
    {
        var (seconds, nanos) = LookupAnswer.SplitMs(ms);
        return (seconds != 0 ? 1 + VarintSize((ulong)seconds) : 0) + (nanos != 0 ? 1 + VarintSize((ulong)nanos) : 0);
    }

    /// <summary>A length-delimited field's size: tag, length, content.</summary>
    private static int Delimited(int length) => 1 + VarintSize((uint)length) + length;

    private static int VarintSize(ulong value) => (63 - BitOperations.LeadingZeroCount(value | 1) + 7) / 7;

    private ref struct SpanWriter(Span<byte> span)
    {
        private readonly Span<byte> _span = span;

        public int Position { get; private set; }

        public void Byte(byte value) => _span[Position++] = value;

        public void Tag(byte tag, int length)
        {
            Byte(tag);
            Varint((uint)length);
        }

        public void Varint(ulong value)
        {
            while (value >= 0x80)
            {
                _span[Position++] = (byte)(value | 0x80);
                value >>= 7;
            }

            _span[Position++] = (byte)value;
        }

        public void Double(double value)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(_span[Position..], value);
            Position += 8;
        }

        public void Utf8(string text) => Position += Encoding.UTF8.GetBytes(text, _span[Position..]);

        public void Timestamp(long ms)
        {
            var (seconds, nanos) = LookupAnswer.SplitMs(ms);
            if (seconds != 0)
            {
                Byte(SecondsTag);
                Varint((ulong)seconds);
            }

            if (nanos != 0)
            {
                Byte(NanosTag);
                Varint((ulong)nanos);
            }
        }
    }
}
