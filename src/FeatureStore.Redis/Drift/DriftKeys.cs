using StackExchange.Redis;

namespace FeatureStore.Redis.Drift;

/// <summary>
/// The key layout of the drift monitor's data in the online store (documented in the README), shared by the
/// monitor that writes it and the server, dashboard and CLI that read it. Every key carries the project's hash
/// tag <c>{PROJECT}</c>, as the registry's do, so on Redis Cluster they all live in one slot and the monitor's
/// transactions (a window's history entry with its alerts, incidents and offsets) never span slots:
/// <list type="bullet">
/// <item><c>PREFIX:{PROJECT}:drift:baseline:MODEL:VERSION</c> — string, the baseline as JSON.</item>
/// <item><c>PREFIX:{PROJECT}:drift:history:MODEL:VERSION</c> — sorted set of evaluated windows scored by window end.</item>
/// <item><c>PREFIX:{PROJECT}:drift:evaluated:MODEL:VERSION:COLUMN</c> — hash, the prediction offsets evaluated windows cover.</item>
/// <item><c>PREFIX:{PROJECT}:drift:incidents</c> — hash, the open and resolved incidents.</item>
/// <item><c>PREFIX:{PROJECT}:drift:retrain</c> — hash, the retraining triggers' states.</item>
/// <item><c>PREFIX:{PROJECT}:drift:degradation</c> — hash, the degradation policy's runs of drifted windows (models without performance monitors).</item>
/// <item><c>PREFIX:{PROJECT}:drift:outbox</c>, <c>…:outbox:due</c>, <c>…:outbox:attempts</c>, <c>…:outbox:rejected</c> —
/// the alert outbox: alerts by id, due times, attempt counts, alerts given up on.</item>
/// <item><c>PREFIX:{PROJECT}:drift:reference:MODEL:VERSION</c> — string, the version's reference performance as JSON.</item>
/// <item><c>PREFIX:{PROJECT}:drift:performance:MODEL:VERSION</c> — sorted set of closed performance windows scored by window end.</item>
/// <item><c>PREFIX:{PROJECT}:drift:labels:MODEL</c> — hash, the label join's counters (joined, duplicate, late, unmatched, pending).</item>
/// <item><c>PREFIX:{PROJECT}:drift:join:…</c> — the label join's state (logged predictions, pending labels, open windows, offsets).</item>
/// <item><c>PREFIX:{PROJECT}:drift:layout</c> — string, set once the keys of the earlier untagged layout
/// (<c>PREFIX:PROJECT:drift:…</c>) were moved here (<see cref="DriftLayoutUpgrade"/>).</item>
/// </list>
/// </summary>
/// <param name="prefix">Key prefix (<c>fs</c>).</param>
/// <param name="project">The repository's project.</param>
public sealed class DriftKeys(string prefix, string project)
{
    /// <summary><c>PREFIX:{PROJECT}:drift</c>, the start of every key here.</summary>
    public string Base { get; } = $"{prefix}:{{{project}}}:drift";

    /// <summary>
    /// <c>PREFIX:PROJECT:drift</c>, the start of every key of the earlier layout, without the hash tag: read only to
    /// move such keys here.
    /// </summary>
    public string UntaggedBase { get; } = $"{prefix}:{project}:drift";

    /// <summary>A model version's baseline.</summary>
    public RedisKey Baseline(string model, string version) => $"{Base}:baseline:{model}:{version}";

    /// <summary>A model version's history of evaluated windows.</summary>
    public RedisKey History(string model, string version) => $"{Base}:history:{model}:{version}";

    /// <summary>The offsets a monitor's evaluated windows of one column cover.</summary>
    public RedisKey Evaluated(string model, string version, string column) => $"{Base}:evaluated:{model}:{version}:{column}";

    /// <summary>A model version's reference performance.</summary>
    public RedisKey Reference(string model, string version) => $"{Base}:reference:{model}:{version}";

    /// <summary>A model version's history of closed performance windows.</summary>
    public RedisKey Performance(string model, string version) => $"{Base}:performance:{model}:{version}";

    /// <summary>A model's label join counters.</summary>
    public RedisKey Labels(string model) => $"{Base}:labels:{model}";

    /// <summary>The start of the label join's keys for <paramref name="model"/>: <c>PREFIX:{PROJECT}:drift:join:MODEL</c>.</summary>
    public string Join(string model) => $"{Base}:join:{model}";

    /// <summary>The incidents.</summary>
    public RedisKey Incidents => $"{Base}:incidents";

    /// <summary>The retraining triggers' states.</summary>
    public RedisKey Retrain => $"{Base}:retrain";

    /// <summary>The degradation policy's runs of drifted windows, for models without a performance monitor.</summary>
    public RedisKey Degradation => $"{Base}:degradation";

    /// <summary>The outbox: alert id → alert JSON.</summary>
    public RedisKey Outbox => $"{Base}:outbox";

    /// <summary>The outbox's due times: sorted set of alert ids scored by when to send next.</summary>
    public RedisKey OutboxDue => $"{Base}:outbox:due";

    /// <summary>The outbox's attempt counts.</summary>
    public RedisKey OutboxAttempts => $"{Base}:outbox:attempts";

    /// <summary>Alerts the outbox gave up on.</summary>
    public RedisKey OutboxRejected => $"{Base}:outbox:rejected";

    /// <summary>Set once the keys of the untagged layout were looked for and moved (<see cref="DriftLayoutUpgrade"/>).</summary>
    public RedisKey Layout => $"{Base}:layout";

    /// <summary>The tagged name of <paramref name="untagged"/>, a key of the earlier layout (under <see cref="UntaggedBase"/>).</summary>
    public RedisKey Tagged(string untagged)
    {
        ArgumentNullException.ThrowIfNull(untagged);
        if (!untagged.StartsWith(UntaggedBase + ":", StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{untagged}' is not a key under {UntaggedBase}", nameof(untagged));
        }

        return Base + untagged[UntaggedBase.Length..];
    }
}
