using System.Reflection;
using FeatureStore.Testing;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace FeatureStore.Cli.Tests;

/// <summary>
/// The dashboard in a real browser: headless Chromium (Debian's, through /usr/bin/chromedriver) loads it
/// while <c>featurestore demo --keep-running</c> is up, and finds the drift charts with their points and
/// threshold lines, the latency chart and the resolved alerts. A screenshot is saved beside the test binaries.
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
                Assert.Contains("user_txn_stats", driver.FindElement(By.Id("views")).Text, StringComparison.Ordinal);
                Assert.Equal("updated", driver.FindElement(By.Id("status")).Text.Split(' ')[0]);
                Assert.DoesNotContain("no status yet", driver.FindElement(By.Id("views")).Text, StringComparison.Ordinal); // freshness from the ingest status
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
}
