using FeatureStore.Testing;

namespace FeatureStore.Redis.Tests;

[Trait("Category", "Integration")]
public sealed class OnlineStoreConnectionTests
{
    [Fact]
    public async Task Unreachable_server_fails_fast_with_a_clear_error()
    {
        var port = FreePort.Next(); // nothing listens there
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<OnlineStoreUnavailableException>(
            () => OnlineStoreConnection.ConnectAsync($"127.0.0.1:{port}", TimeSpan.FromMilliseconds(500)));
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Embedded_connection_owns_and_stops_its_server()
    {
        var connection = await OnlineStoreConnection.ConnectAsync(null);
        Assert.True(connection.IsEmbedded);
        Assert.True(await connection.Database.PingAsync() >= TimeSpan.Zero);
        var endpoint = connection.Endpoint;
        await connection.DisposeAsync();

        await Assert.ThrowsAsync<OnlineStoreUnavailableException>(
            () => OnlineStoreConnection.ConnectAsync(endpoint, TimeSpan.FromMilliseconds(500)));
    }
}
