using FeatureStore.Redis;
using Xunit;

namespace FeatureStore.Testing;

/// <summary>An online store for a test class: a connection and a key prefix unique to each test.</summary>
public interface IOnlineStoreFixture
{
    /// <summary>The connection; fails (CI) or skips (elsewhere) when the server could not be had.</summary>
    OnlineStoreConnection Connection { get; }

    /// <summary>A short name for messages: <c>redis-server</c> or <c>garnet</c>.</summary>
    string Kind { get; }
}

/// <summary>A real <c>redis-server</c> on a free port, shared by one test class.</summary>
public sealed class RedisServerFixture : IOnlineStoreFixture, IAsyncLifetime
{
    private RedisServer? _server;
    private OnlineStoreConnection? _connection;

    /// <inheritdoc />
    public string Kind => "redis-server";

    /// <summary>The server process (for fault tests: kill and restart).</summary>
    public RedisServer Server => _server ?? throw ServiceRequirement.Missing(RedisServer.NotInstalled);

    /// <inheritdoc />
    public OnlineStoreConnection Connection => _connection ?? throw ServiceRequirement.Missing(RedisServer.NotInstalled);

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        if (!RedisServer.IsInstalled)
        {
            return; // reported by the first test that asks for the connection
        }

        _server = await RedisServer.StartAsync();
        _connection = await OnlineStoreConnection.ConnectAsync(_server.Endpoint);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>An embedded Garnet server in the test process, shared by one test class.</summary>
public sealed class GarnetFixture : IOnlineStoreFixture, IAsyncLifetime
{
    private OnlineStoreConnection? _connection;

    /// <inheritdoc />
    public string Kind => "garnet";

    /// <inheritdoc />
    public OnlineStoreConnection Connection => _connection ?? throw new InvalidOperationException("fixture not initialised");

    /// <inheritdoc />
    public async ValueTask InitializeAsync() =>
        _connection = await OnlineStoreConnection.ConnectAsync(OnlineStoreConnection.EmbeddedName);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }
    }
}
