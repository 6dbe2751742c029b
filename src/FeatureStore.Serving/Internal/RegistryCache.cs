using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// The repository version lookups are answered with, compiled once and swapped whole when a new version
/// is applied: never read per request. From the registry it is reloaded on each <c>PREFIX:registry:changed</c>
/// notice for the project, on reconnection, and by a slow poll that catches a notice missed while
/// disconnected. A repository file is served as it is, with the state groups of the registry's current version
/// when that version has the file's content (so a file applied with a changed view reads the groups the change
/// made, and follows their switch in); otherwise each of its views in its one default group.
/// </summary>
internal sealed class RegistryCache : IAsyncDisposable
{
    private readonly FeatureServerOptions _options;
    private readonly IConnectionMultiplexer _multiplexer;
    private readonly RegistryStore _store;
    private readonly ILogger _logger;
    private readonly ServingMetrics _metrics;
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private volatile ServingRepository? _current;
    private Task _poll = Task.CompletedTask;
    private Task _stages = Task.CompletedTask;
    // A repository file's content hash: its views' state groups are those of a registry version with the same content.
    private readonly string? _fileHash;
    private long _seenHead;
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
        _store = new RegistryStore(multiplexer.GetDatabase(), options.KeyPrefix);
        _fileHash = options.Repository?.ContentHash();
        ModelStages = new ModelStageCache(new ModelRegistryStore(multiplexer.GetDatabase(), options.KeyPrefix, Project), options.ModelStagePollInterval);
    }

    /// <summary>The model registry's production versions: what a lookup by model name serves.</summary>
    public ModelStageCache ModelStages { get; }

    public string Project { get; }

    public OnlineKeys Keys { get; }

    public bool IsLoaded => _current is not null;

    /// <summary>The served version; UNAVAILABLE while none has been loaded.</summary>
    public ServingRepository Current => _current ?? ThrowHelper.ThrowUnavailable<ServingRepository>(
        $"no repository version of project '{Project}' is loaded yet: apply one with `featurestore apply`");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _stages = FollowModelStagesAsync(_stop.Token);
        if (_options.Repository is { } repository)
        {
            // A file serves at once, store or no store; its registry version's groups are looked up behind.
            Swap(new ServingRepository(repository, null, 0, null));
            _poll = Task.Run(async () =>
            {
                await FollowAsync().ConfigureAwait(false);
                await PollAsync(_stop.Token).ConfigureAwait(false);
            }, CancellationToken.None);
            return;
        }

        await FollowAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        _poll = PollAsync(_stop.Token);
    }

    // Reads the model registry's stages now, then follows its change notices (and a poll, for a notice missed).
    private async Task FollowModelStagesAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            await ModelStages.RefreshAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _logger.RegistryRefreshFailed(Project, ex); // until the store answers, a model name serves its newest declared version
        }

        await ModelStages.FollowAsync(_multiplexer.GetSubscriber(), ex => _logger.RegistryRefreshFailed(Project, ex), cancellationToken).ConfigureAwait(false);
    }

    // Subscribes to the registry's notices, then loads its current version.
    private async Task FollowAsync()
    {
        try
        {
            await _multiplexer.GetSubscriber().SubscribeAsync(_store.ChangesChannel, (channel, message) =>
            {
                var text = message.ToString();
                if (text.StartsWith(Project + ":", StringComparison.Ordinal))
                {
                    RefreshInBackground();
                }
            }).ConfigureAwait(false);
        }
        catch (RedisException ex) when (_options.Repository is not null)
        {
            _logger.RegistryRefreshFailed(Project, ex); // the slow poll still finds a version applied later
        }

        _multiplexer.ConnectionRestored += OnConnectionRestored;
        await RefreshSafelyAsync().ConfigureAwait(false);
    }

    /// <summary>Loads the registry's current version when it differs from the one served.</summary>
    public async Task RefreshAsync()
    {
        await _refreshing.WaitAsync(_stop.Token).ConfigureAwait(false);
        try
        {
            var head = await _store.GetCurrentVersionNumberAsync(Project).ConfigureAwait(false);
            if (head == 0 || head == _current?.Version || head == _seenHead)
            {
                return;
            }

            var version = await _store.GetVersionAsync(Project, head).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"registry version {head} of '{Project}' vanished");
            _seenHead = head;
            if (_fileHash is not null && version.ContentHash != _fileHash)
            {
                return; // a file served as it is: another content's groups are not its own
            }

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
        _multiplexer.ConnectionRestored -= OnConnectionRestored;
        try
        {
            await _multiplexer.GetSubscriber().UnsubscribeAsync(_store.ChangesChannel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // the store is gone; nothing to unsubscribe from
        }

        await _poll.ConfigureAwait(false);
        await _stages.ConfigureAwait(false);
        _stop.Dispose();
        _refreshing.Dispose();
    }
}
