using FeatureStore.Core.Drift;
using FeatureStore.Core.Events;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Job;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Monitor.Alerts;

/// <summary>
/// The retraining trigger: one request per persistent incident of a model version (<see cref="RetrainTracker"/>),
/// raised as a <c>retrain</c> alert through the same durable outbox, signed like the drift alerts. Its id is
/// retrain:MODEL:VERSION:FIRST_WINDOW_START, so the outbox keeps one copy whatever happens.
/// </summary>
internal sealed class RetrainTrigger(MonitorOptions options, ILogger logger)
{
    /// <summary>The runs of drifted windows per model version.</summary>
    public RetrainTracker Tracker { get; } = new(options.RetrainAfterWindows);

    /// <summary>Counts <paramref name="evaluation"/> towards its version's run, adding a retrain alert when the run is long enough.</summary>
    public void Observe(DriftEvaluation evaluation, List<DriftAlert> alerts)
    {
        // A window with insufficient data says nothing either way: it neither extends nor breaks a run of drifted windows.
        // A segment's window is a part of the column's: the whole column's windows alone make the runs.
        if (evaluation.Verdict == DriftVerdict.InsufficientData || evaluation.Segment is not null)
        {
            return;
        }

        if (Tracker.Observe(evaluation.Model, evaluation.Version, evaluation.Column, evaluation.WindowStartMs, evaluation.WindowEndMs, evaluation.Drifted) is not { } request)
        {
            return;
        }

        MonitorLog.RetrainRequested(logger, request.Model, request.Version, request.Column, request.Windows, options.RetrainWebhook ?? "(none)");
        if (options.RetrainWebhook is not { } webhook)
        {
            return;
        }

        alerts.Add(new DriftAlert(
            "retrain:" + request.IncidentId,
            AlertStatus.Retrain,
            request.Model,
            request.Version,
            request.Column,
            "retrain",
            request.Windows,
            options.RetrainAfterWindows,
            Rfc3339.Format(request.FirstWindowStartMs),
            Rfc3339.Format(request.LastWindowEndMs),
            evaluation.BaselineId,
            $"{options.HistoryUrl}?model={Uri.EscapeDataString(request.Model)}&version={Uri.EscapeDataString(request.Version)}",
            webhook,
            options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds()));
    }

    /// <summary>The states of the versions <paramref name="closed"/> touched, to persist with them.</summary>
    public IEnumerable<(string Model, string Version, RetrainState State)> Touched(List<DriftEvaluation> closed) =>
        closed.Select(e => (e.Model, e.Version)).Distinct()
            .Where(Tracker.States.ContainsKey)
            .Select(k => (k.Model, k.Version, Tracker.States[k]));
}
