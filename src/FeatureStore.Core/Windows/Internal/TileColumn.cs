namespace FeatureStore.Core.Windows.Internal;

/// <summary>
/// The tiles of one feature of one entity: tile indexes in ascending order beside their partial aggregates,
/// in two parallel arrays. Events mostly arrive in time order, so the newest tile is checked first and a new
/// tile is usually an append; out-of-order events binary-search and insert. No object per tile.
/// </summary>
internal sealed class TileColumn
{
    // Most entities hold few tiles: start empty and grow 1, 2, 4, 8...
    private long[] _index = [];
    private PartialAggregate[] _aggregates = [];

    public int Count { get; private set; }

    public long IndexAt(int position) => _index[position];

    public ref PartialAggregate AggregateAt(int position) => ref _aggregates[position];

    /// <summary>The aggregate of tile <paramref name="index"/>, created empty when missing.</summary>
    public ref PartialAggregate GetOrAdd(long index)
    {
        var count = Count;
        if (count > 0)
        {
            var last = _index[count - 1];
            if (last == index)
            {
                return ref _aggregates[count - 1];
            }

            if (last > index)
            {
                var position = LowerBound(index);
                if (_index[position] == index)
                {
                    return ref _aggregates[position];
                }

                return ref InsertAt(position, index);
            }
        }

        return ref InsertAt(count, index);
    }

    /// <summary>
    /// The aggregate of the tile of hop <paramref name="hop"/> containing <paramref name="time"/>, created empty
    /// when missing; an event in the newest tile (the usual case) costs no division.
    /// </summary>
    public ref PartialAggregate GetOrAddContaining(long time, long hop)
    {
        var count = Count;
        if (count > 0)
        {
            // Exact whatever the magnitudes (a tile's start may lie just outside the range of long).
            var start = (Int128)_index[count - 1] * hop;
            if (time >= start && time < start + hop)
            {
                return ref _aggregates[count - 1];
            }
        }

        return ref GetOrAdd(TileMath.TileIndex(time, hop));
    }

    /// <summary>The first position whose tile index is at least <paramref name="index"/>.</summary>
    public int LowerBound(long index)
    {
        int lo = 0, hi = Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_index[mid] < index)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>Drops the first <paramref name="count"/> tiles (their sketches to <paramref name="recycler"/>).</summary>
    public void RemoveFirst(int count, DecodeRecycler? recycler = null)
    {
        if (count <= 0)
        {
            return;
        }

        var remaining = Count - count;
        Recycle(0, count, recycler);
        Array.Copy(_index, count, _index, 0, remaining);
        Array.Copy(_aggregates, count, _aggregates, 0, remaining);
        Array.Clear(_aggregates, remaining, count); // release sketches and texts
        Count = remaining;
    }

    /// <summary>Makes room for <paramref name="count"/> tiles at once (decoding knows how many come).</summary>
    public void EnsureCapacity(int count)
    {
        if (count > _index.Length)
        {
            Array.Resize(ref _index, count);
            Array.Resize(ref _aggregates, count);
        }
    }

    /// <summary>Drops every tile, keeping the buffers (and the sketches, in <paramref name="recycler"/>).</summary>
    public void Clear(DecodeRecycler? recycler = null)
    {
        Recycle(0, Count, recycler);
        Array.Clear(_aggregates, 0, Count);
        Count = 0;
    }

    private void Recycle(int from, int count, DecodeRecycler? recycler)
    {
        if (recycler is null)
        {
            return;
        }

        for (var i = from; i < from + count; i++)
        {
            recycler.Return(_aggregates[i].Distinct);
        }
    }

    /// <summary>Appends a tile known to be later than every held one (decoding).</summary>
    public void Append(long index, in PartialAggregate aggregate) => InsertAt(Count, index) = aggregate;

    /// <summary>
    /// Appends an empty aggregate at <paramref name="index"/> and returns it to be filled. The order is the
    /// caller's to keep: ascending, or descending followed by <see cref="Reverse"/>.
    /// </summary>
    public ref PartialAggregate AppendEmpty(long index) => ref InsertAt(Count, index);

    /// <summary>Reverses the tiles (read newest first, kept oldest first).</summary>
    public void Reverse()
    {
        Array.Reverse(_index, 0, Count);
        Array.Reverse(_aggregates, 0, Count);
    }

    private ref PartialAggregate InsertAt(int position, long index)
    {
        if (Count == _index.Length)
        {
            var capacity = Math.Max(1, _index.Length * 2);
            Array.Resize(ref _index, capacity);
            Array.Resize(ref _aggregates, capacity);
        }

        if (position < Count)
        {
            Array.Copy(_index, position, _index, position + 1, Count - position);
            Array.Copy(_aggregates, position, _aggregates, position + 1, Count - position);
        }

        _index[position] = index;
        _aggregates[position] = PartialAggregate.Empty;
        Count++;
        return ref _aggregates[position];
    }
}
