using System.Text.Json;
using System.Text.Json.Serialization;
using FeatureStore.Core.Models;
using StackExchange.Redis;

namespace FeatureStore.Redis.Models;

/// <summary>What <see cref="ModelRegistryStore.PromoteAsync"/> did.</summary>
/// <param name="Found">False when the version is not registered.</param>
/// <param name="Changed">The records whose stage changed (the version, and the production version it replaced).</param>
public sealed record PromotionOutcome(bool Found, IReadOnlyList<ModelVersionRecord> Changed);

/// <summary>
/// A rollback read from the registry and not yet written: the model's hash as read, and the records it changes
/// (the restored version, then the degraded one). <see cref="ModelRegistryStore.QueueRollback"/> writes it on a
/// transaction conditioned on the hash being still as read.
/// </summary>
/// <param name="Model">The model.</param>
/// <param name="Read">The model's hash as read: field → value.</param>
/// <param name="Changed">The restored version (now production) and the degraded one (now archived).</param>
public sealed record PlannedRollback(string Model, IReadOnlyDictionary<string, RedisValue> Read, IReadOnlyList<ModelVersionRecord> Changed)
{
    /// <summary>The version made production again.</summary>
    public string Restored => Changed[0].Version;

    /// <summary>The version archived.</summary>
    public string Degraded => Changed[1].Version;
}

/// <summary>
/// The model registry in the online store, beside the repository registry and under the same hash tag:
/// <c>PREFIX:{project}:models</c> (set of model names) and <c>PREFIX:{project}:models:MODEL</c> (hash:
/// version → the version's record as JSON). A stage change is one optimistic transaction on the model's
/// hash, so two promotions can never leave two production versions; each is announced as
/// <c>project:model:version:stage</c> on <c>PREFIX:models:changed</c>, which running monitors follow, and recorded in
/// the same transaction in the model's <see cref="StageHistory"/>.
/// </summary>
public sealed class ModelRegistryStore
{
    private const int MaxAttempts = 64;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private readonly IDatabase _db;
    private readonly string _prefix;
    private readonly string _project;
    private readonly TimeProvider _time;

    /// <summary>A registry of <paramref name="project"/>'s models over <paramref name="database"/>.</summary>
    public ModelRegistryStore(IDatabase database, string keyPrefix, string project, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyPrefix);
        ArgumentException.ThrowIfNullOrWhiteSpace(project);
        _db = database;
        _prefix = keyPrefix;
        _project = project;
        _time = timeProvider ?? TimeProvider.System;
        History = new StageHistory(database, keyPrefix, project);
    }

    /// <summary>Every model's stage history.</summary>
    public StageHistory History { get; }

    /// <summary>The channel on which stage changes are announced.</summary>
    public RedisChannel ChangesChannel => Channel(_prefix);

    /// <summary>The set of model names.</summary>
    public RedisKey ModelsKey => $"{_prefix}:{{{_project}}}:models";

    /// <summary>The project.</summary>
    public string Project => _project;

    /// <summary>The channel on which stage changes are announced for every project under <paramref name="keyPrefix"/>.</summary>
    public static RedisChannel Channel(string keyPrefix) => RedisChannel.Literal($"{keyPrefix}:models:changed");

    /// <summary>The hash of <paramref name="model"/>'s versions.</summary>
    public RedisKey ModelKey(string model) => $"{_prefix}:{{{_project}}}:models:{model}";

    /// <summary>
    /// Registers a version in the staging stage; false (and nothing written) when the version is already registered.
    /// </summary>
    public async Task<bool> RegisterAsync(string model, string version, IReadOnlyList<string> features, string? trainingExport, string? baselineId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(version);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var record = new ModelVersionRecord(model, version, features, trainingExport, baselineId, ModelStage.Staging, now, now);
        var transaction = _db.CreateTransaction();
        transaction.AddCondition(Condition.HashNotExists(ModelKey(model), version));
        _ = transaction.HashSetAsync(ModelKey(model), version, JsonSerializer.Serialize(record, Json));
        _ = transaction.SetAddAsync(ModelsKey, model);
        var done = await transaction.ExecuteAsync().ConfigureAwait(false);
        if (done)
        {
            await _db.PublishAsync(ChangesChannel, $"{_project}:{model}:{version}:registered").ConfigureAwait(false);
        }

        return done;
    }

    /// <summary>The registered model names, sorted.</summary>
    public async Task<IReadOnlyList<string>> ModelsAsync()
    {
        var names = await _db.SetMembersAsync(ModelsKey).ConfigureAwait(false);
        return [.. names.Select(n => n.ToString()).Order(StringComparer.Ordinal)];
    }

    /// <summary>Every registered version of <paramref name="model"/>, in registration order.</summary>
    public async Task<IReadOnlyList<ModelVersionRecord>> VersionsAsync(string model)
    {
        var entries = await _db.HashGetAllAsync(ModelKey(model)).ConfigureAwait(false);
        return [.. entries.Select(e => Parse(e.Value)).OrderBy(r => r.RegisteredAtMs).ThenBy(r => r.Version, StringComparer.Ordinal)];
    }

    /// <summary>One version, or null.</summary>
    public async Task<ModelVersionRecord?> GetAsync(string model, string version)
    {
        var value = await _db.HashGetAsync(ModelKey(model), version).ConfigureAwait(false);
        return value.IsNull ? null : Parse(value);
    }

    /// <summary>The production version of every registered model (models without one are left out).</summary>
    public async Task<IReadOnlyDictionary<string, ModelVersionRecord>> ProductionAsync()
    {
        var result = new Dictionary<string, ModelVersionRecord>(StringComparer.Ordinal);
        foreach (var model in await ModelsAsync().ConfigureAwait(false))
        {
            if ((await VersionsAsync(model).ConfigureAwait(false)).FirstOrDefault(v => v.Stage == ModelStage.Production) is { } production)
            {
                result[model] = production;
            }
        }

        return result;
    }

    /// <summary>
    /// Moves <paramref name="version"/> to <paramref name="stage"/>; promoting to production archives the
    /// previous production version in the same transaction, and records it with <paramref name="note"/> (by default a
    /// person's change with no gates) in the model's history. Announces the change on <see cref="ChangesChannel"/>.
    /// </summary>
    public async Task<PromotionOutcome> PromoteAsync(string model, string version, ModelStage stage, StageNote? note = null)
    {
        note ??= StageNote.Plain;
        var key = ModelKey(model);
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var entries = await _db.HashGetAllAsync(key).ConfigureAwait(false);
            var raw = entries.ToDictionary(e => e.Name.ToString(), e => e.Value, StringComparer.Ordinal);
            var versions = raw.Values.Select(Parse).ToList();
            var changed = ModelStages.Promote(versions, version, stage, _time.GetUtcNow().ToUnixTimeMilliseconds());
            if (changed is null)
            {
                return new PromotionOutcome(false, []);
            }

            if (changed.Count == 0)
            {
                return new PromotionOutcome(true, []);
            }

            // The whole hash must be as read: two promotions that each saw no production version must not both land.
            var transaction = _db.CreateTransaction();
            transaction.AddCondition(Condition.HashLengthEqual(key, raw.Count));
            foreach (var (field, value) in raw)
            {
                transaction.AddCondition(Condition.HashEqual(key, field, value));
            }

            foreach (var record in changed)
            {
                _ = transaction.HashSetAsync(key, record.Version, JsonSerializer.Serialize(record, Json));
            }

            var from = versions.First(v => v.Version == version).Stage;
            var replaced = changed.FirstOrDefault(r => r.Version != version)?.Version;
            History.Append(transaction, new StageChange(model, version, "promote", from, stage, changed[0].StageChangedAtMs, note.Actor, note.Gates, note.Forced, note.Reason, replaced));
            if (await transaction.ExecuteAsync().ConfigureAwait(false))
            {
                await _db.PublishAsync(ChangesChannel, $"{_project}:{model}:{version}:{ModelStages.Name(stage)}").ConfigureAwait(false);
                return new PromotionOutcome(true, changed);
            }
        }

        throw new InvalidOperationException($"promotion of {model} {version} kept conflicting with concurrent changes");
    }

    /// <summary>
    /// Reads what rolling <paramref name="degraded"/> back would change (<see cref="ModelStages.Rollback"/>); null when it
    /// is not production any more or no earlier production version is left to restore.
    /// </summary>
    public async Task<PlannedRollback?> PlanRollbackAsync(string model, string degraded)
    {
        var entries = await _db.HashGetAllAsync(ModelKey(model)).ConfigureAwait(false);
        var read = entries.ToDictionary(e => e.Name.ToString(), e => e.Value, StringComparer.Ordinal);
        var history = await History.ReadAsync(model).ConfigureAwait(false);
        var changed = ModelStages.Rollback([.. read.Values.Select(Parse)], history, degraded, _time.GetUtcNow().ToUnixTimeMilliseconds());
        return changed is null ? null : new PlannedRollback(model, read, changed);
    }

    /// <summary>
    /// Queues <paramref name="rollback"/> on <paramref name="transaction"/>: conditioned on the model's hash being as read
    /// (so of two members only one rolls back), the records written and <paramref name="reason"/> recorded as the policy's.
    /// </summary>
    public void QueueRollback(ITransaction transaction, PlannedRollback rollback, string reason)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(rollback);
        var key = ModelKey(rollback.Model);
        transaction.AddCondition(Condition.HashLengthEqual(key, rollback.Read.Count));
        foreach (var (field, value) in rollback.Read)
        {
            transaction.AddCondition(Condition.HashEqual(key, field, value));
        }

        foreach (var record in rollback.Changed)
        {
            _ = transaction.HashSetAsync(key, record.Version, JsonSerializer.Serialize(record, Json));
        }

        var restored = rollback.Changed[0];
        History.Append(transaction, new StageChange(rollback.Model, rollback.Degraded, "rollback", ModelStage.Production, ModelStage.Archived,
            restored.StageChangedAtMs, StageChange.Policy, [], false, reason, rollback.Restored));
    }

    /// <summary>Queues on <paramref name="transaction"/> the record of a retraining request the policy sent for <paramref name="version"/>.</summary>
    public void QueueRetrainRecord(ITransaction transaction, string model, string version, string reason)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        History.Append(transaction, new StageChange(model, version, "retrain", ModelStage.Production, ModelStage.Production, now, StageChange.Policy, [], false, reason, null));
    }

    /// <summary>Announces a committed rollback on <see cref="ChangesChannel"/>, as a promotion of the restored version.</summary>
    public Task AnnounceAsync(PlannedRollback rollback)
    {
        ArgumentNullException.ThrowIfNull(rollback);
        return _db.PublishAsync(ChangesChannel, $"{_project}:{rollback.Model}:{rollback.Restored}:production");
    }

    /// <summary>A record as JSON (snake_case, stages by name), as stored.</summary>
    public static string ToJson(ModelVersionRecord record) => JsonSerializer.Serialize(record, Json);

    private static ModelVersionRecord Parse(RedisValue value) =>
        JsonSerializer.Deserialize<ModelVersionRecord>(value.ToString(), Json) ?? throw new InvalidDataException("empty model version record");
}
