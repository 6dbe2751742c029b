using System.Globalization;
using FeatureStore.Core.Models;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Core.Tests.Models;

/// <summary>The promotion gates' grammar, their verdicts, and the rollback rule, apart from any store.</summary>
public sealed class GatesUnitTests
{
    private static PromotionGate Parsed(string text)
    {
        var gate = Gates.Parse(text, out var error);
        Assert.True(gate is not null, error?.Message);
        return gate!;
    }

    private static GateSyntaxError Error(string text)
    {
        Assert.Null(Gates.Parse(text, out var error));
        Assert.False(string.IsNullOrEmpty(error!.Hint));
        return error;
    }

    [Fact]
    public void Each_form_of_the_grammar_is_read()
    {
        Assert.Equal(new PromotionGate("roc_auc >= 0.85", GateKind.Metric, "roc_auc", ">=", 0.85, false), Parsed("roc_auc >= 0.85"));
        Assert.Equal(new PromotionGate("roc_auc >= production - 0.01", GateKind.Metric, "roc_auc", ">=", -0.01, true), Parsed("  roc_auc >= production - 0.01 "));
        Assert.Equal(new PromotionGate("log_loss<production+0.02", GateKind.Metric, "log_loss", "<", 0.02, true), Parsed("log_loss<production+0.02"));
        Assert.Equal(new PromotionGate("mae <= production", GateKind.Metric, "mae", "<=", 0, true), Parsed("mae <= production"));
        Assert.Equal(new PromotionGate("lookup_p99_ms <= 5", GateKind.LookupLatency, "lookup_p99_ms", "<=", 5, false), Parsed("lookup_p99_ms <= 5"));
        Assert.Equal(new PromotionGate("psi(score) vs production <= 0.2", GateKind.Psi, "score", "<=", 0.2, false), Parsed("psi(score) vs production <= 0.2"));
        Assert.Equal("user_txn:amount", Parsed("psi( user_txn:amount ) vs production < 1e-1").Subject);
        Assert.Equal(0.1, Parsed("psi( user_txn:amount ) vs production < 1e-1").Number);
        Assert.Equal(-0.5, Parsed("r2 > -0.5").Number);
    }

    [Theory]
    [InlineData("roc_acu >= 0.8", 0, "FS0151", "did you mean 'roc_auc'?")]
    [InlineData("lookup_p99 <= 5", 0, "FS0151", "did you mean 'lookup_p99_ms'?")]
    [InlineData("roc_auc = 0.8", 8, "FS0150", "compare with >=, <=, > or <")]
    [InlineData("roc_auc >= high", 11, "FS0150", null)]
    [InlineData("roc_auc >= production * 2", 22, "FS0150", null)]
    [InlineData("roc_auc >= productionx", 11, "FS0150", null)]
    [InlineData("roc_auc >= 0.8 or so", 15, "FS0150", null)]
    [InlineData("psi score vs production <= 0.2", 4, "FS0150", null)]
    [InlineData("psi(score) <= 0.2", 11, "FS0150", "write psi(score) vs production <= 0.2")]
    [InlineData("lookup_p99_ms <= production", 17, "FS0150", null)]
    [InlineData("", 0, "FS0150", null)]
    [InlineData("roc_auc >= 1e999", 11, "FS0150", null)]
    public void Each_mistake_is_reported_where_it_is(string text, int offset, string code, string? hint)
    {
        var error = Error(text);
        Assert.Equal((offset, code), (error.Offset, error.Code));
        if (hint is not null)
        {
            Assert.Equal(hint, error.Hint);
        }
    }

    [Fact]
    public void A_gate_without_a_value_or_without_a_production_value_fails_and_says_why()
    {
        var relative = Parsed("roc_auc >= production - 0.01");
        Assert.Equal(new GateResult(relative.Text, 0.9, 0.89, true, null), Gates.Evaluate(relative, 0.9, 0.9) with { Bound = Math.Round(Gates.Evaluate(relative, 0.9, 0.9).Bound!.Value, 12) });
        Assert.False(Gates.Evaluate(relative, 0.85, 0.9).Passed);
        var noProduction = Gates.Evaluate(relative, 0.9, null);
        Assert.False(noProduction.Passed);
        Assert.Equal("the production version has no stored roc_auc", noProduction.Detail);
        var noValue = Gates.Evaluate(Parsed("roc_auc >= 0.8"), double.NaN, null, "v2 has no reference");
        Assert.Equal((false, (double?)null, "v2 has no reference"), (noValue.Passed, noValue.Value, noValue.Detail));
    }

    [Fact]
    public void A_written_gate_holds_exactly_when_its_comparison_does() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll(
            Arb.From(Gen.Elements(">=", "<=", ">", "<").SelectMany(op => Gen.Elements(true, false).Select(relative => (op, relative)))),
            Arb.From(Gen.Choose(-1000, 1000)),
            Arb.From(Gen.Choose(-1000, 1000)),
            (form, bound, value) =>
            {
                var (op, relative) = form;
                var number = bound / 100.0;
                var text = relative
                    ? $"rmse {op} production {(number < 0 ? "-" : "+")} {Math.Abs(number).ToString(CultureInfo.InvariantCulture)}"
                    : $"rmse {op} {number.ToString(CultureInfo.InvariantCulture)}";
                var gate = Parsed(text);
                var production = relative ? 1.0 : (double?)null;
                var b = number + (relative ? 1.0 : 0.0);
                var v = value / 100.0;
                var expected = op switch { ">=" => v >= b, "<=" => v <= b, ">" => v > b, _ => v < b };
                Assert.Equal(expected, Gates.Evaluate(gate, v, production).Passed);
            }));

    [Fact]
    public void Any_text_is_a_gate_or_an_error_inside_it_never_an_exception() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000), Prop.ForAll(
            Arb.From(Gen.ArrayOf(Gen.Elements("roc_auc", "psi", "(", ")", "score", " ", "vs", "production", ">=", "<", "=", "+", "-", "1e", "0.5", ".", "lookup_p99_ms", "é", "\t"))
                .Select(parts => string.Concat(parts))),
            text =>
            {
                var gate = Gates.Parse(text, out var error);
                Assert.True((gate is null) != (error is null), text);
                if (error is not null)
                {
                    Assert.InRange(error.Offset, 0, text.Length);
                    Assert.StartsWith("FS015", error.Code, StringComparison.Ordinal);
                }
                else
                {
                    Assert.True(double.IsFinite(gate!.Number), text);
                }
            }));

    private static ModelVersionRecord V(string version, ModelStage stage) => new("fraud", version, ["v:f"], null, null, stage, 0, 0);

    private static StageChange Promoted(string version, long at) => new("fraud", version, "promote", ModelStage.Staging, ModelStage.Production, at, StageChange.Cli, [], false, null, null);

    [Fact]
    public void A_rollback_restores_the_latest_earlier_production_version_still_registered()
    {
        var versions = new[] { V("v1", ModelStage.Archived), V("v2", ModelStage.Archived), V("v3", ModelStage.Production) };
        var changed = ModelStages.Rollback(versions, [Promoted("v1", 1), Promoted("v2", 2), Promoted("v3", 3)], "v3", 99)!;
        Assert.Equal([("v2", ModelStage.Production, 99L), ("v3", ModelStage.Archived, 99L)], changed.Select(r => (r.Version, r.Stage, r.StageChangedAtMs)));

        // v2 unregistered (not in the hash): v1 is next; v3 no longer production, or nothing earlier: no rollback.
        Assert.Equal("v1", ModelStages.Rollback([versions[0], versions[2]], [Promoted("v1", 1), Promoted("v2", 2), Promoted("v3", 3)], "v3", 9)![0].Version);
        Assert.Null(ModelStages.Rollback([V("v2", ModelStage.Production), V("v3", ModelStage.Archived)], [Promoted("v2", 2), Promoted("v3", 3)], "v3", 9));
        Assert.Null(ModelStages.Rollback(versions, [Promoted("v3", 3)], "v3", 9));

        // v1, v2, v3 promoted, v3 rolled back to v2: when v2 degrades too, v1 is restored, never the rolled-back v3.
        var afterRollback = new[] { V("v1", ModelStage.Archived), V("v2", ModelStage.Production), V("v3", ModelStage.Archived) };
        StageChange[] history =
        [
            Promoted("v1", 1), Promoted("v2", 2), Promoted("v3", 3),
            new("fraud", "v3", "rollback", ModelStage.Production, ModelStage.Archived, 4, StageChange.Policy, [], false, "degraded", "v2"),
            new("fraud", "v2", "retrain", ModelStage.Production, ModelStage.Production, 5, StageChange.Policy, [], false, "degraded", null),
        ];
        Assert.Equal(["v1", "v2"], ModelStages.Rollback(afterRollback, history, "v2", 9)!.Select(r => r.Version));
    }
}
