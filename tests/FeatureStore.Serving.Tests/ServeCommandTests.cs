using System.Globalization;
using System.Reflection;
using System.Text.Json;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;

namespace FeatureStore.Serving.Tests;

/// <summary><c>featurestore serve</c> and <c>featurestore get</c> as a user runs them: separate processes, real ports.</summary>
[Trait("Category", "Integration")]
public sealed class ServeCommandTests(IngestedStoreFixture data) : IClassFixture<IngestedStoreFixture>
{
    private static readonly string Cli = typeof(ServeCommandTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Serve_answers_get_as_a_table_and_as_json_and_stops_on_sigterm()
    {
        var file = Path.Combine(Path.GetTempPath(), $"stest-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, data.Scenario.RepositoryYaml, Ct);
        try
        {
            var grpcPort = FreePort.Next();
            await using var serve = ChildProcess.StartDotnet(Cli,
            [
                "serve", "-f", file, "--redis", data.Server.Endpoint, "--key-prefix", data.Scenario.KeyPrefix,
                "--grpc-port", grpcPort.ToString(CultureInfo.InvariantCulture), "--http-port", FreePort.Next().ToString(CultureInfo.InvariantCulture),
                // What is checked here is the commands' output, not latency: a cold server on a busy machine may take
                // longer than the default second over its first read (the fast UNAVAILABLE is tested elsewhere).
                "--store-timeout-ms", "30000",
            ]);
            var line = await serve.WaitForLineAsync(l => l.StartsWith("serving:", StringComparison.Ordinal), TimeSpan.FromSeconds(60), Ct);
            Assert.Contains($"grpc=http://127.0.0.1:{grpcPort}/", line, StringComparison.Ordinal);

            var user = data.Scenario.Events[0].User;
            var events = data.Scenario.Events.Where(e => e.User == user).ToList();
            var at = data.NowMs.ToString(CultureInfo.InvariantCulture);
            string[] lookup = ["get", "--server", $"http://127.0.0.1:{grpcPort}", "--features", "user_stats:n_all,user_stats:last_country", "-e", $"user_id={user}", "-e", "user_id=nobody", "--as-of", at];

            await using (var table = ChildProcess.StartDotnet(Cli, lookup))
            {
                var exit = await table.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct);
                Assert.True(exit == 0, $"get exited with {exit}: {table.ErrorText}");
                var lines = table.Lines.ToList();
                Assert.Equal(["entity", "user_stats:n_all", "user_stats:last_country"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
                var last = events.Where(e => e.Time <= data.NowMs).OrderBy(e => (e.Time, e.Index)).Last().Country;
                Assert.Equal([$"user_id={user}", events.Count.ToString(CultureInfo.InvariantCulture), last], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
                Assert.Equal(["user_id=nobody", "(not", "found)", "(not", "found)"], lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries));
            }

            await using (var json = ChildProcess.StartDotnet(Cli, [.. lookup, "--json"]))
            {
                var exit = await json.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct);
                Assert.True(exit == 0, $"get --json exited with {exit}: {json.ErrorText}");
                using var document = JsonDocument.Parse(string.Join('\n', json.Lines));
                var rows = document.RootElement.GetProperty("rows");
                var count = rows[0].GetProperty("features").GetProperty("user_stats:n_all");
                Assert.Equal(events.Count, count.GetProperty("value").GetInt64());
                Assert.Equal("PRESENT", count.GetProperty("status").GetString());
                Assert.Equal("NOT_FOUND", rows[1].GetProperty("features").GetProperty("user_stats:last_country").GetProperty("status").GetString());
            }

            await using (var bad = ChildProcess.StartDotnet(Cli, ["get", "--server", $"http://127.0.0.1:{grpcPort}", "--features", "user_stats:nope", "-e", "user_id=u1"]))
            {
                Assert.Equal(2, await bad.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));
                Assert.Contains("InvalidArgument: unknown feature 'nope' in view 'user_stats'", bad.ErrorText, StringComparison.Ordinal);
            }

            serve.Terminate();
            Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
