using StackExchange.Redis;

namespace FeatureStore.Redis.Online;

/// <summary>
/// Whether the online store answers (a server's readiness), and which failures mean it did not: the
/// client's errors and a wait that ran out, told apart from the caller's own.
/// </summary>
public sealed class OnlineStoreHealth(IConnectionMultiplexer store)
{
    /// <summary>Sends PING; throws what <see cref="IsStoreFailure"/> recognises when the store does not answer within <paramref name="timeout"/>.</summary>
    public Task PingAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        store.GetDatabase().PingAsync().WaitAsync(timeout, cancellationToken);

    /// <summary>True when <paramref name="exception"/> says the online store could not be used (its client's error, or a timeout).</summary>
    public static bool IsStoreFailure(Exception exception) => exception is RedisException or TimeoutException;
}
