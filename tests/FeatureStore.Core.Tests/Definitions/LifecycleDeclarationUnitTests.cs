using FeatureStore.Core.Definitions;
using FeatureStore.Core.Models;

namespace FeatureStore.Core.Tests.Definitions;

/// <summary>A model's <c>gates:</c>, <c>on_degradation:</c> and <c>degradation_windows:</c>: read into the records, each mistake reported where it is.</summary>
public sealed class LifecycleDeclarationUnitTests
{
    private const string Full = """
        project: shop
        entities:
          - name: user
            join_keys: [user_id]
        sources:
          - name: orders
            kafka:
              topic: orders
            timestamp_field: ts
            fields:
              user_id: string
              ts: timestamp
        feature_views:
          - name: user_orders
            entity: user
            source: orders
            ttl: 1d
            features:
              - name: order_count_1h
                aggregation: count
                window: 1h
        models:
          - name: fraud
            prediction:
              topic: predictions
              timestamp_field: event_time
              fields: { score: double, event_time: timestamp }
            versions:
              - version: v1
                features: [user_orders:order_count_1h]
            monitors:
              - column: score
                methods: [psi]
                window: { count: 1000 }
            gates:
              - roc_auc >= 0.85
              - "roc_auc >= production - 0.01"
              - lookup_p99_ms <= 5
              - psi(score) vs production <= 0.2
            on_degradation: rollback
            degradation_windows: 2
        """;

    private static LoadResult Load(string text) => FeatureRepositoryLoader.LoadFromText(text, "repo.yaml");

    private static string Replace(string from, string to)
    {
        Assert.Contains(from, Full, StringComparison.Ordinal);
        return Full.Replace(from, to, StringComparison.Ordinal);
    }

    private static Diagnostic Single(string text, string code, int line, int column)
    {
        var result = Load(text);
        Assert.Null(result.Repository);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(("repo.yaml", code, line, column), (diagnostic.File, diagnostic.Code, diagnostic.Line, diagnostic.Column));
        Assert.False(string.IsNullOrEmpty(diagnostic.Hint));
        return diagnostic;
    }

    [Fact]
    public void A_full_declaration_is_read_into_the_records()
    {
        var result = Load(Full);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var lifecycle = result.Repository!.Models[0].Lifecycle!;
        Assert.Equal(["roc_auc >= 0.85", "roc_auc >= production - 0.01", "lookup_p99_ms <= 5", "psi(score) vs production <= 0.2"], lifecycle.Gates.Select(g => g.Text));
        Assert.Equal([GateKind.Metric, GateKind.Metric, GateKind.LookupLatency, GateKind.Psi], lifecycle.Gates.Select(g => g.Kind));
        Assert.Equal((DegradationAction.Rollback, 2), (lifecycle.OnDegradation, lifecycle.DegradationWindows));
    }

    [Fact]
    public void Without_any_lifecycle_key_a_model_has_none_and_keeps_its_canonical_form()
    {
        var text = Full[..Full.IndexOf("    gates:", StringComparison.Ordinal)];
        var repository = Load(text).Repository!;
        Assert.Null(repository.Models[0].Lifecycle);
        Assert.Equal(ModelLifecycle.None, repository.Models[0].LifecycleOrDefault);
        Assert.DoesNotContain("gates", repository.ToCanonicalJson(), StringComparison.Ordinal);
        Assert.NotEqual(repository.ContentHash(), Load(Full).Repository!.ContentHash());
        Assert.NotEqual(Load(Full).Repository!.ContentHash(), Load(Replace("degradation_windows: 2", "degradation_windows: 3")).Repository!.ContentHash());
    }

    [Fact]
    public void The_defaults_are_alert_after_three_windows()
    {
        var lifecycle = Load(Replace("\n    on_degradation: rollback\n    degradation_windows: 2", "")).Repository!.Models[0].Lifecycle!;
        Assert.Equal((DegradationAction.Alert, ModelLifecycle.DefaultDegradationWindows), (lifecycle.OnDegradation, lifecycle.DegradationWindows));
    }

    [Fact]
    public void A_gate_error_points_at_its_character_in_the_line()
    {
        var unknown = Single(Replace("- roc_auc >= 0.85", "- roc_acu >= 0.85"), "FS0151", 36, 9);
        Assert.Equal("did you mean 'roc_auc'?", unknown.Hint);

        // Quoted: one further for the quote.
        Assert.Equal("FS0150", Single(Replace("production - 0.01\"", "production * 0.01\""), "FS0150", 37, 32).Code);
        Single(Replace("lookup_p99_ms <= 5", "lookup_p99_ms => 5"), "FS0150", 38, 23);
    }

    [Fact]
    public void A_psi_gate_names_a_monitored_column()
    {
        var d = Single(Replace("psi(score) vs production", "psi(scor) vs production"), "FS0153", 39, 9);
        Assert.Equal("did you mean 'score'?; the production baseline has bins for those alone", d.Hint);
    }

    [Fact]
    public void The_policy_and_its_windows_are_checked()
    {
        Assert.Equal("did you mean 'rollback'?", Single(Replace("on_degradation: rollback", "on_degradation: rolback"), "FS0154", 40, 21).Hint);
        Single(Replace("degradation_windows: 2", "degradation_windows: 0"), "FS0125", 41, 26);
        Single(Replace("degradation_windows: 2", "degradation_windows: 5000"), "FS0155", 41, 26);
        Single(Replace("- roc_auc >= 0.85", "- { metric: roc_auc }"), "FS0150", 36, 9);
    }

    [Fact]
    public void Too_many_gates_are_refused()
    {
        var many = string.Concat(Enumerable.Range(0, RepositoryReader.MaxGates + 1).Select(_ => "      - roc_auc >= 0.5\n"));
        Single(Replace("      - roc_auc >= 0.85\n", many), "FS0152", 36, 7);
    }
}
