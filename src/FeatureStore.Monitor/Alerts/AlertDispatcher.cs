using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Alerts;

/// <summary>
/// Delivers the outbox's due alerts to their webhooks: at once when the evaluator raised some
/// (<see cref="AlertsRaised"/>), else on the outbox's poll interval. A 2xx removes an alert, a refusal for good
/// moves it aside, anything else tries again later with a growing delay.
/// </summary>
internal sealed class AlertDispatcher(FeatureRepository repository, AlertOutbox outbox, MonitorOptions options, MonitorMetrics metrics, ILogger logger)
{
    private readonly SemaphoreSlim _alertRaised = new(0);
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

    /// <summary>Wakes the dispatcher: alerts were just written to the outbox.</summary>
    public void AlertsRaised() => _alertRaised.Release();

    /// <summary>Delivers until <paramref name="cancellationToken"/> fires; undelivered alerts stay in the outbox.</summary>
    public async Task RunAsync(WebhookSender sender, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await DeliverDueAsync(sender, cancellationToken).ConfigureAwait(false);
                }
                catch (RedisException ex)
                {
                    MonitorLog.StoreError(logger, ex);
                }

                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                wait.CancelAfter(options.OutboxPollInterval);
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
        var now = options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var (alert, attempts) in await outbox.DueAsync(now, 16).ConfigureAwait(false))
        {
            var webhook = repository.Webhooks.FirstOrDefault(w => w.Name == alert.Webhook);
            if (webhook is null)
            {
                await outbox.RejectedAsync(alert).ConfigureAwait(false);
                continue;
            }

            var secret = options.Secrets(webhook.SecretEnv);
            if (secret is null && _warned.Add(webhook.Name))
            {
                MonitorLog.NoSecret(logger, webhook.Name, webhook.SecretEnv);
            }

            switch (await sender.SendAsync(alert, webhook.Url, secret ?? "", cancellationToken).ConfigureAwait(false))
            {
                case DeliveryOutcome.Delivered:
                    await outbox.DeliveredAsync(alert.Id).ConfigureAwait(false);
                    metrics.Delivered();
                    MonitorLog.Delivered(logger, WebhookSender.EventName(alert.Status), alert.Id, webhook.Name);
                    break;
                case DeliveryOutcome.Rejected:
                    await outbox.RejectedAsync(alert).ConfigureAwait(false);
                    metrics.DeliveryFailure();
                    MonitorLog.Rejected(logger, alert.Id, webhook.Name);
                    break;
                default:
                    var delay = TimeSpan.FromTicks(Math.Min(options.MaxRedeliveryDelay.Ticks, options.RedeliveryDelay.Ticks << Math.Min(attempts, 20)));
                    await outbox.RetryLaterAsync(alert.Id, attempts + 1, options.TimeProvider.GetUtcNow().Add(delay).ToUnixTimeMilliseconds()).ConfigureAwait(false);
                    metrics.DeliveryFailure();
                    MonitorLog.DeliveryFailed(logger, alert.Id, webhook.Name, attempts + 1, delay);
                    break;
            }
        }
    }
}
