using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Internal;
using FeatureStore.Monitor.Job;
using FeatureStore.Redis.Drift;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Performance;

/// <summary>
/// The performance monitor's incidents, in the drift incidents' hash (<c>PREFIX:{PROJECT}:drift:incidents</c>) under
/// drift's key shape with the metric as the column and the kind as the method: <c>MODEL:VERSION:METRIC:KIND</c> for
/// the whole model, <c>MODEL:VERSION:METRIC:KIND#SEGMENT</c> for a segment (KIND <c>realized</c> or
/// <c>estimated</c>, never a drift method), one per (model, version, segment, metric, kind). As for drift: an incident
/// opens on the first window that breaks the metric's threshold and raises one <c>performance</c> alert (unless the
/// webhook's cooldown since the incident key's previous alert has not passed), and resolves on the first window
/// back within it, raising <c>resolved</c> when its alert went out. A window with insufficient data, or whose metric
/// is undefined, leaves an incident as it is.
/// <para>
/// Changes are computed aside (<see cref="Observe"/>) and kept only once the window's transaction committed
/// (<see cref="Commit"/>); that transaction is conditioned on each touched incident being what this member read,
/// so two members evaluating windows of one model never overwrite each other's incidents.
/// </para>
/// </summary>
internal sealed class PerformanceIncidents(FeatureRepository repository, DriftKeys keys, MonitorOptions options)
{
    private readonly Dictionary<string, Incident> _incidents = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _stored = new(StringComparer.Ordinal);

    /// <summary>Reads the performance incidents the store holds (again).</summary>
    public async Task LoadAsync(IDatabase database)
    {
        _incidents.Clear();
        _stored.Clear();
        foreach (var entry in await database.HashGetAllAsync(keys.Incidents).ConfigureAwait(false))
        {
            var key = entry.Name.ToString();
            var hash = key.IndexOf('#', StringComparison.Ordinal);
            var incident = hash < 0 ? key : key[..hash];
            if (incident.EndsWith(":realized", StringComparison.Ordinal) || incident.EndsWith(":estimated", StringComparison.Ordinal))
            {
                _stored[key] = entry.Value.ToString();
                _incidents[key] = JsonSerializer.Deserialize<Incident>(_stored[key], DriftJson.Options)!;
            }
        }
    }

    /// <summary>The incident key of a series' metric.</summary>
    public static string Key(string model, string version, string? segment, string metric, string kind) =>
        $"{model}:{version}:{metric}:{kind}" + (segment is null ? "" : "#" + segment);

    /// <summary>
    /// Opens or resolves the incidents of <paramref name="evaluation"/>'s thresholds into <paramref name="changes"/>
    /// (starting from earlier changes of the same batch), adding the alerts that raises.
    /// </summary>
    public void Observe(PerformanceEvaluation evaluation, PerformanceMonitorDefinition monitor, Dictionary<string, Incident> changes, List<DriftAlert> alerts)
    {
        if (evaluation.Verdict == PerformanceVerdict.InsufficientData)
        {
            return;
        }

        var webhook = monitor.Alert is null ? null : repository.Webhooks.FirstOrDefault(w => w.Name == monitor.Alert);
        var now = options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var threshold in monitor.Thresholds)
        {
            foreach (var kind in (string[])["realized", "estimated"])
            {
                double value;
                if (kind == "realized")
                {
                    value = evaluation.Realized.GetValueOrDefault(threshold.Metric, double.NaN);
                }
                else if (evaluation.Estimated?.TryGetValue(threshold.Metric, out var estimated) == true)
                {
                    value = estimated.Value;
                }
                else
                {
                    continue;
                }

                if (double.IsNaN(value))
                {
                    continue; // undefined on this window: says nothing either way
                }

                var key = Key(evaluation.Model, evaluation.Version, evaluation.Segment, threshold.Metric, kind);
                var incident = (changes.GetValueOrDefault(key) ?? _incidents.GetValueOrDefault(key))?.Clone() ?? new Incident { Segment = evaluation.Segment };
                var breach = evaluation.Breaches.FirstOrDefault(b => b.Metric == threshold.Metric && b.Kind == kind);
                incident.Value = value;
                if (breach is not null && !incident.Open)
                {
                    incident.Open = true;
                    incident.OpenedMs = evaluation.WindowStartMs;
                    incident.ResolvedMs = null;
                    incident.Threshold = breach.Bound;
                    incident.Id = $"{key}:{evaluation.WindowStartMs}";
                    incident.Windows = 1;
                    incident.Acted = false;
                    incident.Alerted = webhook is not null && now - incident.LastAlertMs >= webhook.CooldownMs;
                    if (incident.Alerted)
                    {
                        incident.LastAlertMs = now;
                        alerts.Add(Alert(AlertStatus.Performance, incident, evaluation, threshold.Metric, kind, value, webhook!.Name, now));
                    }
                }
                else if (breach is not null)
                {
                    incident.Windows++;
                }
                else if (incident.Open)
                {
                    incident.Open = false;
                    incident.Windows = 0;
                    incident.ResolvedMs = evaluation.WindowEndMs;
                    if (incident.Alerted && webhook is not null)
                    {
                        alerts.Add(Alert(AlertStatus.Resolved, incident, evaluation, threshold.Metric, kind, value, webhook.Name, now));
                    }
                }

                changes[key] = incident;
            }
        }
    }

    /// <summary>Queues on <paramref name="transaction"/> the conditions that the changed incidents are as read, and their writes.</summary>
    public void Save(ITransaction transaction, Dictionary<string, Incident> changes)
    {
        foreach (var (key, incident) in changes)
        {
            transaction.AddCondition(_stored.TryGetValue(key, out var json)
                ? Condition.HashEqual(keys.Incidents, key, json)
                : Condition.HashNotExists(keys.Incidents, key));
            _ = transaction.HashSetAsync(keys.Incidents, key, JsonSerializer.Serialize(incident, DriftJson.Options));
        }
    }

    /// <summary>Keeps <paramref name="changes"/>: their transaction committed.</summary>
    public void Commit(Dictionary<string, Incident> changes)
    {
        foreach (var (key, incident) in changes)
        {
            _incidents[key] = incident;
            _stored[key] = JsonSerializer.Serialize(incident, DriftJson.Options);
        }
    }


    private DriftAlert Alert(AlertStatus status, Incident incident, PerformanceEvaluation e, string metric, string kind, double value, string webhook, long now) => new(
        $"{incident.Id}:{(status == AlertStatus.Resolved ? "resolved" : "performance")}",
        status,
        e.Model,
        e.Version,
        metric,
        kind,
        value,
        incident.Threshold,
        Rfc3339.Format(e.WindowStartMs),
        Rfc3339.Format(e.WindowEndMs),
        "",
        $"{options.HistoryUrl}?model={Uri.EscapeDataString(e.Model)}&version={Uri.EscapeDataString(e.Version)}&column={Uri.EscapeDataString(metric)}",
        webhook,
        now,
        e.Segment);
}
