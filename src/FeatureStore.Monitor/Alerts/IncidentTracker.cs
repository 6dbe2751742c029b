using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Core.Events;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Job;

namespace FeatureStore.Monitor.Alerts;

/// <summary>
/// Incidents and the alerts they raise. One incident per (model, version, column, method, segment): it opens on the
/// first drifted window and raises one <c>drift</c> alert (unless the webhook's cooldown since the previous
/// alert of that key has not passed: then the incident is tracked silently), and resolves on the first window
/// back under the threshold, raising <c>resolved</c> when its <c>drift</c> alert went out. Incidents live in the
/// online store (hash PREFIX:{PROJECT}:drift:incidents), so a restart neither repeats nor forgets them. The key is
/// <c>MODEL:VERSION:COLUMN:METHOD</c> for the whole column (as before segments, so older incidents load) and
/// <c>MODEL:VERSION:COLUMN:METHOD#SEGMENT</c> for a segment's windows; the incident's JSON names its segment too.
/// </summary>
internal sealed class IncidentTracker(FeatureRepository repository, MonitorOptions options)
{
    private Dictionary<string, Incident> _incidents = new(StringComparer.Ordinal);

    /// <summary>Starts from the incidents a previous run persisted.</summary>
    public void Restore(Dictionary<string, Incident> incidents) => _incidents = incidents;

    /// <summary>Opens or resolves the incidents of <paramref name="evaluation"/>'s methods, adding the alerts that raises.</summary>
    public void Observe(DriftEvaluation evaluation, List<DriftAlert> alerts)
    {
        var model = repository.FindModel(evaluation.Model)!;
        var monitor = model.Monitors.First(m => m.Column == evaluation.Column);
        var webhook = monitor.Alert is null ? null : repository.Webhooks.FirstOrDefault(w => w.Name == monitor.Alert);
        var now = options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var result in evaluation.Results)
        {
            var key = Key(evaluation, result);
            var incident = _incidents.GetValueOrDefault(key) ?? new Incident { Segment = evaluation.Segment };
            incident.Value = result.Value;
            incident.Threshold = result.Threshold;
            if (result.Drifted && !incident.Open)
            {
                incident.Open = true;
                incident.OpenedMs = evaluation.WindowStartMs;
                incident.ResolvedMs = null;
                incident.Id = $"{key}:{evaluation.WindowStartMs}";
                incident.Alerted = webhook is not null && now - incident.LastAlertMs >= webhook.CooldownMs;
                if (incident.Alerted)
                {
                    incident.LastAlertMs = now;
                    alerts.Add(Alert(AlertStatus.Drift, incident.Id, evaluation, result, webhook!.Name, now));
                }
            }
            else if (!result.Drifted && incident.Open)
            {
                incident.Open = false;
                incident.ResolvedMs = evaluation.WindowEndMs;
                if (incident.Alerted && webhook is not null)
                {
                    alerts.Add(Alert(AlertStatus.Resolved, incident.Id, evaluation, result, webhook.Name, now));
                }
            }

            _incidents[key] = incident;
        }
    }

    /// <summary>The incidents <paramref name="closed"/> touched, to persist with them.</summary>
    public IEnumerable<KeyValuePair<string, Incident>> Touched(List<DriftEvaluation> closed) =>
        closed.SelectMany(e => e.Results.Select(r => Key(e, r))).Distinct().Select(k => KeyValuePair.Create(k, _incidents[k]));

    /// <summary>The incident key of <paramref name="result"/> on <paramref name="e"/>'s window.</summary>
    internal static string Key(DriftEvaluation e, DriftResult result) =>
        e.Segment is null ? $"{e.Model}:{e.Version}:{e.Column}:{DriftDefaults.Name(result.Method)}" : $"{e.Model}:{e.Version}:{e.Column}:{DriftDefaults.Name(result.Method)}#{e.Segment}";

    private DriftAlert Alert(AlertStatus status, string incident, DriftEvaluation e, DriftResult result, string webhook, long now) => new(
        $"{incident}:{(status == AlertStatus.Drift ? "drift" : "resolved")}",
        status,
        e.Model,
        e.Version,
        e.Column,
        DriftDefaults.Name(result.Method),
        result.Value,
        result.Threshold,
        Rfc3339.Format(e.WindowStartMs),
        Rfc3339.Format(e.WindowEndMs),
        e.BaselineId,
        $"{options.HistoryUrl}?model={Uri.EscapeDataString(e.Model)}&version={Uri.EscapeDataString(e.Version)}&column={Uri.EscapeDataString(e.Column)}"
            + (e.Segment is null ? "" : $"&segment={Uri.EscapeDataString(e.Segment)}"),
        webhook,
        now,
        e.Segment);
}
