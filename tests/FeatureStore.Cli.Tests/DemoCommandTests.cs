using System.Globalization;
using System.Text.RegularExpressions;

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

            // Progress lines wrap at the console's width: read them as one line.
            var lines = Regex.Replace(output, @"\s+", " ");
            Assert.Matches(@"and its reference performance from the [\d,]+ held-out rows: roc_auc 0\.\d{3}", lines);
            Assert.Matches(@"performance alert received, signature verified: fraud_detector v1 roc_auc realized = 0\.\d{3} in segment electronics", lines);
            Assert.Matches(@"resolved alert received: fraud_detector v1 roc_auc realized = 0\.\d{3} in segment electronics once the labels were as in training again", lines);
            foreach (var line in new[] { "events ingested", "training rows", "AUC (held out)", "lookup latency", "request-time feature", "drift alert received", "alert resolved", "labels joined", "concept drift caught", "dashboard", "total time" })
            {
                Assert.Contains(line, output, StringComparison.Ordinal);
            }

            Assert.Matches(@"AUC \(held out\)\s*│\s*0\.\d{3}", output);
            Assert.Matches(@"request-time lookup with the payment's amount as context: [\d.]+ is [\d.]+× card holder \S+'s 24 h mean \([\d.]+\); merchant \S+'s 95th percentile over 24 h: [\d.]+", Regex.Replace(output, @"\s+", " "));

            // Without --keep-running the server has stopped when the summary is shown: no address to it there.
            var summary = output[output.LastIndexOf("summary", StringComparison.Ordinal)..];
            Assert.DoesNotContain("http://", summary, StringComparison.Ordinal);
            Assert.Contains("stopped with the demo (--keep-running keeps it up)", summary, StringComparison.Ordinal);

            // Windows are counted as the dashboard counts them: 18 simulated hours of 3 monitored columns.
            Assert.Matches(@"predictions monitored\s*│\s*[\d,]+ in 18 windows × 3 columns", summary);

            // The table wraps long values over several rows: read it as one line.
            var flat = Regex.Replace(summary, @"[│\s]+", " ");

            // Every prediction labelled and joined once: 18 hours of 1 000 and the two that close the windows, in six windows of 3 hours.
            Assert.Contains("labels joined 18,002 in 6 windows × 4 categories and the whole model (0 late, 0 unmatched)", flat, StringComparison.Ordinal);

            // The concept drift: caught by the realized AUC of one category, far below its reference, while the estimate from the
            // scores stays near it and the score's drift monitor stays quiet (the demo fails if any of its windows drifted).
            var caught = Regex.Match(flat, @"concept drift caught realized roc_auc (?<realized>0\.\d{3}) in electronics \(reference (?<reference>0\.\d{3}), estimate (?<estimate>0\.\d{3})\), score PSI (?<psi>0\.\d{3}) and KS quiet");
            Assert.True(caught.Success, flat);
            var (realized, reference, estimate) = (Value(caught, "realized"), Value(caught, "reference"), Value(caught, "estimate"));
            Assert.True(realized < reference - 0.25, $"realized {realized} vs reference {reference}");
            Assert.True(Math.Abs(estimate - reference) < 0.1, $"estimate {estimate} vs reference {reference}");
            Assert.True(Value(caught, "psi") < 0.1, $"PSI {Value(caught, "psi")}");

            // The lifecycle: the gate refuses the weaker challenger with its value, its forced trial degrades and is
            // rolled back by the policy, and the stalled payments source breaches its freshness objective, then resolves.
            Assert.Matches(@"FAIL\s+roc_auc >= production - 0\.01\s+value 0\.\d+\s+bound 0\.\d+", output);
            var refused = Regex.Match(flat, @"gate refused the challenger v2 roc_auc (?<value>0\.\d+) < bound (?<bound>0\.\d+) \(production v1 - 0\.01\); \d of 3 gates failed, v1 stays production");
            Assert.True(refused.Success, flat);
            Assert.True(Value(refused, "value") < Value(refused, "bound"));
            var rolledBack = Regex.Match(flat, @"degradation rolled back v2 roc_auc realized (?<value>0\.\d{3}) under (?<threshold>0\.\d{3}) for 2 windows → v1 production again, v2 archived; 1 signed rollback event");
            Assert.True(rolledBack.Success, flat);
            Assert.True(Value(rolledBack, "value") < Value(rolledBack, "threshold"));
            Assert.Contains("model history: 3 stage changes, the last: rollback v2 → archived by policy, v1 production again", lines, StringComparison.Ordinal);
            var stalled = Regex.Match(flat, @"stalled source caught user_txn_stats newest payment (?<age>[\d.]+) s old > objective 120 s → freshness alert; resolved [\d.]+ s after payments resumed");
            Assert.True(stalled.Success, flat);
            Assert.True(Value(stalled, "age") > 120, flat);
            Assert.True(File.Exists(Path.Combine(directory, "training.csv")));
            Assert.True(File.Exists(Path.Combine(directory, "fraud_detector-v2.json")));
            Assert.True(File.Exists(Path.Combine(directory, "fraud_detector-v1.json")));
            Assert.True(File.Exists(Path.Combine(directory, "validation-scored.csv")));
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Theory]
    [InlineData("--events", "10")]
    [InlineData("--predictions-per-window", "999")]
    public async Task Demo_refuses_sizes_too_small_to_show_anything(string option, string value)
    {
        var (code, _, error) = await CliRun.RunAsync("demo", option, value);
        Assert.Equal(2, code);
        Assert.Contains("--events must be at least 1000 and --predictions-per-window at least 1000", error, StringComparison.Ordinal);
    }

    private static double Value(Match match, string group) => double.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);
}
