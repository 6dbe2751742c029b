using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Quality;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Internal;
using FeatureStore.Monitor.Job;
using FeatureStore.Redis.Quality;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Quality;

/// <summary>
/// The freshness and quality incidents, in <c>PREFIX:{PROJECT}:quality:incidents</c> by <see cref="QualityCheck.Key"/>.
/// As for drift: an incident opens on the first evaluation that breaches its check and raises one <c>freshness</c> or
/// <c>quality</c> alert (unless the webhook's cooldown since the key's previous alert has not passed), and resolves on
/// the first evaluation back within it, raising <c>resolved</c> when its alert went out; insufficient data leaves it as
/// it is. Only transitions are written. Changes are computed aside (<see cref="Observe"/>), written in one transaction conditioned on each touched
/// incident being what this process read (<see cref="Save"/>), and kept once it committed (<see cref="Commit"/>), so
/// several evaluators never raise one incident twice.
/// </summary>
internal sealed class QualityIncidents(FeatureRepository repository, QualityKeys keys, MonitorOptions options)
{
    private readonly Dictionary<string, Incident> _incidents = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _stored = new(StringComparer.Ordinal);

    /// <summary>The incidents as last read or committed, by key.</summary>
    public IReadOnlyDictionary<string, Incident> Current => _incidents;

    /// <summary>Reads the incidents the store holds (again).</summary>
    public async Task LoadAsync(IDatabase database)
    {
        _incidents.Clear();
        _stored.Clear();
        foreach (var entry in await database.HashGetAllAsync(keys.Incidents).ConfigureAwait(false))
        {
            _stored[entry.Name.ToString()] = entry.Value.ToString();
            _incidents[entry.Name.ToString()] = JsonSerializer.Deserialize<Incident>(_stored[entry.Name.ToString()], DriftJson.Options)!;
        }
    }

    /// <summary>Opens or resolves the incident of each check into <paramref name="changes"/>, adding the alerts that raises.</summary>
    public void Observe(IEnumerable<QualityCheck> checks, long nowMs, Dictionary<string, Incident> changes, List<DriftAlert> alerts)
    {
        foreach (var check in checks)
        {
            if (check.Verdict == QualityVerdict.InsufficientData || check.Value is not { } value)
            {
                continue;
            }

            var key = check.Key;
            var alert = check.View is not null ? repository.FindView(check.View)?.Alert : repository.FindSource(check.Source!)?.Alert;
            var webhook = alert is null ? null : repository.Webhooks.FirstOrDefault(w => w.Name == alert);
            var incident = _incidents.GetValueOrDefault(key)?.Clone() ?? new Incident();
            var breach = check.Verdict == QualityVerdict.Breach;
            if (breach && !incident.Open)
            {
                incident.Open = true;
                incident.OpenedMs = nowMs;
                incident.ResolvedMs = null;
                incident.Id = $"{key}:{nowMs}";
                incident.Alerted = webhook is not null && nowMs - incident.LastAlertMs >= webhook.CooldownMs;
                if (incident.Alerted)
                {
                    incident.LastAlertMs = nowMs;
                    alerts.Add(Alert(check.Kind == QualityRules.Freshness ? AlertStatus.Freshness : AlertStatus.Quality, incident, check, value, webhook!.Name, nowMs));
                }
            }
            else if (!breach && incident.Open)
            {
                incident.Open = false;
                incident.ResolvedMs = nowMs;
                if (incident.Alerted && webhook is not null)
                {
                    alerts.Add(Alert(AlertStatus.Resolved, incident, check, value, webhook.Name, nowMs));
                }
            }
            else
            {
                continue; // no transition: nothing to write (the evaluation's report holds the latest values)
            }

            incident.Value = value;
            incident.Threshold = check.Threshold;
            changes[key] = incident;
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


    private DriftAlert Alert(AlertStatus status, Incident incident, QualityCheck check, double value, string webhook, long nowMs) => new(
        $"{incident.Id}:{(status == AlertStatus.Resolved ? "resolved" : check.Kind)}",
        status,
        "",
        "",
        check.Feature ?? check.Reason ?? "",
        check.Metric,
        value,
        check.Threshold,
        Rfc3339.Format(nowMs - check.WindowMs),
        Rfc3339.Format(nowMs),
        "",
        options.QualityUrl,
        webhook,
        nowMs,
        null,
        Kind: check.Kind,
        View: check.View,
        Source: check.Source,
        Feature: check.Feature,
        Reason: check.Reason,
        Metric: check.Metric,
        WindowMs: check.WindowMs);
}
