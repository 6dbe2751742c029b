using FeatureStore.Core.Models;
using FeatureStore.Redis.Models;
using StackExchange.Redis;

namespace FeatureStore.Redis.Drift;

/// <summary>
/// The monitor's view of the model registry: each model's production version and the registered versions.
/// Refreshed when a stage change is announced on the registry's channel, and on a short poll besides (a
/// missed message costs at most one poll interval). <see cref="Generation"/> moves on each change, so the
/// evaluator notices a promotion between two batches without a restart.
/// </summary>
/// <param name="registry">The model registry it reads.</param>
/// <param name="pollInterval">How often to read the registry when no change was announced.</param>
public sealed class ModelStageCache(ModelRegistryStore registry, TimeSpan pollInterval)
{
    private volatile Snapshot _snapshot = new(new Dictionary<string, string>(StringComparer.Ordinal), []);
    private int _generation;

    /// <summary>Moves on each change of a production version or of the registered versions.</summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>The production version of <paramref name="model"/>, if the registry has one.</summary>
    public string? Production(string model) => _snapshot.Production.GetValueOrDefault(model);

    /// <summary>True when the registry has <paramref name="model"/>'s <paramref name="version"/>.</summary>
    public bool IsRegistered(string model, string version) => _snapshot.Registered.Contains((model, version));

    /// <summary>Reads the registry now; true when something changed.</summary>
    public async Task<bool> RefreshAsync()
    {
        var production = new Dictionary<string, string>(StringComparer.Ordinal);
        var registered = new HashSet<(string, string)>();
        foreach (var model in await registry.ModelsAsync().ConfigureAwait(false))
        {
            foreach (var record in await registry.VersionsAsync(model).ConfigureAwait(false))
            {
                registered.Add((model, record.Version));
                if (record.Stage == ModelStage.Production)
                {
                    production[model] = record.Version;
                }
            }
        }

        var old = _snapshot;
        if (old.Registered.SetEquals(registered) && old.Production.Count == production.Count
            && old.Production.All(kv => production.GetValueOrDefault(kv.Key) == kv.Value))
        {
            return false;
        }

        _snapshot = new Snapshot(production, registered);
        Interlocked.Increment(ref _generation);
        return true;
    }

    /// <summary>Follows the registry until <paramref name="cancellationToken"/> fires.</summary>
    public async Task FollowAsync(ISubscriber subscriber, Action<Exception> onError, CancellationToken cancellationToken)
    {
        using var signal = new SemaphoreSlim(0);
        var prefix = registry.Project + ":";
        void Handler(RedisChannel _, RedisValue message)
        {
            if (message.ToString().StartsWith(prefix, StringComparison.Ordinal))
            {
                signal.Release();
            }
        }

        try
        {
            await subscriber.SubscribeAsync(registry.ChangesChannel, Handler).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            onError(ex); // the poll still picks changes up
        }

        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                _ = await signal.WaitAsync(pollInterval, cancellationToken).ConfigureAwait(false); // a change, or the poll interval

                try
                {
                    await RefreshAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    // A timeout (RedisTimeoutException) is not a RedisException: a paused store must not end the loop.
                    onError(ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
        finally
        {
            try
            {
                await subscriber.UnsubscribeAsync(registry.ChangesChannel, Handler).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // the connection is going away anyway
            }
        }
    }

    private sealed record Snapshot(Dictionary<string, string> Production, HashSet<(string Model, string Version)> Registered);
}
