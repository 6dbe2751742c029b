using System.Text;
using FeatureStore.Contracts.V1;
using FeatureStore.Contracts.Wire;
using Grpc.Core;

namespace FeatureStore.Client;

/// <summary>
/// A lookup of entities named by one join key (e.g. <c>user_id</c> → each user of a scoring batch), written
/// straight to <see cref="GetOnlineFeaturesRequest"/>'s encoding: the bytes the generated code writes for
/// the same request (one single-entry <c>join_keys</c> map per row), with no message, map or string copy per
/// row, through the <see cref="ProtoWriter"/> the server writes its answers with.
/// </summary>
internal sealed class KeyedLookupRequest(IReadOnlyList<string> features, string joinKey, IReadOnlyList<string> keys, (long Seconds, int Nanos)? asOf, RequestContextColumns? context = null)
{
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
            size += ProtoWriter.DelimitedSize(Encoding.UTF8.GetByteCount(feature));
        }

        var keyBytes = Encoding.UTF8.GetByteCount(joinKey);
        for (var row = 0; row < keys.Count; row++)
        {
            size += ProtoWriter.DelimitedSize(RowSize(keyBytes, row));
        }

        if (asOf is { } at)
        {
            size += ProtoWriter.DelimitedSize(ProtoWriter.TimestampSize(at.Seconds, at.Nanos));
        }

        return size;
    }

    internal void Write(Span<byte> into)
    {
        var writer = new ProtoWriter(into);
        foreach (var feature in features)
        {
            writer.String(OnlineWire.RequestFeatures, feature, Encoding.UTF8.GetByteCount(feature));
        }

        var keyBytes = Encoding.UTF8.GetByteCount(joinKey);
        for (var row = 0; row < keys.Count; row++)
        {
            var key = keys[row];
            var valueBytes = Encoding.UTF8.GetByteCount(key);
            var entry = Entry(keyBytes, valueBytes);
            writer.Delimited(OnlineWire.RequestEntities, RowSize(keyBytes, row));
            writer.Delimited(OnlineWire.EntityJoinKeys, entry);
            writer.String(OnlineWire.MapKey, joinKey, keyBytes);
            if (valueBytes > 0)
            {
                writer.String(OnlineWire.MapValue, key, valueBytes);
            }

            context?.Write(ref writer, row);
        }

        if (asOf is { } time)
        {
            writer.Delimited(OnlineWire.RequestAsOf, ProtoWriter.TimestampSize(time.Seconds, time.Nanos));
            writer.Timestamp(time.Seconds, time.Nanos);
        }
    }

    // An entity row: its join_keys entry, then its request_context entries.
    private int RowSize(int keyBytes, int row) =>
        ProtoWriter.DelimitedSize(Entry(keyBytes, Encoding.UTF8.GetByteCount(keys[row]))) + (context?.Size(row) ?? 0);

    // A join_keys map entry: its key, and its value unless empty (as the generated code leaves a default value out).
    private static int Entry(int keyBytes, int valueBytes) => ProtoWriter.DelimitedSize(keyBytes) + (valueBytes == 0 ? 0 : ProtoWriter.DelimitedSize(valueBytes));
}
