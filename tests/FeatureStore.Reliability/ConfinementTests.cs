using System.Net;
using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Testing;

namespace FeatureStore.Reliability;

/// <summary>
/// DESIGN §8: exports and webhooks never read or write outside their configured places. With
/// FEATURESTORE__FILES__ROOT set, every file a command reads or writes must lie inside it (after <c>..</c>
/// and symbolic links); webhook URLs are http(s) only, and a webhook's redirect is never followed.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ConfinementTests : IDisposable
{
    private readonly string _base = Directory.CreateTempSubdirectory("fs-conf-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_base, recursive: true);

    [Fact]
    public async Task With_a_files_root_every_path_outside_it_is_refused_with_a_clear_error()
    {
        var root = Directory.CreateDirectory(Path.Combine(_base, "root")).FullName;
        var outside = Directory.CreateDirectory(Path.Combine(_base, "outside")).FullName;
        Directory.CreateSymbolicLink(Path.Combine(root, "link"), outside);
        var repo = Path.Combine(root, "featurestore.yaml");
        await File.WriteAllTextAsync(repo, PaymentsRepository.Yaml("payments"), Ct);
        var monitorRepo = Path.Combine(root, "monitor.yaml");
        await File.WriteAllTextAsync(monitorRepo, ProcessFaultTests.MonitorYaml("preds", "http://127.0.0.1:9/hook"), Ct);
        var entities = Path.Combine(root, "entities.csv");
        await File.WriteAllTextAsync(entities, "user_id,event_timestamp\nu1,2026-11-28T00:00:00Z\n", Ct);
        var store = Directory.CreateDirectory(Path.Combine(root, "store")).FullName;
        var up = Path.Combine(root, "..");

        string[] Export(string? output = null, string? entityFile = null, string? storeDir = null) =>
            ["export", "-f", repo, "--store", storeDir ?? store, "--entities", entityFile ?? entities, "--features", "user_stats:n_1h", "-o", output ?? Path.Combine(root, "out.csv")];

        var refused = new (string Option, string[] Args)[]
        {
            ("--output", Export(output: Path.Combine(up, "escape.csv"))),
            ("--output", Export(output: Path.Combine(outside, "absolute.csv"))),
            ("--output", Export(output: Path.Combine(root, "link", "through-link.csv"))),
            ("--entities", Export(entityFile: Path.Combine(root, "..", "..", "..", "etc", "passwd"))),
            ("--store", Export(storeDir: Path.Combine(up, "outside"))),
            ("--events", ["backfill", "-f", repo, "--store", store, "--events", Path.Combine(up, "events.jsonl")]),
            ("--store", ["backfill", "-f", repo, "--store", "/etc"]),
            ("--input", ["baseline", "-f", monitorRepo, "-m", "scorer", "-v", "v1", "-i", Path.Combine(up, "training.parquet"), "--redis", "127.0.0.1:1"]),
            ("--input", ["drift", "-f", monitorRepo, "-m", "scorer", "-v", "v1", "-i", Path.Combine(root, "link", "current.parquet"), "--baseline-input", Path.Combine(root, "t.parquet")]),
            ("--baseline-input", ["drift", "-f", monitorRepo, "-m", "scorer", "-v", "v1", "-i", Path.Combine(root, "c.parquet"), "--baseline-input", Path.Combine(up, "t.parquet")]),
            ("--offline", ["ingest", "-f", repo, "--bootstrap-servers", "127.0.0.1:1", "--redis", "127.0.0.1:1", "--offline", Path.Combine(up, "offline")]),
        };
        var environment = new Dictionary<string, string> { ["FEATURESTORE__FILES__ROOT"] = root };
        var results = await Task.WhenAll(refused.Select(c => RunAsync(c.Args, environment)));
        for (var i = 0; i < refused.Length; i++)
        {
            var (code, output) = results[i];
            Assert.True(code == 2, $"{string.Join(' ', refused[i].Args)} → exit {code}: {output}");
            Assert.Contains($"{refused[i].Option}: '", output, StringComparison.Ordinal);
            Assert.Contains("is outside the allowed folder " + root, output, StringComparison.Ordinal);
        }

        Assert.Empty(Directory.GetFiles(outside));
        Assert.False(File.Exists(Path.Combine(_base, "escape.csv")));

        // Inside the root the same export runs; without a root nothing is confined.
        var (inside, insideOutput) = await RunAsync(Export(output: Path.Combine(root, "sub", "..", "out.csv")), environment);
        Assert.DoesNotContain("outside the allowed folder", insideOutput, StringComparison.Ordinal);
        Assert.True(inside == 0, insideOutput);
        var (free, freeOutput) = await RunAsync(Export(output: Path.Combine(outside, "free.csv")), null);
        Assert.True(free == 0, freeOutput);
        Figures.Report("hostile input / paths", $"escapes tried={refused.Length} (.., absolute, symlink; export, backfill, baseline, drift, ingest --offline) refused={results.Count(r => r.Code == 2)} files written outside=0");
    }

    [Fact]
    public void Webhook_urls_other_than_http_and_https_are_validation_errors()
    {
        string[] urls = ["file:///etc/passwd", "ftp://example.com/hook", "../hooks/alert", "javascript:alert(1)", "http//missing-colon", "gopher://127.0.0.1:6379/_FLUSHALL", "/etc/passwd"];
        foreach (var url in urls)
        {
            var yaml = ProcessFaultTests.MonitorYaml("preds", url);
            var result = FeatureRepositoryLoader.LoadFromText(yaml, "hooks.yaml");
            Assert.False(result.Success, url);
            Assert.Contains(result.Diagnostics, d => d.Code == "FS0124" && d.Line > 0 && d.Column > 0);
        }

        Figures.Report("hostile input / webhook URLs", $"urls={urls.Length} refused by validation (FS0124)={urls.Length}");
    }

    [Fact]
    public async Task A_webhook_redirect_is_not_followed()
    {
        await using var elsewhere = new Monitor.Tests.WebhookReceiver(FreePort.Next());
        using var redirector = new HttpListener();
        var port = FreePort.Next();
        redirector.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        redirector.Start();
        var redirects = 0;
        var serve = Task.Run(async () =>
        {
            while (true)
            {
                HttpListenerContext context;
                try
                {
                    context = await redirector.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                Interlocked.Increment(ref redirects);
                context.Response.StatusCode = 307; // keeps the method and body: a POST elsewhere
                context.Response.RedirectLocation = elsewhere.Url;
                context.Response.Close();
            }
        }, Ct);

        using var sender = new WebhookSender(TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(10));
        var alert = new DriftAlert("a1", AlertStatus.Drift, "scorer", "v1", "score", "psi", 1, 0.2,
            "2026-11-28T00:00:00Z", "2026-11-28T00:01:00Z", "b", "http://localhost/history", "hook", 0);
        var outcome = await sender.SendAsync(alert, $"http://127.0.0.1:{port}/hook/", "secret", Ct);
        redirector.Stop();
        await serve;

        Assert.Equal(DeliveryOutcome.Rejected, outcome);
        Assert.Equal(1, redirects);
        Assert.Empty(elsewhere.Requests);
        Figures.Report("hostile input / webhook redirect", "redirects answered=1 followed=0 outcome=Rejected");
    }

    private static async Task<(int Code, string Output)> RunAsync(string[] args, IReadOnlyDictionary<string, string>? environment)
    {
        await using var cli = ChildProcess.StartDotnet(TestCli.Path, args, environment);
        var code = await cli.WaitForExitAsync(TimeSpan.FromSeconds(120), Ct);
        await Task.Yield();
        return (code, string.Join('\n', cli.Lines) + "\n" + cli.ErrorText);
    }
}
