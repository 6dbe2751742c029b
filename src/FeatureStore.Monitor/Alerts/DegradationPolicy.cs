using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Performance;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Alerts;

/// <summary>What the policy does for one persistent degradation: planned aside, written with the window that made it persistent.</summary>
/// <param name="Model">The model.</param>
/// <param name="Version">The degraded production version.</param>
/// <param name="Action">Retrain or rollback.</param>
/// <param name="Evidence">The incident that persisted, in words: recorded in the model's history.</param>
/// <param name="Rollback">The registry change of a rollback, or null (a retrain, or no earlier production version to restore).</param>
/// <param name="Alert">The signed <c>rollback</c> or <c>retrain</c> event, or null when no webhook is there to send it to.</param>
internal sealed record DegradationStep(string Model, string Version, DegradationAction Action, string Evidence, PlannedRollback? Rollback, DriftAlert? Alert);

/// <summary>
/// The degradation policy (<c>on_degradation:</c>): when a whole-model performance incident (realized or estimated)
/// of the production version has stayed open for <c>degradation_windows</c> consecutive windows, <c>rollback</c>
/// archives the version and makes the previous production version production again, and <c>retrain</c> sends the
/// retraining webhook the evidence; both send a signed event and are recorded in the model's stage history. It acts
/// once per incident: the incidents it acted on are marked, in the same transaction as the window, the registry
/// change (conditioned on the registry being as read, so two members never both roll back), the history entry and
/// the event in the outbox (delivered once).
/// </summary>
internal sealed class DegradationPolicy(FeatureRepository repository, ModelRegistryStore registry, ModelStageCache stages, MonitorOptions options, ILogger logger)
{
    /// <summary>
    /// The step the window's <paramref name="changes"/> call for, if any; the incidents it acts on are marked in
    /// <paramref name="changes"/> (kept only if the window's transaction commits).
    /// </summary>
    public async Task<DegradationStep?> PlanAsync(ModelDefinition model, PerformanceMonitorDefinition monitor, PerformanceEvaluation whole, Dictionary<string, Incident> changes)
    {
        var lifecycle = model.LifecycleOrDefault;
        if (lifecycle.OnDegradation == DegradationAction.Alert || whole.Segment is not null || stages.Production(model.Name) != whole.Version)
        {
            return null;
        }

        var persistent = monitor.Thresholds
            .SelectMany(t => new[] { (t.Metric, Kind: "realized"), (t.Metric, Kind: "estimated") })
            .Select(s => (s.Metric, s.Kind, Incident: changes.GetValueOrDefault(PerformanceIncidents.Key(model.Name, whole.Version, null, s.Metric, s.Kind))))
            .Where(s => s.Incident is { Open: true, Acted: false } i && i.Windows >= lifecycle.DegradationWindows)
            .ToList();
        if (persistent.Count == 0)
        {
            return null;
        }

        foreach (var (_, _, incident) in persistent)
        {
            incident!.Acted = true;
        }

        var (metric, kind, first) = persistent[0];
        var evidence = $"{metric} {kind} {Gates.Format(first!.Value)} broke {Gates.Format(first.Threshold)} in {first.Windows} consecutive windows "
            + $"from {Rfc3339.Format(first.OpenedMs)} to {Rfc3339.Format(whole.WindowEndMs)} (incident {first.Id})";
        PlannedRollback? rollback = null;
        if (lifecycle.OnDegradation == DegradationAction.Rollback)
        {
            rollback = await registry.PlanRollbackAsync(model.Name, whole.Version).ConfigureAwait(false);
            if (rollback is null)
            {
                MonitorLog.NothingToRestore(logger, model.Name, whole.Version, evidence);
                return new DegradationStep(model.Name, whole.Version, lifecycle.OnDegradation, evidence, null, null);
            }
        }

        var webhook = lifecycle.OnDegradation == DegradationAction.Rollback ? monitor.Alert ?? options.RetrainWebhook : options.RetrainWebhook ?? monitor.Alert;
        var alert = webhook is null || repository.Webhooks.All(w => w.Name != webhook) ? null : new DriftAlert(
            $"{ModelLifecycle.Name(lifecycle.OnDegradation)}:{first.Id}",
            lifecycle.OnDegradation == DegradationAction.Rollback ? AlertStatus.Rollback : AlertStatus.Retrain,
            model.Name,
            whole.Version,
            metric,
            kind,
            first.Value,
            first.Threshold,
            Rfc3339.Format(first.OpenedMs),
            Rfc3339.Format(whole.WindowEndMs),
            "",
            $"{options.HistoryUrl}?model={Uri.EscapeDataString(model.Name)}&version={Uri.EscapeDataString(whole.Version)}&column={Uri.EscapeDataString(metric)}",
            webhook,
            options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds(),
            Restored: rollback?.Restored);
        return new DegradationStep(model.Name, whole.Version, lifecycle.OnDegradation, evidence, rollback, alert);
    }

    /// <summary>Queues <paramref name="step"/>'s writes on the window's <paramref name="transaction"/>.</summary>
    public void Queue(ITransaction transaction, DegradationStep step, AlertOutbox outbox, long nowMs)
    {
        if (step.Rollback is { } rollback)
        {
            registry.QueueRollback(transaction, rollback, step.Evidence);
        }
        else if (step.Action == DegradationAction.Retrain)
        {
            registry.QueueRetrainRecord(transaction, step.Model, step.Version, step.Evidence);
        }

        if (step.Alert is { } alert)
        {
            outbox.Enqueue(transaction, alert, nowMs);
        }
    }

    /// <summary>After the window's transaction committed: announces a rollback, so monitors and servers follow at once.</summary>
    public async Task CommittedAsync(DegradationStep step)
    {
        if (step.Rollback is { } rollback)
        {
            MonitorLog.DegradationRollback(logger, step.Model, step.Version, rollback.Restored, step.Evidence);
            await registry.AnnounceAsync(rollback).ConfigureAwait(false);
            await stages.RefreshAsync().ConfigureAwait(false);
        }
        else if (step.Action == DegradationAction.Retrain)
        {
            MonitorLog.DegradationRetrain(logger, step.Model, step.Version, step.Alert?.Webhook ?? "(none)", step.Evidence);
        }
    }
}
