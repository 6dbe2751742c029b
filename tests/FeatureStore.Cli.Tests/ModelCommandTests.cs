using System.Text.Json;
using FeatureStore.Testing;

namespace FeatureStore.Cli.Tests;

/// <summary>`featurestore model register|list|show|promote` against a real redis-server: output, JSON and exit codes.</summary>
[Trait("Category", "Integration")]
public sealed class ModelCommandTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Register_list_show_and_promote_with_their_exit_codes()
    {
        string[] Store(params string[] args) => [.. args, "--redis", redis.Connection.Endpoint, "--key-prefix", _prefix];

        var (code, output, error) = await CliRun.RunAsync(Store("model", "register", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "--training-export", "train.parquet"));
        Assert.True(code == 0, error);
        Assert.Contains("registered fraud_detector v1 (staging)", output, StringComparison.Ordinal);

        // A version the repository does not declare needs its features; unknown ones are a usage error.
        Assert.Equal(2, (await CliRun.RunAsync(Store("model", "register", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v9"))).Code);
        Assert.Equal(2, (await CliRun.RunAsync(Store("model", "register", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v9", "--features", "nope:x"))).Code);
        var features = JsonDocument.Parse((await CliRun.RunAsync(Store("model", "show", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "--json"))).Out)
            .RootElement.GetProperty("features").EnumerateArray().Select(f => f.GetString()!).ToArray();
        (code, output, error) = await CliRun.RunAsync(Store("model", "register", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v9", "--features", string.Join(",", features), "--json"));
        Assert.True(code == 0, error);
        Assert.Equal("staging", JsonDocument.Parse(output).RootElement.GetProperty("stage").GetString());
        Assert.Equal(1, (await CliRun.RunAsync(Store("model", "register", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v9", "--features", features[0]))).Code); // already registered

        // The example declares gates: no version here has a stored reference, so each promotion to production is forced, with its reason.
        Assert.Equal(2, (await CliRun.RunAsync(Store("model", "promote", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1"))).Code);
        Assert.Equal(0, (await CliRun.RunAsync(Store("model", "promote", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "--force", "--reason", "first release"))).Code);
        (code, output, _) = await CliRun.RunAsync(Store("model", "promote", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v9", "--stage", "production", "--force", "--reason", "a trial"));
        Assert.Equal(0, code);
        Assert.Contains("fraud_detector v9 → production", output, StringComparison.Ordinal);
        Assert.Contains("fraud_detector v1 → archived", output, StringComparison.Ordinal);
        Assert.Equal(1, (await CliRun.RunAsync(Store("model", "promote", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v8", "--force", "--reason", "none"))).Code);
        Assert.Equal(2, (await CliRun.RunAsync(Store("model", "promote", "--project", "fraud", "-m", "fraud_detector", "-v", "v1", "--stage", "gold"))).Code);
        Assert.Equal(2, (await CliRun.RunAsync(Store("model", "list"))).Code); // neither --file nor --project

        (code, output, _) = await CliRun.RunAsync(Store("model", "list", "--project", "fraud", "--json"));
        Assert.Equal(0, code);
        var stages = JsonDocument.Parse(output).RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("version").GetString()!, r => r.GetProperty("stage").GetString());
        Assert.Equal("archived", stages["v1"]);
        Assert.Equal("production", stages["v9"]);
        (code, output, _) = await CliRun.RunAsync(Store("model", "show", "--project", "fraud", "-m", "fraud_detector", "-v", "v1"));
        Assert.Equal(0, code);
        Assert.Contains("training export: train.parquet", output, StringComparison.Ordinal);
        Assert.Equal(1, (await CliRun.RunAsync(Store("model", "show", "--project", "fraud", "-m", "fraud_detector", "-v", "v7"))).Code);
    }

    [Theory]
    [InlineData("register")]
    [InlineData("list")]
    [InlineData("show")]
    [InlineData("promote")]
    [InlineData("history")]
    [InlineData("reference")]
    public async Task Each_model_command_has_help(string command)
    {
        var (code, output, _) = await CliRun.RunAsync("model", command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("--redis", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_with_a_missing_or_wrong_configuration_is_a_usage_error()
    {
        Assert.Equal(2, (await CliRun.RunAsync("run", "-c", "/nonexistent/host.yaml")).Code);
        var file = Path.Combine(Path.GetTempPath(), $"fs-host-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, "supervision: { maxBackoff: soon }", TestContext.Current.CancellationToken);
        try
        {
            var (code, _, error) = await CliRun.RunAsync("run", "-c", file);
            Assert.Equal(2, code);
            Assert.Contains("supervision.maxBackoff", error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
