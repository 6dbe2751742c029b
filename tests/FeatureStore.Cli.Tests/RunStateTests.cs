using System.Reflection;
using FeatureStore.Testing;

namespace FeatureStore.Cli.Tests;

/// <summary>
/// The commands that write to the registry and exit (apply, model, baseline) find the running host's store
/// through the file `run` writes, or refuse; never write into a store of their own that vanishes with them.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RunStateTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private static readonly string Cli = Path.GetFullPath(typeof(RunStateTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!);

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-runstate-").FullName;
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..8];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("apply", "-f")]
    [InlineData("model", "register", "-m", "fraud_detector", "-v", "v1", "-f")]
    [InlineData("model", "list", "-f")]
    public async Task Without_a_store_or_a_running_host_a_registry_command_is_refused(params string[] args)
    {
        Assert.False(File.Exists(Path.Combine(Directory.GetCurrentDirectory(), ".featurestore", "run.json")), "no host runs in the tests' folder");
        var (code, output, error) = await CliRun.RunAsync([.. args, CliRun.Example]);
        Assert.Equal(2, code);
        Assert.Contains("no online store: give --redis", error, StringComparison.Ordinal);
        Assert.Contains("featurestore run", error, StringComparison.Ordinal);
        Assert.DoesNotContain("applied", output, StringComparison.Ordinal);
        Assert.DoesNotContain("registered", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_registry_command_writes_into_the_running_hosts_store_and_a_stopped_host_is_not_used()
    {
        var config = Path.Combine(_dir, "host.yaml");
        await File.WriteAllTextAsync(config, $"""
            repository: {CliRun.Example}
            redis: {"{"} configuration: "{redis.Connection.Endpoint}", keyPrefix: {_prefix} {"}"}
            offline: {"{"} directory: offline {"}"}
            jobs:
              serve: {"{"} enabled: false {"}"}
              monitor: {"{"} enabled: false {"}"}
              offline: {"{"} enabled: false {"}"}
            """, Ct);
        var state = new Dictionary<string, string> { ["FEATURESTORE__STATE__DIRECTORY"] = Path.Combine(_dir, "state") };
        var stateFile = Path.Combine(_dir, "state", "run.json");

        await using (var run = ChildProcess.StartDotnet(Cli, ["run", "-c", config], state))
        {
            await run.WaitForLineAsync(l => l.StartsWith("running: ", StringComparison.Ordinal), TimeSpan.FromSeconds(90), Ct);
            await Eventually.TrueAsync(() => File.Exists(stateFile), TimeSpan.FromSeconds(30), "run writes its state file", Ct);

            await using (var apply = ChildProcess.StartDotnet(Cli, ["apply", "-f", CliRun.Example], state))
            {
                Assert.True(await apply.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct) == 0, apply.ErrorText);
                // `run` applied the file at its first start: the same file is no new version of the host's registry.
                Assert.Contains(apply.Lines, l => l.Contains("unchanged: version 1 is current", StringComparison.Ordinal));
                Assert.Contains($"using the online store of `featurestore run` (process {run.Id})", apply.ErrorText, StringComparison.Ordinal);
            }

            Assert.True(await redis.Connection.Database.KeyExistsAsync($"{_prefix}:{{fraud}}:registry:head"), "the registry is in the host's store");

            run.Terminate();
            Assert.Equal(0, await run.WaitForExitAsync(TimeSpan.FromSeconds(90), Ct));
        }

        Assert.False(File.Exists(stateFile), "a clean stop removes the state file");

        // A file left by a host that is gone (killed) is stale: ignored, said, and the command refused.
        await File.WriteAllTextAsync(stateFile, $$"""{"pid":{{int.MaxValue - 7}},"started":"2026-01-01T00:00:00+00:00","redis":"{{redis.Connection.Endpoint}}","keyPrefix":"{{_prefix}}","kafka":"x","grpc":null,"http":null,"offline":"x"}""", Ct);
        await using (var stale = ChildProcess.StartDotnet(Cli, ["apply", "-f", CliRun.Example], state))
        {
            Assert.Equal(2, await stale.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));
            Assert.Contains("is gone", stale.ErrorText, StringComparison.Ordinal);
            Assert.Contains("no online store: give --redis", stale.ErrorText, StringComparison.Ordinal);
        }
    }
}
