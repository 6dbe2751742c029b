using System.Text.Json;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Internal;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Tests;

/// <summary>
/// The drift keys as the version before the hash tag wrote them: named <c>PREFIX:PROJECT:drift:…</c> (its
/// <c>DriftKeys.Base</c>), each value written as its <c>featurestore baseline</c>, DriftStore, AlertStateStore and
/// AlertOutbox wrote it (the same JSON, the same Redis types and scores). What an upgraded monitor finds.
/// </summary>
internal sealed class EarlierLayout(IDatabase database, string prefix, string project)
{
    /// <summary>The earlier name of the key now at <c>PREFIX:{PROJECT}:drift:REST</c>.</summary>
    public RedisKey Key(string rest) => $"{prefix}:{project}:drift:{rest}";

    public Task SaveBaselineAsync(ModelBaseline baseline) =>
        database.StringSetAsync(Key($"baseline:{baseline.Model}:{baseline.Version}"), baseline.ToJson());

    public async Task AppendHistoryAsync(DriftEvaluation evaluation) =>
        await database.SortedSetAddAsync(Key($"history:{evaluation.Model}:{evaluation.Version}"), JsonSerializer.Serialize(evaluation, DriftJson.Options), evaluation.WindowEndMs);

    public Task SaveIncidentAsync(string key, Incident incident) =>
        database.HashSetAsync(Key("incidents"), key, JsonSerializer.Serialize(incident, DriftJson.Options));

    public async Task EnqueueAsync(DriftAlert alert, long nowMs)
    {
        await database.HashSetAsync(Key("outbox"), alert.Id, JsonSerializer.Serialize(alert, DriftJson.Options), When.NotExists);
        await database.SortedSetAddAsync(Key("outbox:due"), alert.Id, nowMs, SortedSetWhen.NotExists);
    }
}
