using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Performance;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Parquet.Tables;
using FeatureStore.Redis.Online;

namespace FeatureStore.Monitor.Lifecycle;

/// <summary>What a promotion is measured against besides the stores: the validation file for PSI gates, the probe's size.</summary>
/// <param name="ValidationFile">The candidate's validation file (Parquet or CSV), or null.</param>
/// <param name="ProbeLookups">Reads of the latency probe.</param>
public sealed record GateInputs(string? ValidationFile, int ProbeLookups = GateEvaluator.DefaultProbeLookups);

/// <summary>
/// Measures a model's promotion gates for one candidate version: metric gates read the candidate's stored reference
/// performance (and the production version's for gates relative to production), <c>lookup_p99_ms</c> runs
/// <see cref="LookupProbe"/> over the candidate's feature views, and <c>psi(COLUMN) vs production</c> bins the
/// validation file's column by the production version's baseline. A value that cannot be had fails its gate with
/// the reason; nothing here throws for missing data.
/// </summary>
public sealed class GateEvaluator(PerformanceStore performance, DriftStore drift, string keyPrefix, string project)
{
    /// <summary>Reads of the latency probe when none is asked for.</summary>
    public const int DefaultProbeLookups = 200;

    /// <summary>Each gate's result for <paramref name="candidate"/>, <paramref name="production"/> being the current production version (or null).</summary>
    public async Task<IReadOnlyList<GateResult>> EvaluateAsync(ModelDefinition model, ModelVersionRecord candidate, string? production, GateInputs inputs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(candidate);
        ArgumentNullException.ThrowIfNull(inputs);
        var gates = model.LifecycleOrDefault.Gates;
        var results = new List<GateResult>(gates.Count);
        if (gates.Count == 0)
        {
            return results;
        }

        var own = await performance.LoadReferenceAsync(model.Name, candidate.Version).ConfigureAwait(false);
        var theirs = production is null ? null : await performance.LoadReferenceAsync(model.Name, production).ConfigureAwait(false);
        ProbeResult? probe = null;
        foreach (var gate in gates)
        {
            cancellationToken.ThrowIfCancellationRequested();
            switch (gate.Kind)
            {
                case GateKind.Metric:
                    results.Add(Metric(gate, candidate.Version, own, production, theirs));
                    break;
                case GateKind.LookupLatency:
                    probe ??= await LookupProbe.RunAsync(performance.Database, keyPrefix, project, Views(candidate), inputs.ProbeLookups, cancellationToken).ConfigureAwait(false);
                    results.Add(Gates.Evaluate(gate, probe.P99Ms, null, probe.Missing) with
                    {
                        Detail = probe.Missing ?? $"{probe.Lookups} online store reads of the version's features",
                    });
                    break;
                default:
                    results.Add(await PsiAsync(gate, model.Name, production, inputs.ValidationFile, cancellationToken).ConfigureAwait(false));
                    break;
            }
        }

        return results;
    }

    private static GateResult Metric(PromotionGate gate, string version, Core.Performance.ReferencePerformance? own, string? production, Core.Performance.ReferencePerformance? theirs)
    {
        if (own is null)
        {
            return Gates.Evaluate(gate, null, null, $"{version} has no stored reference performance (`featurestore model reference`)");
        }

        if (!own.Metrics.TryGetValue(gate.Subject, out var value))
        {
            return Gates.Evaluate(gate, null, null, $"{version}'s reference has no {gate.Subject} (it has {string.Join(", ", own.Metrics.Keys)})");
        }

        if (!gate.RelativeToProduction)
        {
            return Gates.Evaluate(gate, value, null);
        }

        var result = Gates.Evaluate(gate, value, theirs?.Metrics.TryGetValue(gate.Subject, out var p) == true ? p : null);
        return result.Bound is not null ? result : result with
        {
            Detail = production is null ? "there is no production version to compare with"
                : theirs is null ? $"the production version {production} has no stored reference performance"
                : $"the production version {production}'s reference has no {gate.Subject}",
        };
    }

    private async Task<GateResult> PsiAsync(PromotionGate gate, string model, string? production, string? validation, CancellationToken cancellationToken)
    {
        if (production is null)
        {
            return Gates.Evaluate(gate, null, null, "there is no production version to compare with");
        }

        if (validation is null)
        {
            return Gates.Evaluate(gate, null, null, $"give the candidate's validation file (--validation FILE) to measure psi({gate.Subject})");
        }

        var baseline = (await drift.LoadBaselineAsync(model, production).ConfigureAwait(false))?.Columns.GetValueOrDefault(gate.Subject);
        if (baseline is null)
        {
            return Gates.Evaluate(gate, null, null, $"the production version {production} has no baseline of {gate.Subject} (`featurestore baseline`)");
        }

        CellTable table;
        try
        {
            table = await TableReader.ReadCellsAsync(validation, [gate.Subject], cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TableFileException or IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            return Gates.Evaluate(gate, null, null, $"{validation}: cannot read: {ex.Message}");
        }

        if (table.Columns.GetValueOrDefault(gate.Subject) is not { } cells)
        {
            return Gates.Evaluate(gate, null, null, $"{validation} has no column '{gate.Subject}' (columns: {string.Join(", ", table.FileColumns)})");
        }

        var window = baseline.NewWindow();
        foreach (var cell in cells)
        {
            switch (window)
            {
                case NumericWindow numeric when ReferenceComputer.Number(cell) is { } number:
                    numeric.Add(number);
                    break;
                case CategoricalWindow categorical when cell is not null:
                    categorical.Add(Convert.ToString(cell, System.Globalization.CultureInfo.InvariantCulture) ?? "");
                    break;
            }
        }

        var psi = window.Count == 0 ? null : window.Evaluate(DriftMethod.Psi, DriftDefaults.Threshold(DriftMethod.Psi));
        return psi is null
            ? Gates.Evaluate(gate, null, null, $"{validation} has no usable value in '{gate.Subject}'")
            : Gates.Evaluate(gate, psi.Value, null) with { Detail = $"{window.Count} validation values against {production}'s baseline bins" };
    }

    private static HashSet<string> Views(ModelVersionRecord candidate) =>
        [.. candidate.Features.Select(f => f.IndexOf(':', StringComparison.Ordinal) is var colon and >= 0 ? f[..colon] : f)];
}
