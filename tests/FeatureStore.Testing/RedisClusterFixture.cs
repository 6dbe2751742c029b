using FeatureStore.Redis;
using Xunit;

namespace FeatureStore.Testing;

/// <summary>
/// A six-node Redis Cluster (<see cref="RedisCluster"/>) shared by the tests of one class, and the product's
/// connection to it; tests keep apart by key prefix. Without redis-server the first test that asks fails (skips
/// locally, fails under CI, as <see cref="RedisServerFixture"/>).
/// </summary>
public sealed class RedisClusterFixture : IOnlineStoreFixture, IAsyncLifetime
{
    private RedisCluster? _cluster;
    private OnlineStoreConnection? _connection;

    /// <inheritdoc />
    public string Kind => "redis-cluster";

    /// <summary>The cluster's nodes (for fault tests).</summary>
    public RedisCluster Cluster => _cluster ?? throw ServiceRequirement.Missing(RedisServer.NotInstalled);

    /// <inheritdoc />
    public OnlineStoreConnection Connection => _connection ?? throw ServiceRequirement.Missing(RedisServer.NotInstalled);

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        if (!RedisServer.IsInstalled)
        {
            return;
        }

        _cluster = await RedisCluster.StartAsync();
        _connection = await OnlineStoreConnection.ConnectAsync(_cluster.Configuration);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
