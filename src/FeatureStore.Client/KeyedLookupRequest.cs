using System.Text;
using FeatureStore.Contracts.V1;
using Grpc.Core;

namespace FeatureStore.Client;

/// <summary>
/// A lookup of entities named by one join key (e.g. <c>user_id</c> → each user of a scoring batch), written
/// straight to <see cref="GetOnlineFeaturesRequest"/>'s encoding: the bytes the generated code writes for
/// the same request (one single-entry <c>join_keys</c> map per row), with no message, map or string copy per row.
/// </summary>
internal sealed class KeyedLookupRequest(IReadOnlyList<string> features, string joinKey, IReadOnlyList<string> keys, (long Seconds, int Nanos)? asOf)
{
    // GetOnlineFeaturesRequest: features = 1, entities = 3, as_of = 4; EntityRow: join_keys = 1; a map entry:
    // key = 1, value = 2; Timestamp: seconds = 1, nanos = 2.
    private const byte FeatureTag = (1 << 3) | 2;
    private const byte EntityTag = (3 << 3) | 2;
    private const byte AsOfTag = (4 << 3) | 2;
    private const byte JoinKeysTag = (1 << 3) | 2;
    private const byte MapKeyTag = (1 << 3) | 2;
    private const byte MapValueTag = (2 << 3) | 2;
    private const byte SecondsTag = 1 << 3;
    private const byte NanosTag = 2 << 3;

    public static Marshaller<KeyedLookupRequest> Marshaller { get; } = Marshallers.Create<KeyedLookupRequest>(
        static (request, context) =>
        {
            var length = request.Size();
            context.SetPayloadLength(length);
            var writer = context.GetBufferWriter();
            request.Write(writer.GetSpan(length)[..length]);
            writer.Advance(length);
            context.Complete();
        },
        static _ => throw new NotSupportedException("keyed lookup requests are only written"));

    /// <summary>Entity rows: one per key.</summary>
    public int Rows => keys.Count;

    /// <summary>The encoding, as one array.</summary>
    public byte[] ToByteArray()
    {
        var bytes = new byte[Size()];
        Write(bytes);
        return bytes;
    }

    internal int Size()
    {
        var size = 0;
        foreach (var feature in features)
        {
            size += Field(Encoding.UTF8.GetByteCount(feature));
        }

        var keyBytes = Encoding.UTF8.GetByteCount(joinKey);
        foreach (var key in keys)
        {
            size += Field(Field(Entry(keyBytes, Encoding.UTF8.GetByteCount(key))));
        }

        if (asOf is { } at)
        {
            size += Field(Timestamp(at));
        }

        return size;
    }

    internal void Write(Span<byte> into)
    {
        var at = 0;
        foreach (var feature in features)
        {
            at = Text(into, at, FeatureTag, feature, Encoding.UTF8.GetByteCount(feature));
        }

        var keyBytes = Encoding.UTF8.GetByteCount(joinKey);
        foreach (var key in keys)
        {
            var valueBytes = Encoding.UTF8.GetByteCount(key);
            var entry = Entry(keyBytes, valueBytes);
            into[at++] = EntityTag;
            at = VarInt(into, at, (ulong)Field(entry));
            into[at++] = JoinKeysTag;
            at = VarInt(into, at, (ulong)entry);
            at = Text(into, at, MapKeyTag, joinKey, keyBytes);
            if (valueBytes > 0)
            {
                at = Text(into, at, MapValueTag, key, valueBytes);
            }
        }

        if (asOf is { } time)
        {
            into[at++] = AsOfTag;
            at = VarInt(into, at, (ulong)Timestamp(time));
            if (time.Seconds != 0)
            {
                into[at++] = SecondsTag;
                at = VarInt(into, at, unchecked((ulong)time.Seconds));
            }

            if (time.Nanos != 0)
            {
                into[at++] = NanosTag;
                _ = VarInt(into, at, unchecked((ulong)(long)time.Nanos));
            }
        }
    }

    // A join_keys map entry: its key, and its value unless empty (as the generated code leaves a default value out).
    private static int Entry(int keyBytes, int valueBytes) => Field(keyBytes) + (valueBytes == 0 ? 0 : Field(valueBytes));

    // A length-delimited field of this many bytes, with its one-byte tag and its length.
    private static int Field(int length) => 1 + VarIntSize((ulong)length) + length;

    private static int Timestamp((long Seconds, int Nanos) at) =>
        (at.Seconds == 0 ? 0 : 1 + VarIntSize(unchecked((ulong)at.Seconds))) + (at.Nanos == 0 ? 0 : 1 + VarIntSize(unchecked((ulong)(long)at.Nanos)));

    private static int Text(Span<byte> into, int at, byte tag, string text, int bytes)
    {
        into[at++] = tag;
        at = VarInt(into, at, (ulong)bytes);
        return at + Encoding.UTF8.GetBytes(text, into[at..]);
    }

    private static int VarIntSize(ulong value)
    {
        var size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }

    private static int VarInt(Span<byte> into, int at, ulong value)
    {
        while (value >= 0x80)
        {
            into[at++] = (byte)(value | 0x80);
            value >>= 7;
        }

        into[at++] = (byte)value;
        return at;
    }
}
