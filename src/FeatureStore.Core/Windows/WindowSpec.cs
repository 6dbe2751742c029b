namespace FeatureStore.Core.Windows;

/// <summary>
/// A feature's window <c>W</c> and hop (tile size) <c>H</c>, in milliseconds (DESIGN.md §4).
/// A window of 0 means lifetime: every event up to the lookup time.
/// </summary>
public readonly record struct WindowSpec
{
    private const long Minute = 60_000;
    private const long Hour = 60 * Minute;
    private const long Day = 24 * Hour;

    /// <summary>Creates a window; <paramref name="hopMs"/> must divide <paramref name="windowMs"/>.</summary>
    public WindowSpec(long windowMs, long hopMs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(windowMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hopMs);
        if (windowMs > 0 && windowMs % hopMs != 0)
        {
            throw new ArgumentException($"hop {hopMs} ms does not divide window {windowMs} ms", nameof(hopMs));
        }

        WindowMs = windowMs;
        HopMs = hopMs;
    }

    /// <summary>Window length in ms; 0 for a lifetime aggregate.</summary>
    public long WindowMs { get; }

    /// <summary>Tile size in ms; tile <c>i</c> covers <c>[i·H, (i+1)·H)</c>.</summary>
    public long HopMs { get; }

    /// <summary>True when the feature aggregates every event up to the lookup time.</summary>
    public bool IsLifetime => WindowMs == 0;

    /// <summary>A lifetime aggregate, tiled by <paramref name="hopMs"/> (default one day).</summary>
    public static WindowSpec Lifetime(long hopMs = Day) => new(0, hopMs);

    /// <summary>
    /// The hop used when a feature gives none: 5 minutes for windows below 12 hours, 1 hour below
    /// 12 days, 1 day above. When that does not divide the window, the greatest common divisor of the
    /// two is taken (a 7-minute window gets a 1-minute hop), so every window has a hop that divides it.
    /// </summary>
    public static long DefaultHopMs(long windowMs)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(windowMs);
        long rule = windowMs < 12 * Hour ? 5 * Minute : windowMs < 12 * Day ? Hour : Day;
        return Gcd(windowMs, rule);
    }

    /// <summary>A window with its default hop (<see cref="DefaultHopMs"/>).</summary>
    public static WindowSpec WithDefaultHop(long windowMs) => new(windowMs, DefaultHopMs(windowMs));

    private static long Gcd(long a, long b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }
}
