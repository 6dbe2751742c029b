using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// The repository version lookups are answered with, compiled once and swapped whole when a new version
/// is applied: never read per request. From a file it never changes; from the registry it is reloaded
/// on each <c>PREFIX:registry:changed</c> notice for the project, on reconnection, and by a slow poll
/// that catches a notice missed while disconnected.
/// </summary>
internal sealed class RegistryCache : IAsyncDisposable
{
    private readonly FeatureServerOptions _options;
    private readonly IConnectionMultiplexer _multiplexer;
    private readonly RegistryStore? _store;
    private readonly ILogger _logger;
    private readonly ServingMetrics _metrics;
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private volatile ServingRepository? _current;
    private Task _poll = Task.CompletedTask;
    private int _disposed;

    public RegistryCache(FeatureServerOptions options, IConnectionMultiplexer multiplexer, ILogger logger, ServingMetrics metrics)
    {
        _options = options;
        _multiplexer = multiplexer;
        _logger = logger;
        _metrics = metrics;
        Project = options.Repository?.Project ?? options.Project
            ?? throw new ArgumentException("give either a repository or the project whose registry version to serve", nameof(options));
        Keys = new OnlineKeys(options.KeyPrefix, Project);
        if (options.Repository is null)
        {
            _store = new RegistryStore(multiplexer.GetDatabase(), options.KeyPrefix);
        }
    }

    public string Project { get; }

    public OnlineKeys Keys { get; }

    public bool IsLoaded => _current is not null;

    /// <summary>The served version; UNAVAILABLE while none has been loaded.</summary>
    public ServingRepository Current => _current ?? ThrowHelper.ThrowUnavailable<ServingRepository>(
        $"no repository version of project '{Project}' is loaded yet: apply one with `featurestore apply`");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.Repository is { } repository)
        {
            Swap(new ServingRepository(repository, null, 0, null));
            return;
        }

        var subscriber = _multiplexer.GetSubscriber();
        await subscriber.SubscribeAsync(_store!.ChangesChannel, (channel, message) =>
        {
            var text = message.ToString();
            if (text.StartsWith(Project + ":", StringComparison.Ordinal))
            {
                RefreshInBackground();
            }
        }).ConfigureAwait(false);
        _multiplexer.ConnectionRestored += OnConnectionRestored;
        await RefreshSafelyAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        _poll = PollAsync(_stop.Token);
    }

    /// <summary>Loads the registry's current version when it differs from the one served.</summary>
    public async Task RefreshAsync()
    {
        await _refreshing.WaitAsync(_stop.Token).ConfigureAwait(false);
        try
        {
            var head = await _store!.GetCurrentVersionNumberAsync(Project).ConfigureAwait(false);
            if (head == 0 || head == _current?.Version)
            {
                return;
            }

            var version = await _store.GetVersionAsync(Project, head).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"registry version {head} of '{Project}' vanished");
            // The version with its views' state groups: which groups serve each feature, which one is building.
            var applied = version.Load(Project);
            Swap(new ServingRepository(applied.Repository, applied.Layout, head, applied.AppliedAt));
        }
        finally
        {
            _refreshing.Release();
        }
    }

    private void Swap(ServingRepository next)
    {
        _current = next;
        _metrics.RegistryVersion = next.Version;
        _metrics.RegistryLoaded();
        _logger.RepositoryLoaded(next.Repository.Project, next.Version, next.Views.Length);
    }

    private async Task RefreshSafelyAsync()
    {
        try
        {
            await RefreshAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // stopping
        }
        catch (Exception ex) when (ex is RedisException or InvalidOperationException or TimeoutException or System.Text.Json.JsonException)
        {
            _logger.RegistryRefreshFailed(Project, ex);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => RefreshInBackground();

    private void RefreshInBackground() => _ = Task.Run(RefreshSafelyAsync);

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.RegistryPollInterval, _options.TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await RefreshSafelyAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_store is not null)
        {
            _multiplexer.ConnectionRestored -= OnConnectionRestored;
            try
            {
                await _multiplexer.GetSubscriber().UnsubscribeAsync(_store.ChangesChannel).ConfigureAwait(false);
            }
            catch (RedisException)
            {
                // the store is gone; nothing to unsubscribe from
            }
        }

        await _poll.ConfigureAwait(false);
        _stop.Dispose();
        _refreshing.Dispose();
    }
}
