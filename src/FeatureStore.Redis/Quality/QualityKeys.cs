using System.Globalization;
using StackExchange.Redis;

namespace FeatureStore.Redis.Quality;

/// <summary>
/// The key layout of freshness and data-quality monitoring in the online store (docs/quality.md), shared by the
/// serving replicas and ingest members that count, the evaluator that judges and alerts, and the dashboard. Every
/// key carries the project's hash tag <c>{PROJECT}</c>, so on Redis Cluster they live in one slot and the
/// evaluator's transactions never span slots:
/// <list type="bullet">
/// <item><c>PREFIX:{PROJECT}:quality:served:BUCKET</c> — hash of the values served in one 10-second bucket, field
/// <c>VIEW:FEATURE:STATUS</c> (<c>total</c>, <c>not_found</c>, <c>outside_ttl</c>, <c>null_value</c>,
/// <c>out_of_range</c>) → count, summed over serving replicas; expires a day after the bucket.</item>
/// <item><c>PREFIX:{PROJECT}:quality:sources:BUCKET</c> — hash of the events consumed in one bucket, fields
/// <c>SOURCE:consumed</c> and <c>SOURCE:dead:REASON</c> → count, summed over ingest members.</item>
/// <item><c>PREFIX:{PROJECT}:quality:incidents</c> — hash, the freshness and quality incidents by key.</item>
/// <item><c>PREFIX:{PROJECT}:quality:status</c> — string, the latest evaluation as JSON (dashboard, <c>/metrics</c>).</item>
/// <item><c>PREFIX:{PROJECT}:quality:outbox</c> (and <c>…:due</c>, <c>…:attempts</c>, <c>…:rejected</c>) — the
/// freshness and quality alerts' outbox.</item>
/// </list>
/// BUCKET is the bucket's start in epoch ms divided by <see cref="BucketMs"/>.
/// </summary>
/// <param name="prefix">Key prefix (<c>fs</c>).</param>
/// <param name="project">The repository's project.</param>
public sealed class QualityKeys(string prefix, string project)
{
    /// <summary>The width of one counting bucket.</summary>
    public const long BucketMs = 10_000;

    /// <summary>How long a bucket is kept: the longest quality window and two buckets more.</summary>
    public static readonly TimeSpan BucketLifetime = TimeSpan.FromMilliseconds((24 * 3_600_000) + (2 * BucketMs));

    /// <summary><c>PREFIX:{PROJECT}:quality</c>, the start of every key here.</summary>
    public string Base { get; } = $"{prefix}:{{{project}}}:quality";

    /// <summary>The bucket holding the instant <paramref name="ms"/>.</summary>
    public static long Bucket(long ms) => Math.DivRem(ms, BucketMs) is var (q, r) && r < 0 ? q - 1 : q;

    /// <summary>The served-value counts of <paramref name="bucket"/>.</summary>
    public RedisKey Served(long bucket) => $"{Base}:served:{bucket.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The consumed and dead-lettered counts of <paramref name="bucket"/>.</summary>
    public RedisKey Sources(long bucket) => $"{Base}:sources:{bucket.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The freshness and quality incidents.</summary>
    public RedisKey Incidents => $"{Base}:incidents";

    /// <summary>The latest evaluation.</summary>
    public RedisKey Status => $"{Base}:status";

    /// <summary>The alerts' outbox.</summary>
    public RedisKey Outbox => $"{Base}:outbox";
}
