using FeatureStore.Core.Definitions;
using FeatureStore.Serving;
using FeatureStore.Testing;

namespace FeatureStore.Cli.Tests;

/// <summary><c>featurestore get</c> against a serving host in this process (embedded Garnet), and against none.</summary>
[Trait("Category", "Integration")]
public sealed class GetCommandTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task No_server_is_said_with_its_address_and_what_to_start()
    {
        var address = $"http://127.0.0.1:{FreePort.Next()}";
        var (code, _, error) = await CliRun.RunAsync("get", "--server", address, "-e", "user_id=u1", "--features", "user_txn_stats");
        Assert.Equal(1, code);
        Assert.Contains($"cannot reach the server at {address}", error, StringComparison.Ordinal);
        Assert.Contains("featurestore serve", error, StringComparison.Ordinal);
        Assert.Contains("--server", error, StringComparison.Ordinal);
        Assert.DoesNotContain("subchannel", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_key_is_answered_with_the_option_that_gives_it_and_rows_are_numbered_from_1()
    {
        var repository = FeatureRepositoryLoader.Load(CliRun.Example).Repository!;
        var grpc = FreePort.Next();
        await using var server = FeatureServer.Create(new FeatureServerOptions
        {
            Repository = repository,
            KeyPrefix = "g" + Guid.NewGuid().ToString("N")[..8],
            GrpcPort = grpc,
            HttpPort = FreePort.Next(),
            ApiKeys = [new ApiKey("s3cret")],
            StoreTimeout = TimeSpan.FromSeconds(10), // a loaded machine: this test is about messages, not latency
        }, garnet.Connection.Multiplexer);
        await server.StartAsync(Ct);
        var address = server.GrpcAddress.ToString();

        var (code, _, error) = await CliRun.RunAsync("get", "--server", address, "-e", "user_id=u1", "--features", "user_txn_stats:txn_count_1h");
        Assert.Equal(1, code);
        Assert.Contains("--api-key", error, StringComparison.Ordinal);

        (code, _, error) = await CliRun.RunAsync("get", "--server", address, "--api-key", "s3cret", "-e", "merchant_id=m1", "--features", "user_txn_stats:txn_count_1h");
        Assert.Equal(2, code);
        Assert.Contains("entity row 1 has no join key 'user_id'", error, StringComparison.Ordinal);

        (code, var output, error) = await CliRun.RunAsync("get", "--server", address, "--api-key", "s3cret", "-e", "user_id=u1", "--features", "user_txn_stats:txn_count_1h");
        Assert.True(code == 0, error);
        Assert.Contains("user_id=u1", output, StringComparison.Ordinal);
    }
}
