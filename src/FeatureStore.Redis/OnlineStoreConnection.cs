using FeatureStore.Redis.Embedded;
using StackExchange.Redis;

namespace FeatureStore.Redis;

/// <summary>
/// A connection to the online store: any Redis-compatible server by StackExchange.Redis configuration
/// string, or an embedded Garnet server started in this process when the string is <c>embedded</c>
/// (or empty).
/// </summary>
public sealed class OnlineStoreConnection : IAsyncDisposable
{
    /// <summary>The configuration value that selects the embedded Garnet server.</summary>
    public const string EmbeddedName = "embedded";

    private readonly EmbeddedGarnet? _embedded;

    private OnlineStoreConnection(ConnectionMultiplexer multiplexer, EmbeddedGarnet? embedded, string endpoint)
    {
        Multiplexer = multiplexer;
        _embedded = embedded;
        Endpoint = endpoint;
    }

    /// <summary>The client; shared and thread-safe.</summary>
    public ConnectionMultiplexer Multiplexer { get; }

    /// <summary>Database 0 of the store.</summary>
    public IDatabase Database => Multiplexer.GetDatabase();

    /// <summary>The endpoint connected to, as given (without its password) or as started.</summary>
    public string Endpoint { get; }

    /// <summary>True when this connection owns an embedded Garnet server.</summary>
    public bool IsEmbedded => _embedded is not null;

    /// <summary>
    /// Connects to <paramref name="configuration"/>, starting an embedded server first when it is
    /// <c>embedded</c>, null or empty. Fails within the connect timeout when the server is unreachable.
    /// </summary>
    public static Task<OnlineStoreConnection> ConnectAsync(string? configuration, TimeSpan? connectTimeout = null) =>
        ConnectAsync(configuration, connectTimeout, configure: null);

    /// <summary>
    /// Connects as <see cref="ConnectAsync(string?, TimeSpan?)"/> does, letting <paramref name="configure"/>
    /// change the client's options last (a server that must start while the store is down, say).
    /// </summary>
    public static async Task<OnlineStoreConnection> ConnectAsync(string? configuration, TimeSpan? connectTimeout, Action<ConfigurationOptions>? configure)
    {
        EmbeddedGarnet? embedded = null;
        var endpoint = configuration;
        if (string.IsNullOrWhiteSpace(configuration) || string.Equals(configuration, EmbeddedName, StringComparison.OrdinalIgnoreCase))
        {
            embedded = EmbeddedGarnet.Start();
            endpoint = embedded.Endpoint;
        }

        var shown = endpoint!;
        try
        {
            var options = ConfigurationOptions.Parse(endpoint!);
            shown = options.ToString(includePassword: false); // the endpoint is printed and logged: never its password
            var timeout = (int)(connectTimeout ?? TimeSpan.FromSeconds(5)).TotalMilliseconds;
            options.ConnectTimeout = timeout;
            options.AbortOnConnectFail = true;
            options.ConnectRetry = 2;
            configure?.Invoke(options);
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
            return new OnlineStoreConnection(multiplexer, embedded, shown);
        }
        catch (RedisConnectionException ex)
        {
            embedded?.Dispose();
            throw new OnlineStoreUnavailableException($"cannot connect to the online store at '{shown}': {ex.Message}", ex);
        }
        catch
        {
            embedded?.Dispose();
            throw;
        }
    }

    /// <summary>True when this connection is to a Redis Cluster.</summary>
    public bool IsCluster => IsClusterOf(Multiplexer);

    /// <summary>True when <paramref name="multiplexer"/> is connected to a Redis Cluster (a cluster-mode server answers).</summary>
    public static bool IsClusterOf(IConnectionMultiplexer multiplexer)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        return multiplexer.GetServers().Any(s => s.ServerType == ServerType.Cluster);
    }

    /// <summary>Closes the client, then stops the embedded server if there is one.</summary>
    public async ValueTask DisposeAsync()
    {
        await Multiplexer.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
        await Multiplexer.DisposeAsync().ConfigureAwait(false);
        _embedded?.Dispose();
    }
}

/// <summary>The online store could not be reached.</summary>
public sealed class OnlineStoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OnlineStoreUnavailableException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
