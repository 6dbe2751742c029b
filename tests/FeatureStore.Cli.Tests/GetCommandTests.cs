using System.Diagnostics;
using System.Reflection;
using FeatureStore.Core.Definitions;
using FeatureStore.Serving;
using FeatureStore.Testing;

namespace FeatureStore.Cli.Tests;

/// <summary><c>featurestore get</c> against a serving host in this process (embedded Garnet), and against none.</summary>
[Trait("Category", "Integration")]
public sealed class GetCommandTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static readonly string Cli = Path.GetFullPath(typeof(GetCommandTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Without_a_server_address_get_asks_the_serve_job_of_the_running_host()
    {
        var repository = FeatureRepositoryLoader.Load(CliRun.Example).Repository!;
        await using var server = FeatureServer.Create(new FeatureServerOptions
        {
            Repository = repository,
            KeyPrefix = "g" + Guid.NewGuid().ToString("N")[..8],
            GrpcPort = FreePort.Next(),
            HttpPort = FreePort.Next(),
            StoreTimeout = TimeSpan.FromSeconds(10),
        }, garnet.Connection.Multiplexer);
        await server.StartAsync(Ct);

        // The state file a `run` of this process would keep, its serve job listening on every interface.
        var dir = Directory.CreateTempSubdirectory("fs-get-state-");
        try
        {
            using var self = Process.GetCurrentProcess();
            var started = new DateTimeOffset(self.StartTime.ToUniversalTime(), TimeSpan.Zero).ToString("O");
            var grpc = $"http://0.0.0.0:{server.GrpcAddress.Port}";
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "run.json"),
                $$"""{"pid":{{Environment.ProcessId}},"started":"{{started}}","redis":"x","keyPrefix":"x","kafka":"x","grpc":"{{grpc}}","http":null,"offline":"x"}""", Ct);

            await using var get = ChildProcess.StartDotnet(Cli, ["get", "-e", "user_id=u1", "--features", "user_txn_stats:txn_count_1h"],
                new Dictionary<string, string> { ["FEATURESTORE__STATE__DIRECTORY"] = dir.FullName });
            Assert.True(await get.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct) == 0, get.ErrorText);
            Assert.Contains(get.Lines, l => l.Contains("user_id=u1", StringComparison.Ordinal));
            Assert.Contains($"using the server of `featurestore run` (process {Environment.ProcessId}) at http://127.0.0.1:{server.GrpcAddress.Port}", get.ErrorText, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

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

    [Fact]
    public async Task Get_sends_each_row_s_request_context_and_names_a_missing_or_mistyped_field()
    {
        var repository = FeatureRepositoryLoader.Load(CliRun.Example).Repository!;
        await using var server = FeatureServer.Create(new FeatureServerOptions
        {
            Repository = repository,
            KeyPrefix = "g" + Guid.NewGuid().ToString("N")[..8],
            GrpcPort = FreePort.Next(),
            HttpPort = FreePort.Next(),
            StoreTimeout = TimeSpan.FromSeconds(10),
        }, garnet.Connection.Multiplexer);
        await server.StartAsync(Ct);
        var address = server.GrpcAddress.ToString();

        // A user never seen: the 24 h mean is NOT_FOUND, so the ratio is null with that status.
        var (code, output, error) = await CliRun.RunAsync("get", "--server", address, "-e", "user_id=u1", "-e", "user_id=u2",
            "--context", "amount=12.5", "--features", "payment:amount_vs_mean_24h", "--json");
        Assert.True(code == 0, error);
        Assert.Contains("payment:amount_vs_mean_24h", output, StringComparison.Ordinal);
        Assert.Contains("NOT_FOUND", output, StringComparison.OrdinalIgnoreCase);

        (code, _, error) = await CliRun.RunAsync("get", "--server", address, "-e", "user_id=u1", "--features", "payment:amount_vs_mean_24h");
        Assert.Equal(2, code);
        Assert.Contains("entity row 1 has no request context field 'amount'", error, StringComparison.Ordinal);

        (code, _, error) = await CliRun.RunAsync("get", "--server", address, "-e", "user_id=u1", "--context", "amount=\"12\"", "--features", "payment:amount_vs_mean_24h");
        Assert.Equal(2, code);
        Assert.Contains("request context field 'amount' (request view 'payment') is double: it must be a number, not the string '12'", error, StringComparison.Ordinal);

        (code, _, error) = await CliRun.RunAsync("get", "--server", address, "-e", "user_id=u1", "-e", "user_id=u2", "-e", "user_id=u3",
            "--context", "amount=1", "--context", "amount=2", "--features", "payment");
        Assert.Equal(2, code);
        Assert.Contains("--context: 2 given for 3 --entity rows", error, StringComparison.Ordinal);
    }
}
