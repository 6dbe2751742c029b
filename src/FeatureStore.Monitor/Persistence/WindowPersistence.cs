using FeatureStore.Core.Models;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Job;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Persistence;

/// <summary>
/// Persists a batch of closed windows: the Parquet history first (when configured), then one transaction in
/// the online store with their history entries, the offsets they covered, their alerts, and the incidents and
/// retraining states they changed. Retried through an outage rather than lost; every write is idempotent.
/// </summary>
internal sealed class WindowPersistence(DriftStore store, AlertOutbox outbox, AlertStateStore alertStates, MonitorOptions options, ILogger logger) : IEvaluatedSource
{
    /// <summary>Writes <paramref name="closed"/> and all that goes with it; returns once the transaction committed.</summary>
    public async Task PersistAsync(
        List<DriftEvaluation> closed,
        List<EvaluatedOffsets> offsets,
        List<DriftAlert> alerts,
        IEnumerable<KeyValuePair<string, Incident>> incidents,
        IEnumerable<(string Model, string Version, RetrainState State)>? retrainStates,
        CancellationToken cancellationToken)
    {
        if (options.HistoryDirectory is { } folder)
        {
            // The full history on disk first: a kill before the online store's transaction evaluates these
            // windows again, so the Parquet copy may hold a batch twice but never misses one. A full or failing
            // disk is retried like the store.
            var history = new ParquetHistory(folder);
            for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
            {
                try
                {
                    await history.AppendAsync(closed, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    MonitorLog.HistoryWriteError(logger, folder, ex);
                    await Task.Delay(delay, options.TimeProvider, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        // The history, the offsets the windows covered, the alerts and the incidents in one transaction: a kill
        // leaves either all of them (and the windows' predictions are skipped when read again) or none (and the
        // windows are evaluated again).
        for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
        {
            try
            {
                var transaction = store.Database.CreateTransaction();
                store.AppendHistory(transaction, closed);
                foreach (var window in offsets)
                {
                    store.SaveEvaluated(transaction, window);
                }

                var now = options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
                foreach (var alert in alerts)
                {
                    outbox.Enqueue(transaction, alert, now);
                }

                alertStates.SaveIncidents(transaction, incidents);
                if (retrainStates is not null)
                {
                    alertStates.SaveRetrainStates(transaction, retrainStates);
                }

                await transaction.ExecuteAsync().ConfigureAwait(false);
                return;
            }
            catch (RedisException ex)
            {
                MonitorLog.StoreError(logger, ex);
                await Task.Delay(delay, options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Fills <paramref name="evaluated"/> with what a monitor's persisted windows (of one segment, or the whole
    /// column) covered and returns the end of its last closed time window and its routing; retried through an outage.
    /// </summary>
    public async Task<EvaluatedState> LoadEvaluatedAsync(string model, string version, string column, string? segment, Dictionary<PartitionKey, long> evaluated, CancellationToken cancellationToken)
    {
        for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
        {
            try
            {
                return await store.LoadEvaluatedAsync(model, version, column, segment, evaluated).ConfigureAwait(false);
            }
            catch (RedisException ex)
            {
                MonitorLog.StoreError(logger, ex);
                await Task.Delay(delay, options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
