using System.Text.Json;
using FeatureStore.Core.Drift;
using FeatureStore.Core.Events;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Internal;

namespace FeatureStore.Monitor.Job;

// Incidents and alert delivery. One incident per (model, version, column, method): it opens on the first
// drifted window and raises one `drift` alert (unless the webhook's cooldown since the previous alert of
// that key has not passed: then the incident is tracked silently), and resolves on the first window back
// under the threshold, raising `resolved` when its `drift` alert went out. Incidents live in the online
// store (hash PREFIX:PROJECT:drift:incidents), so a restart neither repeats nor forgets them.
public sealed partial class MonitorJob
{
    private void Incidents(DriftEvaluation evaluation, List<DriftAlert> alerts)
    {
        var model = _repository.FindModel(evaluation.Model)!;
        var monitor = model.Monitors.First(m => m.Column == evaluation.Column);
        var webhook = monitor.Alert is null ? null : _repository.Webhooks.FirstOrDefault(w => w.Name == monitor.Alert);
        var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var result in evaluation.Results)
        {
            var method = DriftDefaults.Name(result.Method);
            var key = $"{evaluation.Model}:{evaluation.Version}:{evaluation.Column}:{method}";
            var incident = _incidents.GetValueOrDefault(key) ?? new Incident();
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

    // The retraining trigger: one request per persistent incident of a model version (RetrainTracker), raised
    // as a `retrain` alert through the same durable outbox, signed like the drift alerts. Its id is
    // retrain:MODEL:VERSION:FIRST_WINDOW_START, so the outbox keeps one copy whatever happens.
    private void Retrain(DriftEvaluation evaluation, List<DriftAlert> alerts)
    {
        // A window with insufficient data says nothing either way: it neither extends nor breaks a run of drifted windows.
        if (evaluation.Verdict == DriftVerdict.InsufficientData)
        {
            return;
        }

        if (_retrain?.Observe(evaluation.Model, evaluation.Version, evaluation.Column, evaluation.WindowStartMs, evaluation.WindowEndMs, evaluation.Drifted) is not { } request)
        {
            return;
        }

        MonitorLog.RetrainRequested(_logger, request.Model, request.Version, request.Column, request.Windows, _options.RetrainWebhook ?? "(none)");
        if (_options.RetrainWebhook is not { } webhook)
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
            _options.RetrainAfterWindows,
            Rfc3339.Format(request.FirstWindowStartMs),
            Rfc3339.Format(request.LastWindowEndMs),
            evaluation.BaselineId,
            $"{_options.HistoryUrl}?model={Uri.EscapeDataString(request.Model)}&version={Uri.EscapeDataString(request.Version)}",
            webhook,
            _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds()));
    }

    private async Task LoadRetrainStatesAsync()
    {
        if (_retrain is null)
        {
            return;
        }

        foreach (var entry in await _store.Database.HashGetAllAsync(_retrainKey).ConfigureAwait(false))
        {
            var name = entry.Name.ToString();
            var colon = name.LastIndexOf(':');
            if (colon > 0 && JsonSerializer.Deserialize<RetrainState>(entry.Value.ToString(), DriftJson.Options) is { } state)
            {
                _retrain.Restore(name[..colon], name[(colon + 1)..], state);
            }
        }
    }

    private void SaveRetrainStates(StackExchange.Redis.ITransaction transaction, List<DriftEvaluation> closed)
    {
        if (_retrain is null)
        {
            return;
        }

        var entries = closed.Select(e => (e.Model, e.Version)).Distinct()
            .Where(_retrain.States.ContainsKey)
            .Select(k => new StackExchange.Redis.HashEntry($"{k.Model}:{k.Version}", JsonSerializer.Serialize(_retrain.States[k], DriftJson.Options)))
            .ToArray();
        if (entries.Length > 0)
        {
            _ = transaction.HashSetAsync(_retrainKey, entries);
        }
    }

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
        $"{_options.HistoryUrl}?model={Uri.EscapeDataString(e.Model)}&version={Uri.EscapeDataString(e.Version)}&column={Uri.EscapeDataString(e.Column)}",
        webhook,
        now);

    private async Task LoadIncidentsAsync()
    {
        foreach (var entry in await _store.Database.HashGetAllAsync(_incidentsKey).ConfigureAwait(false))
        {
            _incidents[entry.Name.ToString()] = JsonSerializer.Deserialize<Incident>(entry.Value.ToString(), DriftJson.Options)!;
        }
    }

    private void SaveIncidents(StackExchange.Redis.ITransaction transaction, List<DriftEvaluation> closed)
    {
        var keys = closed.SelectMany(e => e.Results.Select(r => $"{e.Model}:{e.Version}:{e.Column}:{DriftDefaults.Name(r.Method)}")).Distinct();
        var entries = keys.Select(k => new StackExchange.Redis.HashEntry(k, JsonSerializer.Serialize(_incidents[k], DriftJson.Options))).ToArray();
        if (entries.Length > 0)
        {
            _ = transaction.HashSetAsync(_incidentsKey, entries);
        }
    }

    private async Task DispatchAsync(WebhookSender sender, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await DeliverDueAsync(sender, cancellationToken).ConfigureAwait(false);
                }
                catch (StackExchange.Redis.RedisException ex)
                {
                    MonitorLog.StoreError(_logger, ex);
                }

                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                wait.CancelAfter(_options.OutboxPollInterval);
                try
                {
                    await _alertRaised.WaitAsync(wait.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // poll interval passed
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping: undelivered alerts stay in the outbox for the next run
        }
    }

    private async Task DeliverDueAsync(WebhookSender sender, CancellationToken cancellationToken)
    {
        var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var (alert, attempts) in await _outbox.DueAsync(now, 16).ConfigureAwait(false))
        {
            var webhook = _repository.Webhooks.FirstOrDefault(w => w.Name == alert.Webhook);
            if (webhook is null)
            {
                await _outbox.RejectedAsync(alert).ConfigureAwait(false);
                continue;
            }

            var secret = _options.Secrets(webhook.SecretEnv);
            if (secret is null && _warned.Add("secret:" + webhook.Name))
            {
                MonitorLog.NoSecret(_logger, webhook.Name, webhook.SecretEnv);
            }

            switch (await sender.SendAsync(alert, webhook.Url, secret ?? "", cancellationToken).ConfigureAwait(false))
            {
                case DeliveryOutcome.Delivered:
                    await _outbox.DeliveredAsync(alert.Id).ConfigureAwait(false);
                    _metrics.Delivered();
                    MonitorLog.Delivered(_logger, WebhookSender.EventName(alert.Status), alert.Id, webhook.Name);
                    break;
                case DeliveryOutcome.Rejected:
                    await _outbox.RejectedAsync(alert).ConfigureAwait(false);
                    _metrics.DeliveryFailure();
                    MonitorLog.Rejected(_logger, alert.Id, webhook.Name);
                    break;
                default:
                    var delay = TimeSpan.FromTicks(Math.Min(_options.MaxRedeliveryDelay.Ticks, _options.RedeliveryDelay.Ticks << Math.Min(attempts, 20)));
                    await _outbox.RetryLaterAsync(alert.Id, attempts + 1, _options.TimeProvider.GetUtcNow().Add(delay).ToUnixTimeMilliseconds()).ConfigureAwait(false);
                    _metrics.DeliveryFailure();
                    MonitorLog.DeliveryFailed(_logger, alert.Id, webhook.Name, attempts + 1, delay);
                    break;
            }
        }
    }

    private sealed class Incident
    {
        public bool Open { get; set; }

        public bool Alerted { get; set; }

        public string Id { get; set; } = "";

        public long LastAlertMs { get; set; } = long.MinValue / 2;

        // For readers of the hash (the dashboard): when it opened and cleared (window times), and the latest value.
        public long OpenedMs { get; set; }

        public long? ResolvedMs { get; set; }

        public double Value { get; set; }

        public double Threshold { get; set; }
    }
}
