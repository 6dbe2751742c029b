namespace FeatureStore.Serving.Internal;

/// <summary>
/// The server's own recent lookup latencies, for the dashboard: a ring of the last
/// <see cref="Capacity"/> successful lookups (time and duration), from which percentiles over the last
/// minute and a per-interval series are computed on demand. Prometheus' histogram stays the metric to
/// alert on; this is what a person looks at.
/// </summary>
internal sealed class RecentLatencies
{
    public const int Capacity = 8192;
    private readonly long[] _atMs = new long[Capacity];
    private readonly double[] _ms = new double[Capacity];
    private readonly Lock _lock = new();
    private long _count;

    public void Record(long atMs, double milliseconds)
    {
        lock (_lock)
        {
            var i = (int)(_count % Capacity);
            _atMs[i] = atMs;
            _ms[i] = milliseconds;
            _count++;
        }
    }

    /// <summary>Samples taken at or after <paramref name="sinceMs"/>, oldest first.</summary>
    public List<(long AtMs, double Ms)> Since(long sinceMs)
    {
        lock (_lock)
        {
            var n = (int)Math.Min(_count, Capacity);
            var result = new List<(long, double)>(n);
            for (var k = _count - n; k < _count; k++)
            {
                var i = (int)(k % Capacity);
                if (_atMs[i] >= sinceMs)
                {
                    result.Add((_atMs[i], _ms[i]));
                }
            }

            return result;
        }
    }

    /// <summary>The <paramref name="q"/> quantile (nearest rank) of <paramref name="sorted"/>, or null when empty.</summary>
    public static double? Quantile(IReadOnlyList<double> sorted, double q) =>
        sorted.Count == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];
}
