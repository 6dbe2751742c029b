using System.Globalization;
using StackExchange.Redis;

namespace FeatureStore.Redis.Registry;

/// <summary>One applied version of a feature repository, as the registry keeps it.</summary>
/// <param name="Version">1, 2, 3… in the order applied.</param>
/// <param name="ContentHash">SHA-256 of the canonical form; equal meaning, equal hash.</param>
/// <param name="CanonicalJson">The repository in canonical JSON.</param>
/// <param name="SourceText">The YAML as the user wrote it.</param>
/// <param name="AppliedAt">When it was applied (UTC).</param>
public sealed record RegistryVersion(long Version, string ContentHash, string CanonicalJson, string SourceText, DateTimeOffset AppliedAt);

/// <summary>What <see cref="RegistryStore.ApplyAsync"/> did.</summary>
/// <param name="Version">The version now current.</param>
/// <param name="Changed">False when the content equalled the current version, which then stays current.</param>
public readonly record struct ApplyOutcome(long Version, bool Changed);

/// <summary>
/// Keeps every applied version of each project's feature repository in the online store, so every
/// instance sees the same definitions. Keys share the hash tag <c>{project}</c> (one Redis Cluster slot):
/// <c>PREFIX:{project}:registry:head</c> (current version number) and
/// <c>PREFIX:{project}:registry:v:N</c> (hash: hash, canonical, source, applied_at).
/// Applying publishes <c>project:N</c> on <c>PREFIX:registry:changed</c>.
/// </summary>
public sealed class RegistryStore
{
    private const int MaxApplyAttempts = 16;
    private readonly IDatabase _db;
    private readonly string _prefix;
    private readonly TimeProvider _time;

    /// <summary>Creates a store over <paramref name="database"/>.</summary>
    public RegistryStore(IDatabase database, string keyPrefix = "fs", TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyPrefix);
        _db = database;
        _prefix = keyPrefix;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The pub/sub channel on which applied versions are announced as <c>project:N</c>.</summary>
    public RedisChannel ChangesChannel => RedisChannel.Literal($"{_prefix}:registry:changed");

    /// <summary>
    /// Stores a new version unless its content hash equals the current one. Concurrent applies get
    /// distinct, consecutive version numbers (optimistic transaction on the head key).
    /// </summary>
    public async Task<ApplyOutcome> ApplyAsync(string project, string contentHash, string canonicalJson, string sourceText, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(project);
        ArgumentException.ThrowIfNullOrWhiteSpace(contentHash);
        var head = HeadKey(project);
        for (var attempt = 0; attempt < MaxApplyAttempts; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var current = await _db.StringGetAsync(head).ConfigureAwait(false);
            long currentVersion = 0;
            if (current.HasValue)
            {
                currentVersion = (long)current;
                var currentHash = await _db.HashGetAsync(VersionKey(project, currentVersion), "hash").ConfigureAwait(false);
                if (currentHash == contentHash)
                {
                    return new ApplyOutcome(currentVersion, Changed: false);
                }
            }

            var next = currentVersion + 1;
            var tran = _db.CreateTransaction();
            tran.AddCondition(current.HasValue ? Condition.StringEqual(head, current) : Condition.KeyNotExists(head));
            _ = tran.HashSetAsync(VersionKey(project, next),
            [
                new HashEntry("hash", contentHash),
                new HashEntry("canonical", canonicalJson),
                new HashEntry("source", sourceText),
                new HashEntry("applied_at", _time.GetUtcNow().ToUnixTimeMilliseconds()),
            ]);
            _ = tran.StringSetAsync(head, next);
            if (await tran.ExecuteAsync().ConfigureAwait(false))
            {
                await _db.PublishAsync(ChangesChannel, $"{project}:{next.ToString(CultureInfo.InvariantCulture)}").ConfigureAwait(false);
                return new ApplyOutcome(next, Changed: true);
            }
        }

        throw new InvalidOperationException($"registry of '{project}' kept changing under {MaxApplyAttempts} apply attempts");
    }

    /// <summary>The current version, or null when nothing was applied.</summary>
    public async Task<RegistryVersion?> GetCurrentAsync(string project)
    {
        var current = await _db.StringGetAsync(HeadKey(project)).ConfigureAwait(false);
        return current.HasValue ? await GetVersionAsync(project, (long)current).ConfigureAwait(false) : null;
    }

    /// <summary>The current version number, or 0 when nothing was applied.</summary>
    public async Task<long> GetCurrentVersionNumberAsync(string project)
    {
        var current = await _db.StringGetAsync(HeadKey(project)).ConfigureAwait(false);
        return current.HasValue ? (long)current : 0;
    }

    /// <summary>A given version, or null when it does not exist.</summary>
    public async Task<RegistryVersion?> GetVersionAsync(string project, long version)
    {
        var fields = await _db.HashGetAsync(VersionKey(project, version), ["hash", "canonical", "source", "applied_at"]).ConfigureAwait(false);
        if (!fields[0].HasValue)
        {
            return null;
        }

        return new RegistryVersion(
            version,
            fields[0].ToString(),
            fields[1].ToString(),
            fields[2].ToString(),
            DateTimeOffset.FromUnixTimeMilliseconds((long)fields[3]));
    }

    /// <summary>Every version, oldest first (all fetched in one pipelined batch).</summary>
    public async Task<IReadOnlyList<RegistryVersion>> ListAsync(string project)
    {
        var head = await GetCurrentVersionNumberAsync(project).ConfigureAwait(false);
        var tasks = new Task<RegistryVersion?>[head];
        for (var v = 1; v <= head; v++)
        {
            tasks[v - 1] = GetVersionAsync(project, v);
        }

        var versions = await Task.WhenAll(tasks).ConfigureAwait(false);
        return [.. versions.OfType<RegistryVersion>()];
    }

    private RedisKey HeadKey(string project) => $"{_prefix}:{{{project}}}:registry:head";

    private RedisKey VersionKey(string project, long version) =>
        $"{_prefix}:{{{project}}}:registry:v:{version.ToString(CultureInfo.InvariantCulture)}";
}
