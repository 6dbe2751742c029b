using FeatureStore.Monitor.Alerts;
using System.Text.Json;
using FeatureStore.Monitor.Internal;
using FeatureStore.Redis.Drift;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Persistence;

/// <summary>
/// A durable outbox of alerts in the online store: an alert is written here before any delivery is tried
/// and removed only once its webhook answered 2xx, so a webhook that is down (or a monitor restart) loses
/// none. Keys: <c>PREFIX:{PROJECT}:drift:outbox</c> (hash id → alert JSON), <c>…:outbox:due</c> (sorted set
/// id → next attempt, epoch ms), <c>…:outbox:attempts</c> (hash id → attempts so far), and
/// <c>…:outbox:rejected</c> (hash id → alert JSON refused by its webhook with a 4xx other than 408/429).
/// </summary>
public sealed class AlertOutbox
{
    private readonly IDatabase _database;
    private readonly RedisKey _alerts;
    private readonly RedisKey _due;
    private readonly RedisKey _attempts;
    private readonly RedisKey _rejected;

    /// <summary>The drift monitor's outbox.</summary>
    /// <param name="database">The online store.</param>
    /// <param name="keys">The drift key layout.</param>
    public AlertOutbox(IDatabase database, DriftKeys keys)
        : this(database, (keys ?? throw new ArgumentNullException(nameof(keys))).Outbox)
    {
    }

    /// <summary>
    /// An outbox at <paramref name="alerts"/> (its due times, attempts and rejected alerts at <c>…:due</c>,
    /// <c>…:attempts</c>, <c>…:rejected</c>): the performance job's has its own, so each job's dispatcher delivers
    /// only its alerts.
    /// </summary>
    internal AlertOutbox(IDatabase database, RedisKey alerts)
    {
        _database = database;
        _alerts = alerts;
        _due = alerts.Append(":due");
        _attempts = alerts.Append(":attempts");
        _rejected = alerts.Append(":rejected");
    }

    /// <summary>Stores an alert, due at once. Enqueuing the same id twice keeps one.</summary>
    public async Task EnqueueAsync(DriftAlert alert, long nowMs)
    {
        var transaction = _database.CreateTransaction();
        Enqueue(transaction, alert, nowMs);
        await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>Queues <see cref="EnqueueAsync"/>'s writes on <paramref name="transaction"/>, beside what raised the alert.</summary>
    internal void Enqueue(ITransaction transaction, DriftAlert alert, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(alert);
        _ = transaction.HashSetAsync(_alerts, alert.Id, JsonSerializer.Serialize(alert, DriftJson.Options), When.NotExists);
        _ = transaction.SortedSetAddAsync(_due, alert.Id, nowMs, SortedSetWhen.NotExists);
    }

    /// <summary>Alerts due at <paramref name="nowMs"/>, oldest due first, with their attempts so far.</summary>
    public async Task<IReadOnlyList<(DriftAlert Alert, int Attempts)>> DueAsync(long nowMs, int limit)
    {
        var ids = await _database.SortedSetRangeByScoreAsync(_due, double.NegativeInfinity, nowMs, take: limit).ConfigureAwait(false);
        var result = new List<(DriftAlert, int)>();
        foreach (var id in ids)
        {
            var json = await _database.HashGetAsync(_alerts, id).ConfigureAwait(false);
            if (json.IsNull)
            {
                await _database.SortedSetRemoveAsync(_due, id).ConfigureAwait(false);
                continue;
            }

            var attempts = (int)(await _database.HashGetAsync(_attempts, id).ConfigureAwait(false) is { IsNull: false } a ? (long)a : 0);
            result.Add((JsonSerializer.Deserialize<DriftAlert>(json.ToString(), DriftJson.Options)!, attempts));
        }

        return result;
    }

    /// <summary>Removes a delivered alert.</summary>
    public async Task DeliveredAsync(string id)
    {
        var transaction = _database.CreateTransaction();
        _ = transaction.HashDeleteAsync(_alerts, id);
        _ = transaction.SortedSetRemoveAsync(_due, id);
        _ = transaction.HashDeleteAsync(_attempts, id);
        await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>Records a failed attempt and when to try again.</summary>
    public async Task RetryLaterAsync(string id, int attempts, long dueMs)
    {
        var transaction = _database.CreateTransaction();
        _ = transaction.HashSetAsync(_attempts, id, attempts);
        _ = transaction.SortedSetAddAsync(_due, id, dueMs);
        await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>Moves an alert its webhook refused for good out of the queue, kept for inspection.</summary>
    public async Task RejectedAsync(DriftAlert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var transaction = _database.CreateTransaction();
        _ = transaction.HashSetAsync(_rejected, alert.Id, JsonSerializer.Serialize(alert, DriftJson.Options));
        _ = transaction.HashDeleteAsync(_alerts, alert.Id);
        _ = transaction.SortedSetRemoveAsync(_due, alert.Id);
        _ = transaction.HashDeleteAsync(_attempts, alert.Id);
        await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>Alerts not yet delivered.</summary>
    public Task<long> PendingAsync() => _database.SortedSetLengthAsync(_due);
}
