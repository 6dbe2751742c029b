using System.Globalization;
using FeatureStore.Core.Definitions;
using StackExchange.Redis;

namespace FeatureStore.Redis.Registry;

/// <summary>One applied version of a feature repository, as the registry keeps it.</summary>
/// <param name="Version">1, 2, 3… in the order applied.</param>
/// <param name="ContentHash">SHA-256 of the canonical form; equal meaning, equal hash.</param>
/// <param name="CanonicalJson">The repository in canonical JSON.</param>
/// <param name="SourceText">The YAML as the user wrote it.</param>
/// <param name="AppliedAt">When it was applied (UTC).</param>
/// <param name="LayoutJson">Its views' state groups (<see cref="StateLayout"/>), or null for a version stored before layouts (each view in one group).</param>
/// <param name="Switched">For a version that only switched a built group in (<c>VIEW:SIGNATURE</c>), or null.</param>
public sealed record RegistryVersion(long Version, string ContentHash, string CanonicalJson, string SourceText, DateTimeOffset AppliedAt, string? LayoutJson = null, string? Switched = null)
{
    /// <summary>Loads the repository and its state layout (the default one when none was stored); throws when the stored text does not load.</summary>
    public AppliedRepository Load(string project)
    {
        var load = FeatureRepositoryLoader.LoadFromText(SourceText, $"{project}@{Version.ToString(CultureInfo.InvariantCulture)}");
        if (!load.Success)
        {
            throw new InvalidOperationException($"registry version {Version} of '{project}' does not load: {string.Join("; ", load.Diagnostics)}");
        }

        var repository = load.Repository!;
        return new AppliedRepository(Version, repository, LayoutJson is null ? StateLayout.Default(repository) : StateLayout.FromJson(LayoutJson), AppliedAt);
    }
}

/// <summary>An applied version, loaded: the repository and how its views' online state is grouped.</summary>
/// <param name="Version">Its number.</param>
/// <param name="Repository">The repository.</param>
/// <param name="Layout">Its views' state groups.</param>
/// <param name="AppliedAt">When it was stored.</param>
public sealed record AppliedRepository(long Version, FeatureRepository Repository, StateLayout Layout, DateTimeOffset AppliedAt)
{
    /// <summary>The repository compiled with its layout.</summary>
    public CompiledRepository Compile() => CompiledRepository.Compile(Repository, Layout);
}

/// <summary>What <see cref="RegistryStore.ApplyAsync(string, string, string, string, CancellationToken)"/> did.</summary>
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
    /// distinct, consecutive version numbers (optimistic transaction on the head key). The version's state
    /// layout is derived from the current version's (<see cref="StateLayout.Next"/>): unchanged features keep
    /// their state, added and changed ones get a group built beside them.
    /// </summary>
    public Task<ApplyOutcome> ApplyAsync(string project, string contentHash, string canonicalJson, string sourceText, CancellationToken cancellationToken = default)
    {
        // A text that does not load (only tests store such) gets no layout: readers take the default.
        var load = FeatureRepositoryLoader.LoadFromText(sourceText, project);
        return ApplyAsync(project, contentHash, canonicalJson, sourceText, load.Success ? load.Repository : null, cancellationToken);
    }

    /// <summary>Stores <paramref name="repository"/>, written as <paramref name="sourceText"/>, as with <see cref="ApplyAsync(string, string, string, string, CancellationToken)"/>.</summary>
    public Task<ApplyOutcome> ApplyAsync(FeatureRepository repository, string sourceText, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        return ApplyAsync(repository.Project, repository.ContentHash(), repository.ToCanonicalJson(), sourceText, repository, cancellationToken);
    }

    private async Task<ApplyOutcome> ApplyAsync(string project, string contentHash, string canonicalJson, string sourceText, FeatureRepository? repository, CancellationToken cancellationToken)
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
            var previous = current.HasValue ? await GetVersionAsync(project, currentVersion).ConfigureAwait(false) : null;
            var tran = _db.CreateTransaction();
            tran.AddCondition(current.HasValue ? Condition.StringEqual(head, current) : Condition.KeyNotExists(head));
            var fields = new List<HashEntry>
            {
                new("hash", contentHash),
                new("canonical", canonicalJson),
                new("source", sourceText),
                new("applied_at", _time.GetUtcNow().ToUnixTimeMilliseconds()),
            };
            if (repository is not null)
            {
                fields.Add(new HashEntry("layout", NextLayout(project, previous, repository, next).ToJson()));
            }

            _ = tran.HashSetAsync(VersionKey(project, next), [.. fields]);
            _ = tran.StringSetAsync(head, next);
            if (await tran.ExecuteAsync().ConfigureAwait(false))
            {
                await _db.PublishAsync(ChangesChannel, $"{project}:{next.ToString(CultureInfo.InvariantCulture)}").ConfigureAwait(false);
                return new ApplyOutcome(next, Changed: true);
            }
        }

        throw new InvalidOperationException($"registry of '{project}' kept changing under {MaxApplyAttempts} apply attempts");
    }

    /// <summary>
    /// Switches the building group <paramref name="signature"/> of <paramref name="view"/> in: stores a new
    /// version, the current one with that group serving, on condition that the current version still has it
    /// building (an apply in between that replaced it wins). Returns the new version, or null when there was no
    /// such group to switch.
    /// </summary>
    public async Task<long?> SwitchAsync(string project, string view, string signature, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(project);
        var head = HeadKey(project);
        for (var attempt = 0; attempt < MaxApplyAttempts; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var current = await _db.StringGetAsync(head).ConfigureAwait(false);
            if (!current.HasValue || await GetVersionAsync(project, (long)current).ConfigureAwait(false) is not { LayoutJson: { } json } version)
            {
                return null;
            }

            if (StateLayout.FromJson(json).Switched(view, signature) is not { } switched)
            {
                return null;
            }

            var next = version.Version + 1;
            var tran = _db.CreateTransaction();
            tran.AddCondition(Condition.StringEqual(head, current));
            _ = tran.HashSetAsync(VersionKey(project, next),
            [
                new HashEntry("hash", version.ContentHash),
                new HashEntry("canonical", version.CanonicalJson),
                new HashEntry("source", version.SourceText),
                new HashEntry("applied_at", _time.GetUtcNow().ToUnixTimeMilliseconds()),
                new HashEntry("layout", switched.ToJson()),
                new HashEntry("switched", $"{view}:{signature}"),
            ]);
            _ = tran.StringSetAsync(head, next);
            if (await tran.ExecuteAsync().ConfigureAwait(false))
            {
                await _db.PublishAsync(ChangesChannel, $"{project}:{next.ToString(CultureInfo.InvariantCulture)}").ConfigureAwait(false);
                return next;
            }
        }

        throw new InvalidOperationException($"registry of '{project}' kept changing under {MaxApplyAttempts} switch attempts");
    }

    /// <summary>The current version loaded with its state layout, or null when nothing was applied.</summary>
    public async Task<AppliedRepository?> LoadCurrentAsync(string project) =>
        (await GetCurrentAsync(project).ConfigureAwait(false))?.Load(project);

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
        var fields = await _db.HashGetAsync(VersionKey(project, version), ["hash", "canonical", "source", "applied_at", "layout", "switched"]).ConfigureAwait(false);
        if (!fields[0].HasValue)
        {
            return null;
        }

        return new RegistryVersion(
            version,
            fields[0].ToString(),
            fields[1].ToString(),
            fields[2].ToString(),
            DateTimeOffset.FromUnixTimeMilliseconds((long)fields[3]),
            fields[4].HasValue ? fields[4].ToString() : null,
            fields[5].HasValue ? fields[5].ToString() : null);
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

    // The layout of the version about to be stored: from the current version's (its own, or the default of its
    // repository).
    private static StateLayout NextLayout(string project, RegistryVersion? previous, FeatureRepository repository, long next)
    {
        AppliedRepository? before = null;
        try
        {
            before = previous?.Load(project);
        }
        catch (InvalidOperationException)
        {
            // a stored text that does not load: the new version starts from its default layout
        }

        return StateLayout.Next(before?.Repository, before?.Layout, repository, next);
    }

    private RedisKey HeadKey(string project) => $"{_prefix}:{{{project}}}:registry:head";

    private RedisKey VersionKey(string project, long version) =>
        $"{_prefix}:{{{project}}}:registry:v:{version.ToString(CultureInfo.InvariantCulture)}";
}
