using System.Text.Json;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Internal;
using FeatureStore.Monitor.Job;
using FeatureStore.Redis.Drift;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Persistence;

/// <summary>
/// Baselines and drift history in the online store, so every monitor instance sees them:
/// <list type="bullet">
/// <item><c>PREFIX:{PROJECT}:drift:baseline:MODEL:VERSION</c> — string, the baseline as JSON.</item>
/// <item><c>PREFIX:{PROJECT}:drift:history:MODEL:VERSION</c> — sorted set scored by window end (epoch ms),
/// each member one evaluated window as JSON; the newest <see cref="HistoryLimit"/> are kept.</item>
/// <item><c>PREFIX:{PROJECT}:drift:evaluated:MODEL:VERSION:COLUMN</c> — hash, the prediction offsets the
/// monitor's evaluated windows cover: field <c>TOPIC:PARTITION</c> → the highest offset of that partition in
/// an evaluated window, and <c>closed_end_ms</c> → the end of the last closed time window. Written in the
/// same transaction as the history entries, so a restarted monitor skips exactly what they counted. For a
/// monitor with <c>segment_by</c>, field <c>segments</c> holds its segment routing as JSON (the values with a
/// window of their own and since which offsets, the values evicted and until which offsets, the counts).</item>
/// <item><c>PREFIX:{PROJECT}:drift:evaluated:MODEL:VERSION:COLUMN:segment:VALUE</c> — hash, the same for the
/// windows of one segment (<c>other</c> and <c>(missing)</c> included).</item>
/// </list>
/// </summary>
/// <param name="database">The online store.</param>
/// <param name="prefix">Key prefix (<c>fs</c>).</param>
/// <param name="project">The repository's project.</param>
public sealed class DriftStore(IDatabase database, string prefix, string project)
{
    private const string ClosedEndField = "closed_end_ms";
    private const string RoutingField = "segments";

    /// <summary>Windows kept per model version.</summary>
    public const int HistoryLimit = 10_000;

    /// <summary>The online store.</summary>
    public IDatabase Database { get; } = database;

    /// <summary>The key layout.</summary>
    public DriftKeys Keys { get; } = new(prefix, project);

    /// <summary>The key of a model version's baseline.</summary>
    public RedisKey BaselineKey(string model, string version) => Keys.Baseline(model, version);

    /// <summary>The key of a model version's history.</summary>
    public RedisKey HistoryKey(string model, string version) => Keys.History(model, version);

    /// <summary>The key of the offsets a monitor's evaluated windows cover.</summary>
    public RedisKey EvaluatedKey(string model, string version, string column) => Keys.Evaluated(model, version, column);

    /// <summary>The key of the offsets a monitor's evaluated windows of one segment cover (null: the whole column's).</summary>
    public RedisKey EvaluatedKey(string model, string version, string column, string? segment) =>
        segment is null ? Keys.Evaluated(model, version, column) : $"{Keys.Evaluated(model, version, column)}:segment:{segment}";

    /// <summary>
    /// Moves the project's drift keys written by an earlier version, without the hash tag, to their names here
    /// (<see cref="DriftLayoutUpgrade"/>); once done, one read. Run before the first read or write.
    /// </summary>
    public Task<DriftLayoutUpgradeResult> UpgradeLayoutAsync(CancellationToken cancellationToken = default) =>
        DriftLayoutUpgrade.RunAsync(Database, Keys, cancellationToken);

    /// <summary>Stores (replaces) a model version's baseline.</summary>
    public Task SaveBaselineAsync(ModelBaseline baseline)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        return Database.StringSetAsync(BaselineKey(baseline.Model, baseline.Version), baseline.ToJson());
    }

    /// <summary>A model version's baseline (of any stored format), or null when none was computed.</summary>
    public async Task<ModelBaseline?> LoadBaselineAsync(string model, string version)
    {
        var json = await Database.StringGetAsync(BaselineKey(model, version)).ConfigureAwait(false);
        return json.IsNull ? null : ModelBaseline.FromJson(json.ToString());
    }

    /// <summary>Appends evaluated windows to their versions' histories.</summary>
    public async Task AppendHistoryAsync(IReadOnlyList<DriftEvaluation> evaluations)
    {
        var transaction = Database.CreateTransaction();
        AppendHistory(transaction, evaluations);
        await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>Queues the appends of <paramref name="evaluations"/> on <paramref name="transaction"/>.</summary>
    internal void AppendHistory(ITransaction transaction, IReadOnlyList<DriftEvaluation> evaluations)
    {
        ArgumentNullException.ThrowIfNull(evaluations);
        foreach (var group in evaluations.GroupBy(e => (e.Model, e.Version)))
        {
            var key = HistoryKey(group.Key.Model, group.Key.Version);
            foreach (var e in group)
            {
                _ = transaction.SortedSetAddAsync(key, JsonSerializer.Serialize(e, DriftJson.Options), e.WindowEndMs);
            }

            _ = transaction.SortedSetRemoveRangeByRankAsync(key, 0, -HistoryLimit - 1);
        }
    }

    /// <summary>A model version's history, oldest first (at most <paramref name="limit"/> newest entries).</summary>
    public async Task<IReadOnlyList<DriftEvaluation>> HistoryAsync(string model, string version, int limit = 1000)
    {
        var members = await Database.SortedSetRangeByRankAsync(HistoryKey(model, version), -limit, -1).ConfigureAwait(false);
        return [.. members.Select(m => JsonSerializer.Deserialize<DriftEvaluation>(m.ToString(), DriftJson.Options)!)];
    }

    /// <summary>How many entries a model version's history holds (one per evaluated window and column).</summary>
    public Task<long> HistoryCountAsync(string model, string version) => Database.SortedSetLengthAsync(HistoryKey(model, version));

    /// <summary>
    /// Fills <paramref name="evaluated"/> with what a monitor's evaluated windows (of one segment, or the whole
    /// column when <paramref name="segment"/> is null) cover, per partition, and returns the end of its last closed
    /// time window (<see cref="long.MinValue"/> when none) and its segment routing.
    /// </summary>
    internal async Task<EvaluatedState> LoadEvaluatedAsync(string model, string version, string column, string? segment, Dictionary<PartitionKey, long> evaluated)
    {
        var closedEndMs = long.MinValue;
        string? routing = null;
        foreach (var entry in await Database.HashGetAllAsync(EvaluatedKey(model, version, column, segment)).ConfigureAwait(false))
        {
            var field = entry.Name.ToString();
            if (field == ClosedEndField)
            {
                closedEndMs = (long)entry.Value;
            }
            else if (field == RoutingField)
            {
                routing = entry.Value.ToString();
            }
            else if (PartitionKey.TryParseField(field, out var partition))
            {
                evaluated[partition] = (long)entry.Value;
            }
        }

        return new EvaluatedState(closedEndMs, routing);
    }

    /// <summary>Queues on <paramref name="transaction"/> what a closed window covered, beside its history entry.</summary>
    internal void SaveEvaluated(ITransaction transaction, EvaluatedOffsets window)
    {
        var entries = new List<HashEntry>(window.Offsets.Length + 2);
        foreach (var (partition, last) in window.Offsets)
        {
            entries.Add(new HashEntry(partition.Field, last));
        }

        if (window.ClosedEndMs is { } closedEndMs)
        {
            entries.Add(new HashEntry(ClosedEndField, closedEndMs));
        }

        if (window.Routing is { } routing)
        {
            entries.Add(new HashEntry(RoutingField, routing));
        }

        if (entries.Count > 0)
        {
            _ = transaction.HashSetAsync(EvaluatedKey(window.Model, window.Version, window.Column, window.Segment), [.. entries]);
        }
    }
}
