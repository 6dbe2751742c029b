using System.Buffers;
using System.Buffers.Binary;

namespace FeatureStore.Core.Windows;

/// <summary>
/// The stamp in front of a stream share written by ingest: one marker byte, then the offset just past the last
/// event of the share's partition that the share includes (8 bytes, little-endian, in the partition's ordered
/// offsets). It makes a write idempotent without a transaction across keys: replaying a partition from an
/// older checkpoint skips, for each share, the events its stamp says it already holds (docs/scaling.md). The
/// stamp depends only on the events applied, not on how they were batched. Fixed width, so a store-side script reads it without decoding the state. A share without a stamp
/// (written before stamps, a history import's or a rebuild's) holds no partition offsets and reads as
/// unstamped.
/// </summary>
public static class ShareStamp
{
    /// <summary>The first byte of a stamped share; never a state format version.</summary>
    public const byte Marker = 0xF5;

    /// <summary>Bytes of the stamp, marker included.</summary>
    public const int Length = 9;

    /// <summary>Writes the stamp of a share holding the partition's events below <paramref name="nextOffset"/>.</summary>
    public static void Write(IBufferWriter<byte> writer, long nextOffset)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var span = writer.GetSpan(Length);
        span[0] = Marker;
        BinaryPrimitives.WriteInt64LittleEndian(span[1..], nextOffset);
        writer.Advance(Length);
    }

    /// <summary>The offset a stamped share holds the events below, or null when <paramref name="share"/> has no stamp.</summary>
    public static long? Read(ReadOnlySpan<byte> share) =>
        share.Length >= Length && share[0] == Marker ? BinaryPrimitives.ReadInt64LittleEndian(share[1..Length]) : null;

    /// <summary>The state's bytes, behind the stamp when there is one.</summary>
    public static ReadOnlySpan<byte> Payload(ReadOnlySpan<byte> share) =>
        share.Length >= Length && share[0] == Marker ? share[Length..] : share;
}
