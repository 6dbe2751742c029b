using FeatureStore.Core.Windows.Internal;

namespace FeatureStore.Core.Windows;

// The older binary forms of a state, still read (never written) so that an online store written before an
// upgrade is read after it: format 4 wrote aggregates and raw inputs whole (every field, no flags in the
// count, an input as a presence byte and its value); format 3 did that too and wrote each tile column oldest
// first with no byte length, so a reader must step over the tiles it does not want one aggregate at a time.
// The current format and the shared aggregate reader (which reads format 4 and 3 aggregates by their zero
// flag bits) are in ViewWindowState.Codec.cs.
public sealed partial class ViewWindowState
{
    private const byte WholeInputsFormat = 4;
    private const byte OldestFirstFormat = 3;

    private static bool IsReadableFormat(byte version) => version is FormatVersion or WholeInputsFormat or OldestFirstFormat;

    private static void ReadTilesOldestFirst(ref Reader r, TileColumn tiles, AggregationKind kind, long hop, long skipBefore)
    {
        var count = checked((int)r.VarUInt());
        if (count > r.Remaining)
        {
            throw new InvalidDataException("stored tile count exceeds the data");
        }

        tiles.EnsureCapacity(tiles.Count + count);
        var index = 0L;
        for (var i = 0; i < count; i++)
        {
            index = unchecked(index + r.VarInt());
            if (tiles.Count > 0 && index <= tiles.IndexAt(tiles.Count - 1))
            {
                throw new InvalidDataException("stored tiles are out of order");
            }

            if (index < skipBefore)
            {
                SkipAggregate(ref r, kind);
                continue;
            }

            ReadAggregate(ref r, new WindowedFeature(kind, new WindowSpec(0, 1)), unchecked(index * hop), ref tiles.AppendEmpty(index));
        }
    }

    // Steps over what WriteAggregate wrote, allocating nothing.
    private static void SkipAggregate(ref Reader r, AggregationKind kind)
    {
        var bits = FlagBits(kind, r.Format);
        var flags = r.VarUInt() & ((1UL << bits) - 1);
        var whole = bits == 0;
        r.VarInt();
        switch (kind)
        {
            case AggregationKind.Sum or AggregationKind.Mean:
                r.Skip(whole || (flags & 1) != 0 ? 16 : 8);
                break;
            case AggregationKind.StdDev:
                r.Skip(8 + (whole || (flags & 1) != 0 ? 8 : 0) + (whole || (flags & 2) == 0 ? 16 : 0));
                break;
            case AggregationKind.Min or AggregationKind.Max:
                r.Skip(8);
                break;
            case AggregationKind.Last:
                r.VarInt();
                r.VarInt();
                r.Skip(whole || (flags & 1) != 0 ? 8 : 0);
                r.SkipText();
                break;
            case AggregationKind.ApproxDistinct:
                if (r.Byte() == 1)
                {
                    r.SkipSketch();
                }

                break;
        }
    }

    // A raw input of formats 3 and 4: a presence byte, then the value whole (a hash as its 8 bytes).
    private static FeatureInput ReadWholeInput(ref Reader r, AggregationKind kind)
    {
        if (kind == AggregationKind.Count || r.Byte() == 0)
        {
            return FeatureInput.Absent;
        }

        return kind switch
        {
            AggregationKind.ApproxDistinct => new FeatureInput(true, 0, r.ULong(), null),
            AggregationKind.Last => new FeatureInput(true, r.Double(), 0, r.Text()),
            _ => new FeatureInput(true, r.Double(), 0, null),
        };
    }
}
