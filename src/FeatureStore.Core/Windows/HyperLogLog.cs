using System.Numerics;

namespace FeatureStore.Core.Windows;

/// <summary>
/// A HyperLogLog sketch for <c>approx_distinct</c> with precision 12: 4096 registers, standard error
/// 1.04/√4096 ≈ 1.6% (estimates within ±5% with 99.7% probability above a few hundred distinct values;
/// exact-ish below, where linear counting takes over). It starts sparse — one 4-byte entry per
/// non-empty register, so a tile with a handful of values costs a few bytes — and turns dense (4096
/// bytes, one per register) past 1024 entries. Mergeable: the union of two sketches is the register-wise max.
/// </summary>
public sealed class HyperLogLog
{
    /// <summary>Precision: 2^12 registers.</summary>
    public const int Precision = 12;

    /// <summary>Number of registers.</summary>
    public const int RegisterCount = 1 << Precision;

    private const int SparseLimit = RegisterCount / 4;
    private static readonly double[] InversePowers = [.. Enumerable.Range(0, 256).Select(r => Math.ScaleB(1, -r))];

    private uint[]? _sparse = [];   // sorted (index << 8 | rank), one per non-empty register
    private int _sparseCount;       // sparse entries, or, with _set, the registers set
    private byte[]? _dense;
    private ushort[]? _set;         // ForUnion: the indexes of the non-empty registers, in the order set

    /// <summary>True while the sketch keeps one entry per non-empty register.</summary>
    public bool IsSparse => _dense is null;

    /// <summary>Non-empty registers.</summary>
    public int NonZeroRegisters => _dense is null || _set is not null ? _sparseCount : _dense.Count(r => r != 0);

    /// <summary>Adds a 64-bit hash of a value (XxHash64 of its bytes, see <c>HashValue</c>).</summary>
    public void Add(ulong hash)
    {
        var (index, rank) = Position(hash);
        Set(index, rank);
    }

    /// <summary>The largest rank a hash can set (its bits after the register index all zero).</summary>
    internal const int MaxRank = 65 - Precision;

    /// <summary>What the sketch takes from a hash: the register it sets and the rank it sets it to.</summary>
    internal static (int Index, byte Rank) Position(ulong hash)
    {
        var rest = (hash << Precision) | (1UL << (Precision - 1)); // guard bit bounds the rank
        return ((int)(hash >> (64 - Precision)), (byte)(BitOperations.LeadingZeroCount(rest) + 1));
    }

    /// <summary>A hash that sets register <paramref name="index"/> to <paramref name="rank"/> (1 to <see cref="MaxRank"/>).</summary>
    internal static ulong HashAt(int index, int rank)
    {
        var head = (ulong)index << (64 - Precision);
        return rank == MaxRank ? head : head | (1UL << (64 - Precision - rank));
    }

    /// <summary>The hash of a value as the sketch expects it.</summary>
    public static ulong HashValue(ReadOnlySpan<byte> bytes) => System.IO.Hashing.XxHash64.HashToUInt64(bytes);

    /// <summary>The hash of a number (its IEEE bits, so 1 and 1.0 are one value).</summary>
    public static ulong HashValue(double value)
    {
        Span<byte> bytes = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteDoubleLittleEndian(bytes, value == 0 ? 0 : value);
        return HashValue(bytes);
    }

    /// <summary>Adds every value of <paramref name="other"/> (register-wise max).</summary>
    public void Merge(HyperLogLog other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other._dense is { } dense)
        {
            for (var i = 0; i < dense.Length; i++)
            {
                if (dense[i] != 0)
                {
                    Set(i, dense[i]);
                }
            }

            return;
        }

        for (var i = 0; i < other._sparseCount; i++)
        {
            Set((int)(other._sparse![i] >> 8), (byte)other._sparse[i]);
        }
    }

    /// <summary>
    /// A sketch for taking unions that are estimated and then dropped (a window's tiles at query time): dense
    /// registers from the start, plus the list of registers set, so that a merge costs one step per entry,
    /// and estimating and <see cref="Clear"/> cost one step per register set rather than 4096. Its estimate is
    /// the same as any sketch holding the same registers.
    /// </summary>
    public static HyperLogLog ForUnion() => new() { _dense = new byte[RegisterCount], _sparse = null, _set = new ushort[64] };

    /// <summary>Empties the sketch, keeping its buffers.</summary>
    public void Clear()
    {
        if (_set is { } set)
        {
            for (var i = 0; i < _sparseCount; i++)
            {
                _dense![set[i]] = 0;
            }
        }
        else if (_dense is not null)
        {
            _dense = null;
            _sparse = new uint[4];
        }

        _sparseCount = 0;
    }

    /// <summary>The estimated number of distinct values added.</summary>
    public long Estimate()
    {
        const double m = RegisterCount;
        var zeros = RegisterCount - NonZeroRegisters;
        // Every term is a power of two and the sum stays below 2^13: exact in any order while ranks stay at or
        // below 40 (a value reaches 41 with probability 2^-40), so the three representations give one estimate.
        double sum = zeros; // 2^-0 for every empty register
        if (_set is { } set)
        {
            for (var i = 0; i < _sparseCount; i++)
            {
                sum += InversePowers[_dense![set[i]]];
            }
        }
        else if (_dense is { } dense)
        {
            foreach (var r in dense)
            {
                if (r != 0)
                {
                    sum += InversePowers[r];
                }
            }
        }
        else
        {
            for (var i = 0; i < _sparseCount; i++)
            {
                sum += InversePowers[(byte)_sparse![i]];
            }
        }

        var alpha = 0.7213 / (1 + (1.079 / m));
        var estimate = alpha * m * m / sum;
        if (estimate <= 2.5 * m && zeros > 0)
        {
            estimate = m * Math.Log(m / zeros); // linear counting for small cardinalities
        }

        return (long)Math.Round(estimate);
    }

    /// <summary>A copy.</summary>
    public HyperLogLog Clone()
    {
        var copy = new HyperLogLog { _sparseCount = _sparseCount };
        copy._sparse = _sparse is null ? null : (uint[])_sparse.Clone();
        copy._dense = _dense is null ? null : (byte[])_dense.Clone();
        copy._set = _set is null ? null : (ushort[])_set.Clone();
        return copy;
    }

    /// <summary>Writes the registers: sparse as count + entries, dense as 4096 bytes (leading flag byte).</summary>
    public void WriteTo(System.Buffers.IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (_dense is { } dense)
        {
            var span = writer.GetSpan(1 + dense.Length);
            span[0] = 1;
            dense.CopyTo(span[1..]);
            writer.Advance(1 + dense.Length);
            return;
        }

        var size = 1 + 2 + (_sparseCount * 3);
        var target = writer.GetSpan(size);
        target[0] = 0;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(target[1..], (ushort)_sparseCount);
        for (var i = 0; i < _sparseCount; i++)
        {
            var entry = _sparse![i];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(target[(3 + (i * 3))..], (ushort)(entry >> 8));
            target[3 + (i * 3) + 2] = (byte)entry;
        }

        writer.Advance(size);
    }

    /// <summary>Reads what <see cref="WriteTo"/> wrote; returns the bytes consumed.</summary>
    public static HyperLogLog ReadFrom(ReadOnlySpan<byte> source, out int consumed)
    {
        var sketch = new HyperLogLog();
        consumed = sketch.ReadOver(source);
        return sketch;
    }

    /// <summary>
    /// Replaces this sketch's registers with what <see cref="WriteTo"/> wrote at the start of
    /// <paramref name="source"/>, reusing its buffers where they fit; returns the bytes consumed.
    /// Not for a union sketch (<see cref="ForUnion"/>).
    /// </summary>
    internal int ReadOver(ReadOnlySpan<byte> source)
    {
        if (_set is not null)
        {
            throw new InvalidOperationException("a union sketch is not read over");
        }

        if (source[0] == 1)
        {
            var dense = _dense ?? new byte[RegisterCount];
            source.Slice(1, RegisterCount).CopyTo(dense);
            _dense = dense;
            _sparse = null;
            _sparseCount = 0;
            return 1 + RegisterCount;
        }

        int count = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(source[1..]);
        var consumed = 3 + (count * 3);
        var entries = source[3..consumed];
        _dense = null;
        _sparseCount = 0;
        if (count <= SparseLimit)
        {
            var sparse = _sparse is { } spare && spare.Length >= count ? spare : new uint[Math.Max(4, count)];
            _sparse = sparse;
            if (SortedEntries(entries, count, sparse))
            {
                // Written in register order: the entries are taken as they are.
                _sparseCount = count;
                return consumed;
            }
        }

        _sparse ??= new uint[4];
        for (var i = 0; i < count; i++)
        {
            var index = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(entries[(i * 3)..]);
            if (index >= RegisterCount)
            {
                throw new InvalidDataException($"sketch register {index} is beyond the {RegisterCount} registers");
            }

            Set(index, entries[(i * 3) + 2]);
        }

        return consumed;
    }

    // Fills sparse with the entries as the sketch keeps them; false when they are not strictly in register order.
    private static bool SortedEntries(ReadOnlySpan<byte> entries, int count, uint[] sparse)
    {
        var previous = -1;
        for (var i = 0; i < count; i++)
        {
            var index = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(entries[(i * 3)..]);
            if (index <= previous || index >= RegisterCount)
            {
                return false;
            }

            sparse[i] = ((uint)index << 8) | entries[(i * 3) + 2];
            previous = index;
        }

        return true;
    }

    /// <summary>The length of what <see cref="WriteTo"/> wrote at the start of <paramref name="source"/>.</summary>
    public static int EncodedLength(ReadOnlySpan<byte> source) =>
        source[0] == 1 ? 1 + RegisterCount : 3 + (System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(source[1..]) * 3);

    private void Set(int index, byte rank)
    {
        if (_dense is { } dense)
        {
            if (rank > dense[index])
            {
                if (dense[index] == 0 && _set is not null)
                {
                    if (_sparseCount == _set.Length)
                    {
                        Array.Resize(ref _set, _set.Length * 2);
                    }

                    _set[_sparseCount++] = (ushort)index;
                }

                dense[index] = rank;
            }

            return;
        }

        var sparse = _sparse!;
        var key = (uint)index << 8;
        var lo = 0;
        var hi = _sparseCount - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var midIndex = sparse[mid] >> 8;
            if (midIndex == (uint)index)
            {
                if (rank > (byte)sparse[mid])
                {
                    sparse[mid] = key | rank;
                }

                return;
            }

            if (midIndex < (uint)index)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        if (_sparseCount == SparseLimit)
        {
            ToDense();
            _dense![index] = Math.Max(_dense[index], rank);
            return;
        }

        if (_sparseCount == sparse.Length)
        {
            Array.Resize(ref sparse, Math.Max(4, sparse.Length * 2));
            _sparse = sparse;
        }

        Array.Copy(sparse, lo, sparse, lo + 1, _sparseCount - lo);
        sparse[lo] = key | rank;
        _sparseCount++;
    }

    private void ToDense()
    {
        var dense = new byte[RegisterCount];
        for (var i = 0; i < _sparseCount; i++)
        {
            dense[_sparse![i] >> 8] = (byte)_sparse[i];
        }

        _dense = dense;
        _sparse = null;
        _sparseCount = 0;
    }
}
