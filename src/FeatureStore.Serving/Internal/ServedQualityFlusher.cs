using FeatureStore.Redis.Quality;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// Every <see cref="Interval"/>, adds the served-value counts of the version being served (and, once, of the version
/// it replaced) to the online store's current quality bucket, where every replica's add up, and to the Prometheus
/// counters. A store that is down keeps the counts for the next round; on stop, what is left is flushed.
/// </summary>
internal sealed class ServedQualityFlusher(RegistryCache registry, IConnectionMultiplexer store, FeatureServerOptions options, ServingMetrics metrics, ILogger logger)
    : BackgroundService
{
    /// <summary>How often counts go to the store.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    // Counts taken and not yet written, by bucket field: bounded by the served features, however long the store is down.
    private readonly Dictionary<string, long> _pending = new(StringComparer.Ordinal);
    private readonly List<(string View, string Feature, string Status, long Count)> _taken = [];
    private ServedValueTally? _previous;
    private bool _failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, options.TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await FlushAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // stopping: the last counts go below
        }

        await FlushAsync().ConfigureAwait(false);
    }

    private async Task FlushAsync()
    {
        if (!registry.IsLoaded)
        {
            return;
        }

        var current = registry.Current.Served;
        if (_previous is not null && _previous != current)
        {
            _previous.Take(_taken); // the lookups the replaced version answered since the last round
        }

        _previous = current;
        current.Take(_taken);
        foreach (var (view, feature, status, count) in _taken)
        {
            metrics.ServedValues(view, feature, status, count);
            var field = $"{view}:{feature}:{status}";
            _pending[field] = _pending.GetValueOrDefault(field) + count;
        }

        _taken.Clear();
        if (_pending.Count == 0)
        {
            return;
        }

        var counts = new QualityCounts(store.GetDatabase(), new QualityKeys(options.KeyPrefix, registry.Project));
        try
        {
            await counts.AddServedAsync(options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds(), _pending).ConfigureAwait(false);
            _pending.Clear();
            _failing = false;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Kept for the next round; said once per outage, not every second.
            if (!_failing)
            {
                logger.QualityFlushFailed(ex.Message);
            }

            _failing = true;
        }
    }
}
