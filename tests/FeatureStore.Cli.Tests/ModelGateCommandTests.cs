using System.Text.Json;
using FeatureStore.Testing;

namespace FeatureStore.Cli.Tests;

/// <summary>
/// `featurestore model promote` with the repository's gates and `model history`, against a real redis-server: a failing
/// gate refuses with its value (exit 2, nothing changed), `--force` needs and records a reason, and gates relative to
/// production read the production version's stored reference.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ModelGateCommandTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private const string Repository = """
        project: gated
        entities:
          - name: user
            join_keys: [user_id]
        sources:
          - name: orders
            kafka: { topic: orders }
            timestamp_field: ts
            fields: { user_id: string, amount: double, ts: timestamp }
        feature_views:
          - name: user_orders
            entity: user
            source: orders
            ttl: 1d
            features:
              - { name: order_count_1h, aggregation: count, window: 1h }
        models:
          - name: fraud
            prediction:
              topic: predictions
              fields: { score: double }
            gates:
              - roc_auc >= 0.85
              - roc_auc >= production - 0.01
            versions:
              - { version: v1, features: [user_orders] }
              - { version: v2, features: [user_orders] }
              - { version: v3, features: [user_orders] }
        """;

    private readonly string _prefix = "g" + Guid.NewGuid().ToString("N")[..8];
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fs-model-gates-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string[] Store(params string[] args) => [.. args, "--redis", redis.Connection.Endpoint, "--key-prefix", _prefix];

    private async Task<string> RegisterAsync(string repo, string version, double rocAuc)
    {
        var metrics = Path.Combine(_dir.FullName, version + ".json");
        await File.WriteAllTextAsync(metrics, $$"""{"roc_auc": {{rocAuc.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}""", TestContext.Current.CancellationToken);
        var (code, _, error) = await CliRun.RunAsync(Store("model", "register", "-f", repo, "-m", "fraud", "-v", version, "--metrics", metrics, "--task", "binary_classification"));
        Assert.True(code == 0, error);
        return metrics;
    }

    private async Task<Dictionary<string, string>> StagesAsync()
    {
        var (_, output, _) = await CliRun.RunAsync(Store("model", "list", "--project", "gated", "--json"));
        return JsonDocument.Parse(output).RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("version").GetString()!, r => r.GetProperty("stage").GetString()!);
    }

    [Fact]
    public async Task A_failing_gate_refuses_with_its_value_and_force_records_the_reason()
    {
        var repo = Path.Combine(_dir.FullName, "featurestore.yaml");
        await File.WriteAllTextAsync(repo, Repository, TestContext.Current.CancellationToken);
        await RegisterAsync(repo, "v1", 0.90);

        // No production version yet: the relative gate cannot be measured, so it fails and says why.
        var (code, output, error) = await CliRun.RunAsync(Store("model", "promote", "-f", repo, "-m", "fraud", "-v", "v1"));
        Assert.Equal(2, code);
        Assert.Contains("PASS  roc_auc >= 0.85", output, StringComparison.Ordinal);
        Assert.Contains("FAIL  roc_auc >= production - 0.01", output, StringComparison.Ordinal);
        Assert.Contains("(there is no production version to compare with)", output, StringComparison.Ordinal);
        Assert.Contains("refused: 1 of 2 gates failed; fraud v1 stays staging", error, StringComparison.Ordinal);
        Assert.Equal("staging", (await StagesAsync())["v1"]);

        // --force needs a reason; with one it promotes and the history keeps both.
        Assert.Equal(2, (await CliRun.RunAsync(Store("model", "promote", "-f", repo, "-m", "fraud", "-v", "v1", "--force"))).Code);
        Assert.Equal(2, (await CliRun.RunAsync(Store("model", "promote", "-f", repo, "-m", "fraud", "-v", "v1", "--force", "--reason", "   "))).Code);
        (code, output, error) = await CliRun.RunAsync(Store("model", "promote", "-f", repo, "-m", "fraud", "-v", "v1", "--force", "--reason", "the first production version"));
        Assert.True(code == 0, error);
        Assert.Contains("forced past 1 failing gate(s): the first production version", output, StringComparison.Ordinal);
        Assert.Equal("production", (await StagesAsync())["v1"]);

        // Relative to production: v2's 0.88 against v1's stored 0.90 - 0.01.
        await RegisterAsync(repo, "v2", 0.88);
        (code, output, error) = await CliRun.RunAsync(Store("model", "promote", "-f", repo, "-m", "fraud", "-v", "v2"));
        Assert.Equal(2, code);
        Assert.Matches(@"FAIL  roc_auc >= production - 0\.01 +value 0\.88 +bound 0\.89", output);
        Assert.Equal(("production", "staging"), ((await StagesAsync())["v1"], (await StagesAsync())["v2"]));
        (code, output, _) = await CliRun.RunAsync(Store("model", "promote", "-f", repo, "-m", "fraud", "-v", "v2", "--json"));
        Assert.Equal(2, code);
        var refused = JsonDocument.Parse(output).RootElement;
        Assert.True(refused.GetProperty("refused").GetBoolean());
        Assert.Equal((0.88, false), (refused.GetProperty("gates")[1].GetProperty("value").GetDouble(), refused.GetProperty("gates")[1].GetProperty("passed").GetBoolean()));

        // Both gates pass for v3: promoted, v1 archived, the gates recorded.
        await RegisterAsync(repo, "v3", 0.95);
        (code, output, error) = await CliRun.RunAsync(Store("model", "promote", "-f", repo, "-m", "fraud", "-v", "v3", "--json"));
        Assert.True(code == 0, error);
        var promoted = JsonDocument.Parse(output).RootElement;
        Assert.False(promoted.GetProperty("refused").GetBoolean());
        Assert.All(promoted.GetProperty("gates").EnumerateArray(), g => Assert.True(g.GetProperty("passed").GetBoolean()));
        Assert.Equal(("archived", "production"), ((await StagesAsync())["v1"], (await StagesAsync())["v3"]));

        (code, output, _) = await CliRun.RunAsync(Store("model", "history", "--project", "gated", "-m", "fraud", "--json"));
        Assert.Equal(0, code);
        var history = JsonDocument.Parse(output).RootElement.EnumerateArray().ToList();
        Assert.Equal(["v1", "v3"], history.Select(h => h.GetProperty("version").GetString()));
        Assert.Equal((true, "the first production version"), (history[0].GetProperty("forced").GetBoolean(), history[0].GetProperty("reason").GetString()));
        Assert.Equal(("v1", false), (history[1].GetProperty("replaced").GetString(), history[1].GetProperty("forced").GetBoolean()));
        Assert.Equal(0.95, history[1].GetProperty("gates")[1].GetProperty("value").GetDouble());

        (code, output, _) = await CliRun.RunAsync(Store("model", "history", "-f", repo, "-m", "fraud"));
        Assert.Equal(0, code);
        Assert.Contains("promote  v1 staging → production by cli (forced)", output, StringComparison.Ordinal);
        Assert.Contains("    reason: the first production version", output, StringComparison.Ordinal);
        Assert.Contains("promote  v3 staging → production by cli, replacing v1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_the_repository_a_promotion_to_production_needs_force_and_other_stages_do_not()
    {
        var repo = Path.Combine(_dir.FullName, "featurestore.yaml");
        await File.WriteAllTextAsync(repo, Repository, TestContext.Current.CancellationToken);
        await RegisterAsync(repo, "v1", 0.90);
        var (code, _, error) = await CliRun.RunAsync(Store("model", "promote", "--project", "gated", "-m", "fraud", "-v", "v1"));
        Assert.Equal(2, code);
        Assert.Contains("give --file featurestore.yaml (or --force --reason TEXT)", error, StringComparison.Ordinal);
        Assert.Equal(0, (await CliRun.RunAsync(Store("model", "promote", "--project", "gated", "-m", "fraud", "-v", "v1", "--stage", "archived"))).Code);
        Assert.Equal(0, (await CliRun.RunAsync(Store("model", "promote", "--project", "gated", "-m", "fraud", "-v", "v1", "--force", "--reason", "restored by hand"))).Code);
        Assert.Equal("production", (await StagesAsync())["v1"]);
        Assert.Equal(2, (await CliRun.RunAsync(Store("model", "history", "--project", "gated", "-m", "fraud", "--limit", "0"))).Code);
        Assert.Equal(2, (await CliRun.RunAsync(Store("model", "promote", "-f", repo, "-m", "fraud", "-v", "v1", "--force", "--reason", new string('x', 2001)))).Code);
        var (_, output, _) = await CliRun.RunAsync(Store("model", "history", "--project", "gated", "-m", "nobody"));
        Assert.Contains("nobody has no recorded stage change", output, StringComparison.Ordinal);
    }
}
