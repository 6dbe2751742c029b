using StackExchange.Redis;

namespace FeatureStore.Redis.Registry;

/// <summary>
/// The notices of one project's new registry versions (<see cref="RegistryStore.ChangesChannel"/>) as a signal a
/// job waits on between two looks at the registry's head, with a poll interval that catches a notice missed while
/// disconnected. Notices arriving while one is pending count once: the job reads the head, not the notices.
/// </summary>
public sealed class RegistryNotices : IAsyncDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);
    private ChannelMessageQueue? _queue;

    private RegistryNotices()
    {
    }

    /// <summary>Subscribes to the notices of <paramref name="project"/>; throws <see cref="RedisException"/> when the store cannot be reached.</summary>
    public static async Task<RegistryNotices> SubscribeAsync(IConnectionMultiplexer multiplexer, RegistryStore registry, string project)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        ArgumentNullException.ThrowIfNull(registry);
        var notices = new RegistryNotices();
        var queue = await multiplexer.GetSubscriber().SubscribeAsync(registry.ChangesChannel).ConfigureAwait(false);
        queue.OnMessage(message =>
        {
            if (message.Message.ToString().StartsWith(project + ":", StringComparison.Ordinal))
            {
                notices.Signal();
            }
        });
        notices._queue = queue;
        return notices;
    }

    /// <summary>No subscription (the store could not be reached to make one): waiting is the poll's alone.</summary>
    public static RegistryNotices PollOnly() => new();

    /// <summary>Completes when a notice came (true) or <paramref name="poll"/> has passed (false).</summary>
    public Task<bool> WaitAsync(TimeSpan poll, CancellationToken cancellationToken) => _signal.WaitAsync(poll, cancellationToken);

    /// <summary>Unsubscribes (a store that is gone has nothing to unsubscribe from).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_queue is not null)
        {
            try
            {
                await _queue.UnsubscribeAsync().ConfigureAwait(false);
            }
            catch (RedisException)
            {
                // the store is gone; nothing to unsubscribe from
            }
        }
    }

    private void Signal()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // a notice is already pending
        }
        catch (ObjectDisposedException)
        {
            // stopped
        }
    }
}
