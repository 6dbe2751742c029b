using System.Text.Json;
using FeatureStore.Monitor.Internal;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Baselines;

/// <summary>
/// Baselines and drift history in the online store, so every monitor instance sees them:
/// <list type="bullet">
/// <item><c>PREFIX:PROJECT:drift:baseline:MODEL:VERSION</c> — string, the baseline as JSON.</item>
/// <item><c>PREFIX:PROJECT:drift:history:MODEL:VERSION</c> — sorted set scored by window end (epoch ms),
/// each member one evaluated window as JSON; the newest <see cref="HistoryLimit"/> are kept.</item>
/// </list>
/// </summary>
/// <param name="database">The online store.</param>
/// <param name="prefix">Key prefix (<c>fs</c>).</param>
/// <param name="project">The repository's project.</param>
public sealed class DriftStore(IDatabase database, string prefix, string project)
{
    /// <summary>Windows kept per model version.</summary>
    public const int HistoryLimit = 10_000;

    /// <summary>The online store.</summary>
    public IDatabase Database { get; } = database;

    /// <summary>Key prefix and project: <c>PREFIX:PROJECT:drift</c>.</summary>
    public string KeyBase { get; } = $"{prefix}:{project}:drift";

    /// <summary>The key of a model version's baseline.</summary>
    public RedisKey BaselineKey(string model, string version) => $"{KeyBase}:baseline:{model}:{version}";

    /// <summary>The key of a model version's history.</summary>
    public RedisKey HistoryKey(string model, string version) => $"{KeyBase}:history:{model}:{version}";

    /// <summary>Stores (replaces) a model version's baseline.</summary>
    public Task SaveBaselineAsync(ModelBaseline baseline)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        return Database.StringSetAsync(BaselineKey(baseline.Model, baseline.Version), JsonSerializer.Serialize(baseline, DriftJson.Options));
    }

    /// <summary>A model version's baseline, or null when none was computed.</summary>
    public async Task<ModelBaseline?> LoadBaselineAsync(string model, string version)
    {
        var json = await Database.StringGetAsync(BaselineKey(model, version)).ConfigureAwait(false);
        return json.IsNull ? null : JsonSerializer.Deserialize<ModelBaseline>(json.ToString(), DriftJson.Options);
    }

    /// <summary>Appends evaluated windows to their versions' histories.</summary>
    public async Task AppendHistoryAsync(IReadOnlyList<DriftEvaluation> evaluations)
    {
        ArgumentNullException.ThrowIfNull(evaluations);
        var batch = Database.CreateBatch();
        var tasks = new List<Task>();
        foreach (var group in evaluations.GroupBy(e => (e.Model, e.Version)))
        {
            var key = HistoryKey(group.Key.Model, group.Key.Version);
            foreach (var e in group)
            {
                tasks.Add(batch.SortedSetAddAsync(key, JsonSerializer.Serialize(e, DriftJson.Options), e.WindowEndMs));
            }

            tasks.Add(batch.SortedSetRemoveRangeByRankAsync(key, 0, -HistoryLimit - 1));
        }

        batch.Execute();
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>A model version's history, oldest first (at most <paramref name="limit"/> newest entries).</summary>
    public async Task<IReadOnlyList<DriftEvaluation>> HistoryAsync(string model, string version, int limit = 1000)
    {
        var members = await Database.SortedSetRangeByRankAsync(HistoryKey(model, version), -limit, -1).ConfigureAwait(false);
        return [.. members.Select(m => JsonSerializer.Deserialize<DriftEvaluation>(m.ToString(), DriftJson.Options)!)];
    }
}
