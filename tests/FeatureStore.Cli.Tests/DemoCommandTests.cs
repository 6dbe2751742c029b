namespace FeatureStore.Cli.Tests;

[Trait("Category", "Integration")]
public sealed class DemoCommandTests
{
    [Fact]
    public async Task Demo_runs_the_lifecycle_on_embedded_services_and_summarises()
    {
        var (code, output, error) = await CliRun.RunAsync("demo", "--events", "2000");
        Assert.True(code == 0, $"exit {code}: {error}");
        Assert.Contains("registered project fraud version 1", output, StringComparison.Ordinal);
        Assert.Contains("ingested 1,996 events", output, StringComparison.Ordinal);
        Assert.Contains("4 dead-lettered", output, StringComparison.Ordinal);
        Assert.Contains("lookup latency", output, StringComparison.Ordinal);
    }
}
