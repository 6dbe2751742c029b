using System.Globalization;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Lifecycle;
using FeatureStore.Monitor.Performance;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Redis.Drift;
using FeatureStore.Testing;

namespace FeatureStore.Monitor.Tests;

/// <summary>
/// The PSI and latency promotion gates measured against a real redis-server: the candidate's validation scores binned by
/// the production baseline's bins, the online store probed for the version's views; each missing input a failed gate
/// that says why.
/// </summary>
[Trait("Category", "Integration")]
public sealed class GateEvaluatorTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fs-gates-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Delete(recursive: true);

    private static ModelDefinition Gated(FeatureRepository repository, params string[] gates) =>
        MonitorScenario.Model(repository) with { Lifecycle = new ModelLifecycle([.. gates.Select(g => Gates.Parse(g, out _)!)], DegradationAction.Alert, 3) };

    private static ModelVersionRecord Candidate => new("scorer", "v2", ["user_txn:amount"], null, null, ModelStage.Staging, 0, 0);

    private async Task<string> ValidationAsync(string name, double mean)
    {
        var path = Path.Combine(_dir.FullName, name);
        var lines = MonitorScenario.Scores(seed: 7, count: 2000, mean: mean).Select(s => s.ToString("R", CultureInfo.InvariantCulture));
        await File.WriteAllLinesAsync(path, ["score", .. lines], Ct);
        return path;
    }

    private (GateEvaluator Evaluator, FeatureRepository Repository, string Prefix) Create()
    {
        var repository = MonitorScenario.Repository("gates", "http://127.0.0.1:9/unused", MonitorScenario.SecretEnv);
        var prefix = "g" + Guid.NewGuid().ToString("N")[..8];
        var db = redis.Connection.Database;
        var evaluator = new GateEvaluator(new PerformanceStore(db, new DriftKeys(prefix, repository.Project)), new DriftStore(db, prefix, repository.Project), prefix, repository.Project);
        return (evaluator, repository, prefix);
    }

    [Fact]
    public async Task Psi_bins_the_validation_scores_by_the_production_baseline()
    {
        var (evaluator, repository, prefix) = Create();
        await new DriftStore(redis.Connection.Database, prefix, repository.Project).SaveBaselineAsync(MonitorScenario.Baseline(repository));
        var model = Gated(repository, "psi(score) vs production <= 0.2");

        var same = (await evaluator.EvaluateAsync(model, Candidate, "v1", new GateInputs(await ValidationAsync("same.csv", 0.3)), Ct)).Single();
        Assert.True(same.Passed, same.Detail);
        Assert.InRange(same.Value!.Value, 0, 0.05);
        Assert.Equal("2000 validation values against v1's baseline bins", same.Detail);

        var shifted = (await evaluator.EvaluateAsync(model, Candidate, "v1", new GateInputs(await ValidationAsync("shifted.csv", 0.6)), Ct)).Single();
        Assert.False(shifted.Passed);
        Assert.True(shifted.Value > 1, $"PSI {shifted.Value}");

        var noFile = (await evaluator.EvaluateAsync(model, Candidate, "v1", new GateInputs(null), Ct)).Single();
        Assert.Equal((false, "give the candidate's validation file (--validation FILE) to measure psi(score)"), (noFile.Passed, noFile.Detail));
        var noProduction = (await evaluator.EvaluateAsync(model, Candidate, null, new GateInputs(await ValidationAsync("x.csv", 0.3)), Ct)).Single();
        Assert.Equal((false, "there is no production version to compare with"), (noProduction.Passed, noProduction.Detail));
        var noBaseline = (await evaluator.EvaluateAsync(model, Candidate, "v0", new GateInputs(await ValidationAsync("y.csv", 0.3)), Ct)).Single();
        Assert.Equal((false, "the production version v0 has no baseline of score (`featurestore baseline`)"), (noBaseline.Passed, noBaseline.Detail));
        var other = Path.Combine(_dir.FullName, "other.csv");
        await File.WriteAllLinesAsync(other, ["prob", "0.5"], Ct);
        var noColumn = (await evaluator.EvaluateAsync(model, Candidate, "v1", new GateInputs(other), Ct)).Single();
        Assert.False(noColumn.Passed);
        Assert.Contains("has no column 'score' (columns: prob)", noColumn.Detail, StringComparison.Ordinal);
        var missing = (await evaluator.EvaluateAsync(model, Candidate, "v1", new GateInputs(Path.Combine(_dir.FullName, "none.csv")), Ct)).Single();
        Assert.False(missing.Passed);
        Assert.Contains("cannot read", missing.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_latency_gate_probes_stored_entities_of_the_versions_views()
    {
        var (evaluator, repository, prefix) = Create();
        var model = Gated(repository, "lookup_p99_ms <= 1000", "lookup_p99_ms < 0");

        var empty = await evaluator.EvaluateAsync(model, Candidate, null, new GateInputs(null), Ct);
        Assert.All(empty, g => Assert.Equal((false, "no entity of view 'user_txn' is in the online store to look up"), (g.Passed, g.Detail)));

        var db = redis.Connection.Database;
        for (var i = 0; i < 30; i++)
        {
            await db.HashSetAsync($"{prefix}:{repository.Project}:fv:user_txn:abc123:u{i}", "txns:0", new byte[64]);
        }

        var results = await evaluator.EvaluateAsync(model, Candidate, null, new GateInputs(null, ProbeLookups: 50), Ct);
        Assert.True(results[0].Passed, results[0].Detail);
        Assert.InRange(results[0].Value!.Value, double.Epsilon, 1000);
        Assert.Equal("50 online store reads of the version's features", results[0].Detail);
        Assert.False(results[1].Passed); // one probe, both gates
        Assert.Equal(results[0].Value, results[1].Value);
    }

    [Fact]
    public async Task Metric_gates_read_the_stored_references_and_say_what_is_missing()
    {
        var (evaluator, repository, prefix) = Create();
        var store = new PerformanceStore(redis.Connection.Database, new DriftKeys(prefix, repository.Project));
        var model = Gated(repository, "roc_auc >= 0.8", "roc_auc >= production - 0.01", "rmse <= 3");
        var none = await evaluator.EvaluateAsync(model, Candidate, "v1", new GateInputs(null), Ct);
        Assert.All(none, g => Assert.Equal("v2 has no stored reference performance (`featurestore model reference`)", g.Detail));

        await store.SaveReferenceAsync(new Core.Performance.ReferencePerformance("scorer", "v2", PerformanceTask.BinaryClassification,
            new Dictionary<string, double> { ["roc_auc"] = 0.84 }, null, "m.json", null));
        var results = await evaluator.EvaluateAsync(model, Candidate, "v1", new GateInputs(null), Ct);
        Assert.Equal([true, false, false], results.Select(r => r.Passed));
        Assert.Equal("the production version v1 has no stored reference performance", results[1].Detail);
        Assert.Equal("v2's reference has no rmse (it has roc_auc)", results[2].Detail);

        await store.SaveReferenceAsync(new Core.Performance.ReferencePerformance("scorer", "v1", PerformanceTask.BinaryClassification,
            new Dictionary<string, double> { ["roc_auc"] = 0.845 }, null, "m.json", null));
        var relative = (await evaluator.EvaluateAsync(model, Candidate, "v1", new GateInputs(null), Ct))[1];
        Assert.Equal((true, 0.84, 0.835), (relative.Passed, relative.Value!.Value, Math.Round(relative.Bound!.Value, 9)));
    }
}
