using FeatureStore.Core.Events;

namespace FeatureStore.Ingest;

internal sealed partial class OnlineTileWriter
{
    /// <summary>
    /// The (event, view) pairs of the batch being buffered, not yet tied to their states: each keeps its row, its
    /// partition and view, and a copy of its entity key. Looking a state up per pair touches a dictionary entry,
    /// the key and the state, scattered over the heap, for every pair (~200 000 per batch of the example);
    /// <see cref="Resolve"/> instead sorts the pairs by a hash of their key, so each distinct entity (~11 000)
    /// is looked up once and its pairs follow one another.
    /// </summary>
    private sealed class PendingLinks
    {
        private static readonly long Seed = Random.Shared.NextInt64();

        private readonly List<PartitionStates> _owners = [];
        private uint[] _hashes = new uint[4096];
        private int[] _rows = new int[4096];
        private long[] _ownerViews = new long[4096];
        private int[] _keyStarts = new int[4097];
        private byte[] _keys = new byte[65536];
        private int _keyLength;
        private int[] _order = [];
        private int[] _scratchOrder = [];
        private uint[] _sortedHashes = [];
        private uint[] _scratchHashes = [];

        public int Count { get; private set; }

        /// <summary>The place of <paramref name="states"/> among this batch's partitions.</summary>
        public int OwnerOf(PartitionStates states, long batch)
        {
            if (states.LinkBatch != batch)
            {
                states.LinkBatch = batch;
                states.LinkSlot = _owners.Count;
                _owners.Add(states);
            }

            return states.LinkSlot;
        }

        /// <summary>Adds the pair of the event at <paramref name="row"/> and view <paramref name="view"/> of owner <paramref name="owner"/>, keyed by the parser's key fields for that view.</summary>
        public void Add(int owner, int view, IReadOnlyList<int> keySlots, int textKeySlot, EventParser parser, int row)
        {
            if (Count == _rows.Length)
            {
                Array.Resize(ref _hashes, Count * 2);
                Array.Resize(ref _rows, Count * 2);
                Array.Resize(ref _ownerViews, Count * 2);
                Array.Resize(ref _keyStarts, (Count * 2) + 1);
            }

            var start = _keyLength;
            int length;
            if (textKeySlot >= 0)
            {
                var utf8 = parser.GetUtf8(textKeySlot);
                EnsureKeyRoom(utf8.Length);
                utf8.CopyTo(_keys.AsSpan(start));
                length = utf8.Length;
            }
            else
            {
                EnsureKeyRoom(64);
                while (!parser.TryWriteKeyUtf8(keySlots, _keys.AsSpan(start), out length))
                {
                    EnsureKeyRoom(_keys.Length - start + 1);
                }
            }

            _keyLength = start + length;
            _keyStarts[Count] = start;
            _keyStarts[Count + 1] = _keyLength;
            _hashes[Count] = unchecked((uint)System.IO.Hashing.XxHash3.HashToUInt64(_keys.AsSpan(start, length), Seed) + (uint)((owner * 64) + view));
            _ownerViews[Count] = ((long)owner << 32) | (uint)view;
            _rows[Count] = row;
            Count++;
        }

        /// <summary>
        /// Ties every pair to its state (looked up, or made, once per distinct entity) in <paramref name="events"/>,
        /// the buffer of batch <paramref name="batch"/>, skipping partitions forgotten since: a state's pairs keep
        /// the order they were added in, so its events are applied in that order. States new to the batch and not
        /// in memory go to <paramref name="toLoad"/>.
        /// </summary>
        public void Resolve(OnlineTileWriter writer, PendingEvents events, long batch, List<CachedState> toLoad)
        {
            var order = SortByHash();
            var previous = -1;
            CachedState? cached = null;
            foreach (var pair in order)
            {
                if (previous < 0 || _ownerViews[pair] != _ownerViews[previous] || !Key(pair).SequenceEqual(Key(previous)))
                {
                    var owner = _owners[(int)(_ownerViews[pair] >> 32)];
                    cached = owner.Forgotten ? null : owner.GetOrAdd((int)_ownerViews[pair], Key(pair), writer);
                }

                previous = pair;
                if (cached is not null && events.Link(cached, batch, _rows[pair]) && !cached.Loaded)
                {
                    toLoad.Add(cached);
                }
            }

            Clear();
        }

        public void Clear()
        {
            foreach (var owner in _owners)
            {
                owner.LinkBatch = -1;
            }

            _owners.Clear();
            Count = 0;
            _keyLength = 0;
        }

        private ReadOnlySpan<byte> Key(int pair) => _keys.AsSpan(_keyStarts[pair], _keyStarts[pair + 1] - _keyStarts[pair]);

        private void EnsureKeyRoom(int bytes)
        {
            if (_keyLength + bytes > _keys.Length)
            {
                Array.Resize(ref _keys, Math.Max(_keys.Length * 2, _keyLength + bytes));
            }
        }

        // A stable least-significant-digit radix sort of the pairs' places by hash, a byte at a time: equal
        // hashes keep the order the pairs were added in.
        private ReadOnlySpan<int> SortByHash()
        {
            var n = Count;
            if (_order.Length < n)
            {
                _order = new int[_rows.Length];
                _scratchOrder = new int[_rows.Length];
                _sortedHashes = new uint[_rows.Length];
                _scratchHashes = new uint[_rows.Length];
            }

            var order = _order;
            var hashes = _sortedHashes;
            for (var i = 0; i < n; i++)
            {
                order[i] = i;
            }

            _hashes.AsSpan(0, n).CopyTo(hashes);
            var nextOrder = _scratchOrder;
            var nextHashes = _scratchHashes;
            Span<int> counts = stackalloc int[256];
            for (var shift = 0; shift < 32; shift += 8)
            {
                counts.Clear();
                for (var i = 0; i < n; i++)
                {
                    counts[(int)((hashes[i] >> shift) & 0xFF)]++;
                }

                var at = 0;
                for (var d = 0; d < 256; d++)
                {
                    (counts[d], at) = (at, at + counts[d]);
                }

                for (var i = 0; i < n; i++)
                {
                    var to = counts[(int)((hashes[i] >> shift) & 0xFF)]++;
                    nextOrder[to] = order[i];
                    nextHashes[to] = hashes[i];
                }

                (order, nextOrder) = (nextOrder, order);
                (hashes, nextHashes) = (nextHashes, hashes);
            }

            // Four passes: the sorted places are back in the first buffer.
            return order.AsSpan(0, n);
        }
    }
}
