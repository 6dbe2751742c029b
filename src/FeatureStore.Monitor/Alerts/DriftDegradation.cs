using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Core.Events;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Internal;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Alerts;

/// <summary>
/// The degradation policy for a model with no performance monitor: drift of one of its columns in
/// <c>degradation_windows</c> consecutive whole-column windows of the production version is the persistent
/// degradation (<see cref="RetrainTracker"/>'s rule: once per incident, which closes when every column is back).
/// After the windows are persisted, the runs (<c>PREFIX:{PROJECT}:drift:degradation</c>) and what the policy does
/// (the rollback conditioned on the registry being as read, the history entry, the signed event in the outbox) are
/// written in one transaction. A kill between the two transactions loses the runs' last step: the action then waits
/// for one more drifted window.
/// </summary>
internal sealed class DriftDegradation(FeatureRepository repository, IDatabase database, DriftKeys keys, AlertOutbox outbox, ModelRegistryStore registry, ModelStageCache stages, MonitorOptions options, ILogger logger)
{
    private readonly Dictionary<string, RetrainTracker> _trackers = repository.Models
        .Where(m => m.PerformanceMonitors.Count == 0 && m.LifecycleOrDefault.OnDegradation != DegradationAction.Alert)
        .ToDictionary(m => m.Name, m => new RetrainTracker(m.LifecycleOrDefault.DegradationWindows), StringComparer.Ordinal);

    /// <summary>Reads the runs saved by earlier runs.</summary>
    public async Task LoadAsync()
    {
        foreach (var entry in await database.HashGetAllAsync(keys.Degradation).ConfigureAwait(false))
        {
            var name = entry.Name.ToString();
            var colon = name.LastIndexOf(':');
            if (colon > 0 && _trackers.TryGetValue(name[..colon], out var tracker)
                && JsonSerializer.Deserialize<RetrainState>(entry.Value.ToString(), DriftJson.Options) is { } state)
            {
                tracker.Restore(name[..colon], name[(colon + 1)..], state);
            }
        }
    }

    /// <summary>Counts the persisted windows <paramref name="closed"/> towards the runs and acts on the runs that became persistent.</summary>
    public async Task ApplyAsync(IReadOnlyList<DriftEvaluation> closed)
    {
        if (_trackers.Count == 0)
        {
            return;
        }

        var requests = new List<RetrainRequest>();
        var touched = new HashSet<(string Model, string Version)>();
        foreach (var e in closed)
        {
            if (e.Segment is not null || e.Verdict == DriftVerdict.InsufficientData || !_trackers.TryGetValue(e.Model, out var tracker))
            {
                continue;
            }

            touched.Add((e.Model, e.Version));
            if (tracker.Observe(e.Model, e.Version, e.Column, e.WindowStartMs, e.WindowEndMs, e.Drifted) is { } request && stages.Production(e.Model) == e.Version)
            {
                requests.Add(request);
            }
        }

        if (touched.Count == 0)
        {
            return;
        }

        try
        {
            await WriteAsync(requests, touched).ConfigureAwait(false);
        }
        catch (RedisException ex)
        {
            // The runs stay in memory and are saved with the next windows; an action waits for the next drifted window.
            MonitorLog.StoreError(logger, ex);
        }
    }

    private async Task WriteAsync(List<RetrainRequest> requests, HashSet<(string Model, string Version)> touched)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var logs = new List<Action>();
            var transaction = database.CreateTransaction();
            _ = transaction.HashSetAsync(keys.Degradation, [.. touched.Select(k => new HashEntry($"{k.Model}:{k.Version}", JsonSerializer.Serialize(_trackers[k.Model].States[k], DriftJson.Options)))]);
            var rollbacks = new List<PlannedRollback>();
            foreach (var request in requests)
            {
                var model = repository.FindModel(request.Model)!;
                var action = model.LifecycleOrDefault.OnDegradation;
                var evidence = $"{request.Column} drifted in {request.Windows} consecutive windows from {Rfc3339.Format(request.FirstWindowStartMs)} to {Rfc3339.Format(request.LastWindowEndMs)} (incident {request.IncidentId})";
                PlannedRollback? rollback = null;
                if (action == DegradationAction.Rollback)
                {
                    rollback = await registry.PlanRollbackAsync(request.Model, request.Version).ConfigureAwait(false);
                    if (rollback is null)
                    {
                        logs.Add(() => MonitorLog.NothingToRestore(logger, request.Model, request.Version, evidence));
                        continue;
                    }

                    registry.QueueRollback(transaction, rollback, evidence);
                    rollbacks.Add(rollback);
                }
                else
                {
                    registry.QueueRetrainRecord(transaction, request.Model, request.Version, evidence);
                }

                var alert = model.Monitors.FirstOrDefault(m => m.Column == request.Column)?.Alert;
                var webhook = action == DegradationAction.Rollback ? alert ?? options.RetrainWebhook : options.RetrainWebhook ?? alert;
                if (webhook is not null && repository.Webhooks.Any(w => w.Name == webhook))
                {
                    var now = options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
                    outbox.Enqueue(transaction, new DriftAlert(
                        $"{ModelLifecycle.Name(action)}:{request.IncidentId}",
                        action == DegradationAction.Rollback ? AlertStatus.Rollback : AlertStatus.Retrain,
                        request.Model,
                        request.Version,
                        request.Column,
                        "drift",
                        request.Windows,
                        model.LifecycleOrDefault.DegradationWindows,
                        Rfc3339.Format(request.FirstWindowStartMs),
                        Rfc3339.Format(request.LastWindowEndMs),
                        "",
                        $"{options.HistoryUrl}?model={Uri.EscapeDataString(request.Model)}&version={Uri.EscapeDataString(request.Version)}",
                        webhook,
                        now,
                        Restored: rollback?.Restored), now);
                }

                logs.Add(rollback is not null
                    ? () => MonitorLog.DegradationRollback(logger, request.Model, request.Version, rollback.Restored, evidence)
                    : () => MonitorLog.DegradationRetrain(logger, request.Model, request.Version, webhook ?? "(none)", evidence));
            }

            if (await transaction.ExecuteAsync().ConfigureAwait(false))
            {
                logs.ForEach(log => log());
                foreach (var rollback in rollbacks)
                {
                    await registry.AnnounceAsync(rollback).ConfigureAwait(false);
                }

                if (rollbacks.Count > 0)
                {
                    await stages.RefreshAsync().ConfigureAwait(false);
                }

                return;
            }

            // The registry changed between the plan and the write: plan again against what it holds now.
        }
    }
}
