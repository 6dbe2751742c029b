using System.Text.Json;
using System.Text.Json.Serialization;
using FeatureStore.Core.Performance;
using FeatureStore.Monitor.Internal;
using FeatureStore.Redis.Drift;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Performance;

/// <summary>
/// The performance monitor's data in the online store (<see cref="DriftKeys"/>), read by the server, the dashboard
/// and the CLI and written by the monitor:
/// <list type="bullet">
/// <item><c>PREFIX:{PROJECT}:drift:reference:MODEL:VERSION</c> — string, the version's <see cref="ReferencePerformance"/> as JSON.</item>
/// <item><c>PREFIX:{PROJECT}:drift:performance:MODEL:VERSION</c> — sorted set of <see cref="PerformanceEvaluation"/>s as JSON,
/// scored by window end; the newest <see cref="HistoryLimit"/> are kept.</item>
/// <item><c>PREFIX:{PROJECT}:drift:labels:MODEL</c> — hash of the label join's counters (<see cref="LabelCounts"/>).</item>
/// </list>
/// Metrics may be NaN (an AUC of a window with one class), written as the JSON string <c>"NaN"</c>.
/// </summary>
/// <param name="database">The online store.</param>
/// <param name="keys">The key layout.</param>
public sealed class PerformanceStore(IDatabase database, DriftKeys keys)
{
    /// <summary>Windows kept per model version (each segment's window counts as one).</summary>
    public const int HistoryLimit = 10_000;

    /// <summary>The JSON shape of references and history entries: the drift history's, with NaN and ±Infinity as strings.</summary>
    public static JsonSerializerOptions Json { get; } = new(DriftJson.Options) { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The online store.</summary>
    public IDatabase Database { get; } = database;

    /// <summary>The key layout.</summary>
    public DriftKeys Keys { get; } = keys;

    /// <summary>Stores (replaces) a model version's reference performance.</summary>
    public Task SaveReferenceAsync(ReferencePerformance reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return Database.StringSetAsync(Keys.Reference(reference.Model, reference.Version), JsonSerializer.Serialize(reference, Json));
    }

    /// <summary>A model version's reference performance, or null when none is stored.</summary>
    public async Task<ReferencePerformance?> LoadReferenceAsync(string model, string version)
    {
        var json = await Database.StringGetAsync(Keys.Reference(model, version)).ConfigureAwait(false);
        return json.IsNull ? null : JsonSerializer.Deserialize<ReferencePerformance>(json.ToString(), Json);
    }

    /// <summary>Queues the appends of <paramref name="evaluations"/> to their versions' histories on <paramref name="transaction"/>.</summary>
    public void AppendHistory(ITransaction transaction, IReadOnlyList<PerformanceEvaluation> evaluations)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(evaluations);
        foreach (var group in evaluations.GroupBy(e => (e.Model, e.Version)))
        {
            var key = Keys.Performance(group.Key.Model, group.Key.Version);
            foreach (var e in group)
            {
                _ = transaction.SortedSetAddAsync(key, JsonSerializer.Serialize(e, Json), e.WindowEndMs);
            }

            _ = transaction.SortedSetRemoveRangeByRankAsync(key, 0, -HistoryLimit - 1);
        }
    }

    /// <summary>
    /// A model version's performance history, oldest first (at most <paramref name="limit"/> newest entries, every
    /// segment). An entry that does not read as one (written by hand, or damaged) is left out, not the whole answer.
    /// </summary>
    public async Task<IReadOnlyList<PerformanceEvaluation>> HistoryAsync(string model, string version, int limit = 1000)
    {
        var members = await Database.SortedSetRangeByRankAsync(Keys.Performance(model, version), -limit, -1).ConfigureAwait(false);
        var history = new List<PerformanceEvaluation>(members.Length);
        foreach (var member in members)
        {
            try
            {
                if (JsonSerializer.Deserialize<PerformanceEvaluation>(member.ToString(), Json) is { Model: not null } entry)
                {
                    history.Add(entry);
                }
            }
            catch (JsonException)
            {
                // left out
            }
        }

        return history;
    }

    /// <summary>A model's label join counters (zeros before any label).</summary>
    public async Task<LabelCounts> LabelCountsAsync(string model)
    {
        var fields = await Database.HashGetAsync(Keys.Labels(model), ["joined", "duplicate", "late", "unmatched", "pending"]).ConfigureAwait(false);
        return new LabelCounts(Count(fields[0]), Count(fields[1]), Count(fields[2]), Count(fields[3]), Count(fields[4]));
    }

    private static long Count(RedisValue value) => value.IsNull ? 0 : (long)value;
}
