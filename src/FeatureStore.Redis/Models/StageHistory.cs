using System.Text.Json;
using System.Text.Json.Serialization;
using FeatureStore.Core.Models;
using StackExchange.Redis;

namespace FeatureStore.Redis.Models;

/// <summary>
/// Each model's stage history, <c>PREFIX:{project}:stages:MODEL</c>: a list of <see cref="StageChange"/> as JSON,
/// oldest first, the newest <see cref="Limit"/> kept. Entries are appended in the transaction of the change they
/// record, so the history never shows a change that did not happen, nor misses one that did.
/// </summary>
public sealed class StageHistory
{
    /// <summary>Entries kept per model.</summary>
    public const int Limit = 1000;

    /// <summary>The history's JSON form (snake_case, stages by name), also the API's.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private readonly IDatabase _db;
    private readonly string _base;

    /// <summary>The history of <paramref name="project"/>'s models under <paramref name="keyPrefix"/>.</summary>
    public StageHistory(IDatabase database, string keyPrefix, string project)
    {
        ArgumentNullException.ThrowIfNull(database);
        _db = database;
        _base = $"{keyPrefix}:{{{project}}}:stages";
    }

    /// <summary>The list of <paramref name="model"/>'s entries.</summary>
    public RedisKey Key(string model) => $"{_base}:{model}";

    /// <summary>Queues the append of <paramref name="change"/> on <paramref name="transaction"/>.</summary>
    public void Append(ITransaction transaction, StageChange change)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(change);
        _ = transaction.ListRightPushAsync(Key(change.Model), ToJson(change));
        _ = transaction.ListTrimAsync(Key(change.Model), -Limit, -1);
    }

    /// <summary>The newest <paramref name="limit"/> entries of <paramref name="model"/>, oldest first.</summary>
    public async Task<IReadOnlyList<StageChange>> ReadAsync(string model, int limit = Limit)
    {
        var values = await _db.ListRangeAsync(Key(model), -Math.Clamp(limit, 1, Limit), -1).ConfigureAwait(false);
        return [.. values.Select(v => JsonSerializer.Deserialize<StageChange>(v.ToString(), Json) ?? throw new InvalidDataException("empty stage change"))];
    }

    /// <summary>One entry as JSON.</summary>
    public static string ToJson(StageChange change) => JsonSerializer.Serialize(change, Json);
}
