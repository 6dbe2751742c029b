using System.Buffers;
using System.Text;
using FeatureStore.Contracts.Wire;
using FeatureStore.Core.Windows;
using Grpc.Core;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// Writes a <see cref="LookupAnswer"/> as the protobuf encoding of <c>GetOnlineFeaturesResponse</c>
/// (schemas/featurestore/v1/online.proto): the bytes the generated message would write for the same
/// values, field for field, so every client reads it as before. Sizes are computed first (protobuf prefixes
/// each message with its length), then each row is written into the transport's buffer by the
/// <see cref="ProtoWriter"/> the client writes its requests with.
/// </summary>
internal static class LookupAnswerEncoding
{
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
                total += ProtoWriter.DelimitedSize(ProtoWriter.DelimitedSize(sizes[i]));
            }

            context.SetPayloadLength(total);
            var output = context.GetBufferWriter();
            rowsAt = 0;
            for (var i = 0; i < results.Length; i++)
            {
                var result = results[i];
                var head = new ProtoWriter(output.GetSpan(16));
                head.Delimited(OnlineWire.BatchResults, ProtoWriter.DelimitedSize(sizes[i]));
                head.Delimited(result.Answer is null ? OnlineWire.StreamedError : OnlineWire.StreamedResponse, sizes[i]);
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
        return (code != 0 ? 1 + ProtoWriter.VarintSize(code) : 0) + (messageBytes != 0 ? ProtoWriter.DelimitedSize(messageBytes) : 0);
    }

    private static void WriteError(StatusCode status, string message, int size, IBufferWriter<byte> output)
    {
        var code = (ulong)(long)(int)status;
        var messageBytes = Encoding.UTF8.GetByteCount(message);
        var writer = new ProtoWriter(output.GetSpan(size));
        if (code != 0)
        {
            writer.Byte(OnlineWire.ErrorCode);
            writer.Varint(code);
        }

        if (messageBytes != 0)
        {
            writer.String(OnlineWire.ErrorMessage, message, messageBytes);
        }

        output.Advance(writer.Position);
    }

    /// <summary>The message's size; each row's size into <paramref name="rowSizes"/>.</summary>
    private static int Size(LookupAnswer answer, Span<int> rowSizes)
    {
        var size = 0;
        foreach (var name in answer.Names)
        {
            size += ProtoWriter.DelimitedSize(Encoding.UTF8.GetByteCount(name));
        }

        for (var e = 0; e < answer.Rows; e++)
        {
            var row = 0;
            for (var c = 0; c < answer.Names.Count; c++)
            {
                row += ProtoWriter.DelimitedSize(ValueSize(answer.Value(e, c)));
            }

            rowSizes[e] = row;
            size += ProtoWriter.DelimitedSize(row);
        }

        size += ProtoWriter.DelimitedSize(TimestampSize(answer.AtMs));
        if (answer.RegistryVersion != 0)
        {
            size += 1 + ProtoWriter.VarintSize((ulong)answer.RegistryVersion);
        }

        return size;
    }

    private static void Write(LookupAnswer answer, ReadOnlySpan<int> rowSizes, IBufferWriter<byte> output)
    {
        foreach (var name in answer.Names)
        {
            var length = Encoding.UTF8.GetByteCount(name);
            var writer = new ProtoWriter(output.GetSpan(ProtoWriter.DelimitedSize(length)));
            writer.String(OnlineWire.ResponseFeatureNames, name, length);
            output.Advance(writer.Position);
        }

        for (var e = 0; e < answer.Rows; e++)
        {
            var writer = new ProtoWriter(output.GetSpan(ProtoWriter.DelimitedSize(rowSizes[e])));
            writer.Delimited(OnlineWire.ResponseRows, rowSizes[e]);
            for (var c = 0; c < answer.Names.Count; c++)
            {
                WriteValue(ref writer, answer.Value(e, c));
            }

            output.Advance(writer.Position);
        }

        var tail = new ProtoWriter(output.GetSpan(32));
        tail.Delimited(OnlineWire.ResponseEvaluatedAt, TimestampSize(answer.AtMs));
        WriteTimestamp(ref tail, answer.AtMs);
        if (answer.RegistryVersion != 0)
        {
            tail.Byte(OnlineWire.ResponseRegistryVersion);
            tail.Varint((ulong)answer.RegistryVersion);
        }

        output.Advance(tail.Position);
    }

    private static void WriteValue(ref ProtoWriter writer, in CoreValue value)
    {
        writer.Delimited(OnlineWire.RowValues, ValueSize(value));
        writer.Byte(OnlineWire.ValueStatus);
        writer.Byte((byte)LookupAnswer.WireStatus(value.Status));
        switch (value.Kind)
        {
            case ValueKind.Double:
                writer.Byte(OnlineWire.ValueDouble);
                writer.Double(value.Double);
                break;
            case ValueKind.Int64:
                writer.Byte(OnlineWire.ValueInt64);
                writer.Varint((ulong)value.Int64);
                break;
            case ValueKind.String:
                var text = value.Text ?? "";
                writer.String(OnlineWire.ValueString, text, Encoding.UTF8.GetByteCount(text));
                break;
            default:
                break;
        }

        if (value.EventTimeMs is { } ms)
        {
            writer.Delimited(OnlineWire.ValueEventTimestamp, TimestampSize(ms));
            WriteTimestamp(ref writer, ms);
        }

        // Fields 7 to 10 follow event_timestamp (6): protobuf writes fields in number order.
        if (value.Kind is ValueKind.StringList or ValueKind.DoubleList or ValueKind.Int64List or ValueKind.Counts)
        {
            WriteCollection(ref writer, value);
        }
    }

    // A list or counts message, as the generated code writes it: strings each as a field, doubles packed (no
    // field when none), a map entry's key and value only when not at their default.
    private static void WriteCollection(ref ProtoWriter writer, in CoreValue value)
    {
        switch (value.Kind)
        {
            case ValueKind.StringList:
                writer.Delimited(OnlineWire.ValueStringList, CollectionSize(value));
                foreach (var text in value.Strings ?? [])
                {
                    writer.String(OnlineWire.ListValues, text, Encoding.UTF8.GetByteCount(text));
                }

                break;
            case ValueKind.DoubleList:
                writer.Delimited(OnlineWire.ValueDoubleList, CollectionSize(value));
                if (value.Doubles is { Count: > 0 } doubles)
                {
                    writer.Delimited(OnlineWire.ListValues, 8 * doubles.Count);
                    foreach (var number in doubles)
                    {
                        writer.Double(number);
                    }
                }

                break;
            case ValueKind.Int64List:
                writer.Delimited(OnlineWire.ValueInt64List, CollectionSize(value));
                if (value.Int64s is { Count: > 0 } integers)
                {
                    writer.Delimited(OnlineWire.ListValues, Int64sSize(integers));
                    foreach (var integer in integers)
                    {
                        writer.Varint((ulong)integer);
                    }
                }

                break;
            default:
                writer.Delimited(OnlineWire.ValueCounts, CollectionSize(value));
                foreach (var (key, count) in value.Counts ?? [])
                {
                    writer.Delimited(OnlineWire.ListValues, EntrySize(key, count));
                    if (key.Length > 0)
                    {
                        writer.String(OnlineWire.MapKey, key, Encoding.UTF8.GetByteCount(key));
                    }

                    if (count != 0)
                    {
                        writer.Byte(OnlineWire.MapInt64Value);
                        writer.Varint((ulong)count);
                    }
                }

                break;
        }
    }

    private static int CollectionSize(in CoreValue value)
    {
        var size = 0;
        switch (value.Kind)
        {
            case ValueKind.StringList:
                foreach (var text in value.Strings ?? [])
                {
                    size += ProtoWriter.DelimitedSize(Encoding.UTF8.GetByteCount(text));
                }

                break;
            case ValueKind.DoubleList:
                size = value.Doubles is { Count: > 0 } doubles ? ProtoWriter.DelimitedSize(8 * doubles.Count) : 0;
                break;
            case ValueKind.Int64List:
                size = value.Int64s is { Count: > 0 } integers ? ProtoWriter.DelimitedSize(Int64sSize(integers)) : 0;
                break;
            default:
                foreach (var (key, count) in value.Counts ?? [])
                {
                    size += ProtoWriter.DelimitedSize(EntrySize(key, count));
                }

                break;
        }

        return size;
    }

    // Packed int64s: each a varint of its two's-complement bits (ten bytes for a negative one).
    private static int Int64sSize(IReadOnlyList<long> integers)
    {
        var size = 0;
        foreach (var integer in integers)
        {
            size += ProtoWriter.VarintSize((ulong)integer);
        }

        return size;
    }

    private static int EntrySize(string key, long count) =>
        (key.Length > 0 ? ProtoWriter.DelimitedSize(Encoding.UTF8.GetByteCount(key)) : 0) + (count != 0 ? 1 + ProtoWriter.VarintSize((ulong)count) : 0);

    private static int ValueSize(in CoreValue value)
    {
        var size = 2; // status: its tag and a one-byte enum, never the default (0) so always written
        switch (value.Kind)
        {
            case ValueKind.Double:
                size += 9;
                break;
            case ValueKind.Int64:
                size += 1 + ProtoWriter.VarintSize((ulong)value.Int64);
                break;
            case ValueKind.String:
                size += ProtoWriter.DelimitedSize(Encoding.UTF8.GetByteCount(value.Text ?? ""));
                break;
            case ValueKind.StringList or ValueKind.DoubleList or ValueKind.Int64List or ValueKind.Counts:
                size += ProtoWriter.DelimitedSize(CollectionSize(value));
                break;
            default:
                break;
        }

        return value.EventTimeMs is { } ms ? size + ProtoWriter.DelimitedSize(TimestampSize(ms)) : size;
    }

    private static int TimestampSize(long ms)
    {
        var (seconds, nanos) = LookupAnswer.SplitMs(ms);
        return ProtoWriter.TimestampSize(seconds, nanos);
    }

    private static void WriteTimestamp(ref ProtoWriter writer, long ms)
    {
        var (seconds, nanos) = LookupAnswer.SplitMs(ms);
        writer.Timestamp(seconds, nanos);
    }
}
