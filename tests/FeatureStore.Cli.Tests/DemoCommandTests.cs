namespace FeatureStore.Cli.Tests;

/// <summary><c>featurestore demo</c> end to end, shrunk: every step of the lifecycle, exit code 0, the summary.</summary>
[Trait("Category", "Integration")]
public sealed class DemoCommandTests
{
    [Fact]
    public async Task Demo_runs_the_lifecycle_on_embedded_services_and_summarises()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"demo-test-{Guid.NewGuid():N}");
        try
        {
            var (code, output, error) = await CliRun.RunAsync("demo", "--events", "4000", "--predictions-per-window", "1000", "--work-dir", directory);
            Assert.True(code == 0, $"exit {code}: {error}\n{output}");
            Assert.Contains("registered project fraud version 1", output, StringComparison.Ordinal);
            Assert.Contains("ingested 4,000 events", output, StringComparison.Ordinal);
            Assert.Contains("8 dead-lettered", output, StringComparison.Ordinal);
            Assert.Contains("exported a point-in-time training set: 4,000 rows × 8 features", output, StringComparison.Ordinal);
            Assert.Contains("drift alert received by the webhook, signature verified", output, StringComparison.Ordinal);
            Assert.Contains("resolved alert received", output, StringComparison.Ordinal);
            foreach (var line in new[] { "events ingested", "training rows", "AUC (held out)", "lookup latency", "drift alert received", "alert resolved", "dashboard", "total time" })
            {
                Assert.Contains(line, output, StringComparison.Ordinal);
            }

            Assert.Matches(@"AUC \(held out\)\s*│\s*0\.\d{3}", output);

            // Without --keep-running the server has stopped when the summary is shown: no address to it there.
            var summary = output[output.LastIndexOf("summary", StringComparison.Ordinal)..];
            Assert.DoesNotContain("http://", summary, StringComparison.Ordinal);
            Assert.Contains("stopped with the demo (--keep-running keeps it up)", summary, StringComparison.Ordinal);

            // Windows are counted as the dashboard counts them: 12 simulated hours of 3 monitored columns.
            Assert.Matches(@"predictions monitored\s*│\s*[\d,]+ in 12 windows × 3 columns", summary);
            Assert.True(File.Exists(Path.Combine(directory, "training.csv")));
            Assert.True(File.Exists(Path.Combine(directory, "fraud_detector-v1.json")));
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Demo_refuses_sizes_too_small_to_show_anything()
    {
        var (code, _, error) = await CliRun.RunAsync("demo", "--events", "10");
        Assert.Equal(2, code);
        Assert.Contains("--events must be at least 1000", error, StringComparison.Ordinal);
    }
}
