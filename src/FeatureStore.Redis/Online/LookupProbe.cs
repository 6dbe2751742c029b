using System.Diagnostics;
using StackExchange.Redis;

namespace FeatureStore.Redis.Online;

/// <summary>What <see cref="LookupProbe.RunAsync"/> measured.</summary>
/// <param name="P99Ms">The 99th percentile of the timed reads in milliseconds, or null when nothing could be probed.</param>
/// <param name="Lookups">Reads timed.</param>
/// <param name="Missing">Why nothing was probed (a view with no entity in the store), or null.</param>
public sealed record ProbeResult(double? P99Ms, int Lookups, string? Missing);

/// <summary>
/// The latency promotion gate's probe: up to <c>lookups</c> reads of a model version's feature states from the online
/// store, each reading one stored entity of every view the version uses in one round trip, by the read strategy serving
/// uses (<see cref="OnlineStateReader"/>). It times the store's share of a lookup, not the server's evaluation or the
/// network between a client and the server. Entities are found by a bounded SCAN of each view's keys.
/// </summary>
public static class LookupProbe
{
    /// <summary>The most reads one probe makes.</summary>
    public const int MaxLookups = 10_000;

    /// <summary>Probes <paramref name="views"/> of <paramref name="project"/> with <paramref name="lookups"/> reads.</summary>
    public static async Task<ProbeResult> RunAsync(IDatabase database, string keyPrefix, string project, IReadOnlyCollection<string> views, int lookups, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(views);
        ArgumentOutOfRangeException.ThrowIfLessThan(lookups, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(lookups, MaxLookups);
        var entities = new List<RedisKey[]>();
        foreach (var view in views)
        {
            var found = await EntitiesAsync(database, $"{keyPrefix}:{project}:fv:{view}:*", lookups, cancellationToken).ConfigureAwait(false);
            if (found.Length == 0)
            {
                return new ProbeResult(null, 0, $"no entity of view '{view}' is in the online store to look up");
            }

            entities.Add(found);
        }

        if (entities.Count == 0)
        {
            return new ProbeResult(null, 0, "the version reads no features");
        }

        var reader = new OnlineStateReader(database, OnlineReadStrategy.Auto);
        var keys = new RedisKey[entities.Count];
        var times = new double[lookups];
        for (var i = 0; i < lookups; i++)
        {
            for (var v = 0; v < entities.Count; v++)
            {
                keys[v] = entities[v][i % entities[v].Length];
            }

            var started = Stopwatch.GetTimestamp();
            using (await reader.ReadAsync(keys, keys.Length, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false))
            {
                times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        }

        Array.Sort(times);
        return new ProbeResult(times[(int)Math.Ceiling(lookups * 0.99) - 1], lookups, null);
    }

    private static async Task<RedisKey[]> EntitiesAsync(IDatabase database, string pattern, int limit, CancellationToken cancellationToken)
    {
        var result = new List<RedisKey>();
        foreach (var server in database.Multiplexer.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            await foreach (var key in server.KeysAsync(database.Database, pattern, pageSize: 500).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                result.Add(key);
                if (result.Count >= limit)
                {
                    return [.. result];
                }
            }
        }

        return [.. result];
    }
}
