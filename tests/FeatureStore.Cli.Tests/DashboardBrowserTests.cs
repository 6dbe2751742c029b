using System.Reflection;
using FeatureStore.Testing;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace FeatureStore.Cli.Tests;

/// <summary>
/// The dashboard in a real browser: headless Chromium (Debian's, through /usr/bin/chromedriver) loads it
/// while <c>featurestore demo --keep-running</c> is up, and finds the drift charts with their points and
/// threshold lines, the latency chart and the resolved alerts, and checks that they read right: window counts
/// that count windows, points that do not sit on each other, axis ends that differ, a latency line over time.
/// A screenshot is saved beside the test binaries.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const string ChromeDriver = "/usr/bin/chromedriver";

    private static readonly string Cli = typeof(DashboardBrowserTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_dashboard_shows_drift_charts_with_points_and_thresholds_while_the_demo_runs()
    {
        if (!File.Exists(Chromium) || !File.Exists(ChromeDriver))
        {
            throw ServiceRequirement.Missing("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        }

        var work = Path.Combine(Path.GetTempPath(), $"demo-browser-{Guid.NewGuid():N}");
        var profile = Path.Combine(work, "chromium-profile");
        Directory.CreateDirectory(profile);
        try
        {
            await using var demo = ChildProcess.StartDotnet(Cli, ["demo", "--events", "4000", "--predictions-per-window", "1000", "--keep-running", "--work-dir", work]);
            var line = await demo.WaitForLineAsync(l => l.StartsWith("dashboard: ", StringComparison.Ordinal), TimeSpan.FromMinutes(6), Ct);
            var url = line["dashboard: ".Length..].Trim();

            var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver)!, Path.GetFileName(ChromeDriver));
            service.SuppressInitialDiagnosticInformation = true;
            service.HideCommandPromptWindow = true;
            var options = new ChromeOptions { BinaryLocation = Chromium };
            options.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", $"--user-data-dir={profile}", "--window-size=1400,2200");
            using (var driver = new ChromeDriver(service, options, TimeSpan.FromMinutes(2)))
            {
                driver.Navigate().GoToUrl(url);
                int points = 0, thresholds = 0, resolved = 0, latency = 0;
                var folder = Path.Combine(AppContext.BaseDirectory, "TestResults");
                Directory.CreateDirectory(folder);
                var screenshot = Path.Combine(folder, "dashboard.png");
                try
                {
                    await Eventually.TrueAsync(() =>
                    {
                        points = driver.FindElements(By.CssSelector("svg.drift-chart circle.point")).Count;
                        thresholds = driver.FindElements(By.CssSelector("svg.drift-chart line.threshold")).Count;
                        resolved = driver.FindElements(By.CssSelector("#alerts tr.incident.resolved")).Count;
                        latency = driver.FindElements(By.CssSelector("svg.latency-chart polyline.series, svg.latency-chart circle.sample")).Count;
                        return points > 0 && thresholds > 0 && resolved > 0 && latency > 0;
                    }, TimeSpan.FromSeconds(90), "the dashboard draws drift points, threshold lines, resolved alerts and the latency chart", Ct);
                }
                finally
                {
                    driver.GetScreenshot().SaveAsFile(screenshot);
                    TestContext.Current.SendDiagnosticMessage(
                        $"dashboard screenshot: {screenshot} ({points} drift points, {thresholds} threshold lines, {resolved} resolved alerts, {latency} latency marks; status: {driver.FindElement(By.Id("status")).Text})");
                }

                Assert.True(driver.FindElements(By.CssSelector("svg.drift-chart circle.point.drifted")).Count > 0, "the injected drift is drawn as drifted points");
                AssertReadable(driver);
                Assert.Contains("user_txn_stats", driver.FindElement(By.Id("views")).Text, StringComparison.Ordinal);
                Assert.Equal("updated", driver.FindElement(By.Id("status")).Text.Split(' ')[0]);
                Assert.DoesNotContain("no status yet", driver.FindElement(By.Id("views")).Text, StringComparison.Ordinal); // freshness from the ingest status
                await AssertLookupAsync(driver);
                driver.Quit();
            }

            demo.Terminate();
            Assert.Equal(0, await demo.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    /// <summary>
    /// The lookup panel: one user's features of <c>user_txn_stats</c> through the HTTP lookup, each with its status and
    /// value; and lists and top_k counts, in the JSON the HTTP lookup answers them in, read as lists and value ×count.
    /// </summary>
    private static async Task AssertLookupAsync(ChromeDriver driver)
    {
        var script = (IJavaScriptExecutor)driver;
        script.ExecuteScript("""
            const select = document.getElementById('lookup-view');
            select.value = 'user_txn_stats';
            select.dispatchEvent(new Event('change'));
            """);
        driver.FindElement(By.CssSelector("#lookup-keys input[name=user_id]")).SendKeys("u1");
        driver.FindElement(By.CssSelector("#lookup-form button")).Click();
        await Eventually.TrueAsync(() => driver.FindElements(By.CssSelector("#lookup tbody tr")).Count > 0, TimeSpan.FromSeconds(30), "the lookup panel answers", Ct);
        var table = driver.FindElement(By.Id("lookup")).Text;
        Assert.Contains("user_txn_stats:", table, StringComparison.Ordinal);
        Assert.Contains("PRESENT", table, StringComparison.Ordinal);
        Assert.Equal("", driver.FindElement(By.Id("lookup-error")).Text);

        var list = Google.Protobuf.JsonFormatter.Default.Format(new Contracts.V1.FeatureValue
        {
            Status = Contracts.V1.FeatureStatus.Present,
            StringListValue = new Contracts.V1.StringList { Values = { "FR", "DE" } },
        });
        var counts = Google.Protobuf.JsonFormatter.Default.Format(new Contracts.V1.FeatureValue
        {
            Status = Contracts.V1.FeatureStatus.Present,
            CountsValue = new Contracts.V1.ValueCounts { Counts = { ["DE"] = 1, ["FR"] = 3 } },
        });
        Assert.Equal("[FR, DE]", script.ExecuteScript("return lookupValueText(JSON.parse(arguments[0]));", list));
        Assert.Equal("FR ×3, DE ×1", script.ExecuteScript("return lookupValueText(JSON.parse(arguments[0]));", counts));
    }

    /// <summary>The charts read as they mean: counts, distinct points, distinct axis ends, a latency line.</summary>
    private static void AssertReadable(ChromeDriver driver)
    {
        // Read in one script, so a refresh of the page (every 5 s) cannot swap the elements between two reads.
        const string Read = """
            const out = { models: [], charts: [], latency: {} };
            for (const h of document.querySelectorAll('#drift h3[data-windows]')) {
              const counts = [];
              for (let n = h.nextElementSibling.firstElementChild; n; n = n.nextElementSibling) { counts.push(n.querySelectorAll('circle.point').length); }
              out.models.push({ windows: Number(h.dataset.windows), text: h.textContent, counts });
            }
            for (const svg of document.querySelectorAll('svg.drift-chart')) {
              out.charts.push({ xs: [...svg.querySelectorAll('circle.point')].map(c => c.getAttribute('cx')), labels: [...svg.querySelectorAll('text.x-label')].map(t => t.textContent) });
            }
            const line = document.querySelector('svg.latency-chart polyline.series.p50');
            out.latency = { points: line ? line.getAttribute('points').trim().split(/\s+/).length : 0, labels: [...document.querySelectorAll('svg.latency-chart text.x-label')].map(t => t.textContent) };
            return JSON.stringify(out);
            """;
        using var page = System.Text.Json.JsonDocument.Parse((string)((IJavaScriptExecutor)driver).ExecuteScript(Read)!);
        var root = page.RootElement;
        TestContext.Current.SendDiagnosticMessage($"dashboard as read: {root}");

        // "N windows" in a model's header counts windows, not windows × columns: each column's chart has N points.
        Assert.NotEmpty(root.GetProperty("models").EnumerateArray());
        foreach (var model in root.GetProperty("models").EnumerateArray())
        {
            var windows = model.GetProperty("windows").GetInt32();
            Assert.Equal(windows, model.GetProperty("counts").EnumerateArray().Max(c => c.GetInt32()));
            Assert.Contains($"{windows} windows", model.GetProperty("text").GetString(), StringComparison.Ordinal);
        }

        foreach (var chart in root.GetProperty("charts").EnumerateArray())
        {
            // Windows that close at one instant stand side by side, not on top of each other.
            var xs = chart.GetProperty("xs").EnumerateArray().Select(x => x.GetString()).ToList();
            Assert.Equal(xs.Count, xs.Distinct().Count());
            var labels = chart.GetProperty("labels").EnumerateArray().Select(l => l.GetString()!).ToList();
            if (xs.Count > 1)
            {
                Assert.Equal(2, labels.Count);
                Assert.NotEqual(labels[0], labels[1].Replace(" UTC", "", StringComparison.Ordinal));
            }
        }

        // The latency chart is a line over time, not one dot per series.
        var latency = root.GetProperty("latency");
        Assert.True(latency.GetProperty("points").GetInt32() >= 5, $"the p50 latency line has {latency.GetProperty("points").GetInt32()} points");
        var latencyLabels = latency.GetProperty("labels").EnumerateArray().Select(l => l.GetString()!).ToList();
        Assert.Equal(2, latencyLabels.Count);
        Assert.NotEqual(latencyLabels[0], latencyLabels[1].Replace(" UTC", "", StringComparison.Ordinal));
    }
}
