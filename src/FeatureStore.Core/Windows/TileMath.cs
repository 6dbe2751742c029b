namespace FeatureStore.Core.Windows;

/// <summary>
/// The arithmetic of DESIGN.md §4. Tile <c>i</c> of hop <c>H</c> covers <c>[i·H, (i+1)·H)</c>; a windowed
/// feature at time <c>T</c> aggregates the events with <c>S(T) ≤ t ≤ T</c> where
/// <c>S(T) = (floor((T − W) / H) + 1) · H</c>, the start of the first tile wholly after <c>T − W</c>.
/// Floors are true floors, negative times included.
/// </summary>
public static class TileMath
{
    /// <summary><c>floor(a / b)</c> for <paramref name="b"/> &gt; 0.</summary>
    public static long FloorDiv(long a, long b)
    {
        // One division: the remainder is a - q·b.
        var q = a / b;
        return ((a ^ b) < 0 && q * b != a) ? q - 1 : q;
    }

    /// <summary>The tile containing <paramref name="time"/>.</summary>
    public static long TileIndex(long time, long hopMs) => FloorDiv(time, hopMs);

    /// <summary>The first instant of tile <paramref name="index"/>.</summary>
    public static long TileStart(long index, long hopMs) => index * hopMs;

    /// <summary><c>S(T)</c>: the earliest event time a windowed feature counts at <paramref name="t"/>; <see cref="long.MinValue"/> for lifetime.</summary>
    public static long WindowStart(long t, WindowSpec window) =>
        window.IsLifetime ? long.MinValue : (FloorDiv(t - window.WindowMs, window.HopMs) + 1) * window.HopMs;

    /// <summary>The first tile a query at <paramref name="t"/> reads (its start is <see cref="WindowStart"/>).</summary>
    public static long FirstTile(long t, WindowSpec window) =>
        window.IsLifetime ? long.MinValue : FloorDiv(t - window.WindowMs, window.HopMs) + 1;
}
