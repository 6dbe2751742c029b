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

    /// <summary>
    /// True when a server's error says it cannot serve the command now but will again without anyone changing the
    /// data: a cluster that lost a master and has not failed it over yet (<c>CLUSTERDOWN</c>), a slot moving
    /// (<c>TRYAGAIN</c>, a <c>MOVED</c> or <c>ASK</c> not followed), a replica cut off from its master
    /// (<c>MASTERDOWN</c>), a server loading its data (<c>LOADING</c>). Worth a retry; any other error is not.
    /// </summary>
    public static bool IsTransient(RedisServerException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var message = exception.Message.AsSpan();
        foreach (var prefix in TransientPrefixes)
        {
            if (message.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    // The client words an unfollowed redirect "Key has MOVED to Endpoint …" (or ASK); the others are the server's codes.
    private static readonly string[] TransientPrefixes = ["CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "LOADING", "MOVED", "ASK", "Key has MOVED", "Key has ASK"];
}
