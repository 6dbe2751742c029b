using System.Text;
using StackExchange.Redis;

namespace FeatureStore.Redis.Drift;

/// <summary>What <see cref="DriftLayoutUpgrade.RunAsync"/> did.</summary>
/// <param name="Moved">Keys of the untagged layout now under their tagged names.</param>
/// <param name="Kept">
/// Keys of the untagged layout left in place because their tagged name already held other data (written by a
/// process of this version before the upgrade ran); the tagged data is what the monitor uses.
/// </param>
/// <param name="AlreadyDone">True when an earlier run had finished (<see cref="DriftKeys.Layout"/> is set): nothing was looked for.</param>
public sealed record DriftLayoutUpgradeResult(IReadOnlyList<string> Moved, IReadOnlyList<string> Kept, bool AlreadyDone);

/// <summary>
/// Moves a project's drift keys written by an earlier version (<c>PREFIX:PROJECT:drift:…</c>, no hash tag) to
/// their tagged names (<c>PREFIX:{PROJECT}:drift:…</c>, <see cref="DriftKeys"/>), so nothing an earlier monitor
/// or <c>featurestore baseline</c> stored is lost on upgrade. Every process that opens the drift keys (the
/// monitor at start, the <c>baseline</c>, <c>drift</c> and <c>model register</c> commands) runs it first; once
/// a run has looked at every master it sets <see cref="DriftKeys.Layout"/>, and later runs cost one read.
/// </summary>
/// <remarks>
/// The untagged keys are found with SCAN on every master. On one server each moves with RENAMENX: atomic, and a
/// tagged key already there is never overwritten. Redis Cluster refuses a RENAME across slots (the untagged
/// key's slot is not the project's), so there a key is copied with DUMP and RESTORE (which refuses an existing
/// target, as RENAMENX does, keeping the time to live) and then deleted. Two processes may run it at once: a key
/// the other one moved first is simply gone (or, on a cluster, its tagged copy holds the same dump), so each
/// key is moved once and reported by one of them. A run stopped part way leaves the layout key
/// unset, and the next run finishes the work. Processes of the earlier version should be stopped first: a key
/// they write after the upgrade stays under its untagged name, unread.
/// </remarks>
public static class DriftLayoutUpgrade
{
    /// <summary>The value of <see cref="DriftKeys.Layout"/>.</summary>
    public const string Done = "tagged";

    /// <summary>Moves <paramref name="keys"/>' project's untagged drift keys to their tagged names, unless that was done before.</summary>
    /// <exception cref="InvalidOperationException">A cluster node refused to copy a key (the message names it).</exception>
    public static async Task<DriftLayoutUpgradeResult> RunAsync(IDatabase database, DriftKeys keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(keys);
        if (await database.KeyExistsAsync(keys.Layout).ConfigureAwait(false))
        {
            return new DriftLayoutUpgradeResult([], [], AlreadyDone: true);
        }

        var multiplexer = database.Multiplexer;
        var cluster = OnlineStoreConnection.IsClusterOf(multiplexer);
        var pattern = EscapeGlob(keys.UntaggedBase) + ":*";
        var found = new List<string>();
        foreach (var server in multiplexer.GetServers().Where(s => !s.IsReplica))
        {
            // Collected first, moved after: SCAN tolerates keys vanishing under it, but a short list is easier to reason about.
            await foreach (var key in server.KeysAsync(database.Database, pattern, pageSize: 1000).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                found.Add(key.ToString());
            }
        }

        var moved = new List<string>();
        var kept = new List<string>();
        foreach (var untagged in found.Distinct(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var outcome = cluster
                ? await CopyAsync(database, untagged, keys.Tagged(untagged)).ConfigureAwait(false)
                : await RenameAsync(database, untagged, keys.Tagged(untagged)).ConfigureAwait(false);
            (outcome switch
            {
                Outcome.Moved => moved,
                Outcome.Kept => kept,
                _ => null,
            })?.Add(untagged);
        }

        await database.StringSetAsync(keys.Layout, Done).ConfigureAwait(false);
        return new DriftLayoutUpgradeResult(moved, kept, AlreadyDone: false);
    }

    private enum Outcome
    {
        Moved,
        Kept,
        Gone,
    }

    private static async Task<Outcome> RenameAsync(IDatabase database, RedisKey untagged, RedisKey tagged)
    {
        bool renamed;
        try
        {
            renamed = await database.KeyRenameAsync(untagged, tagged, When.NotExists).ConfigureAwait(false);
        }
        catch (RedisServerException)
        {
            // Redis says "no such key" when another process moved it between the scan and here. Anything else is
            // the server's to say.
            if (await database.KeyExistsAsync(untagged).ConfigureAwait(false))
            {
                throw;
            }

            return Outcome.Gone;
        }

        // Refused: the tagged key exists, unless the untagged one is gone (Garnet answers 0, not an error, for a
        // source another process just moved).
        return renamed ? Outcome.Moved
            : await database.KeyExistsAsync(untagged).ConfigureAwait(false) ? Outcome.Kept : Outcome.Gone;
    }

    private static async Task<Outcome> CopyAsync(IDatabase database, RedisKey untagged, RedisKey tagged)
    {
        var timeToLive = await database.KeyTimeToLiveAsync(untagged).ConfigureAwait(false);
        if (await database.KeyDumpAsync(untagged).ConfigureAwait(false) is not { } dump)
        {
            return Outcome.Gone;
        }

        try
        {
            await database.KeyRestoreAsync(tagged, dump, timeToLive).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("BUSYKEY", StringComparison.Ordinal))
        {
            // The tagged key exists. The same dump means it is this very value, copied by a run that stopped before
            // its delete or by one racing this one: the untagged key can go. Other data with the untagged key still
            // there is newer data of this version: both are kept. (A racing run deletes the untagged key before it
            // lets anything write the tagged one, so a changed tagged key with the untagged one gone is its work.)
            var existing = await database.KeyDumpAsync(tagged).ConfigureAwait(false);
            if (existing is null || !existing.AsSpan().SequenceEqual(dump))
            {
                return await database.KeyExistsAsync(untagged).ConfigureAwait(false) ? Outcome.Kept : Outcome.Gone;
            }
        }
        catch (RedisServerException ex)
        {
            throw new InvalidOperationException(
                $"cannot move drift key '{untagged}' to '{tagged}' on Redis Cluster (DUMP/RESTORE refused: {ex.Message}); copy it by hand, then delete the untagged key", ex);
        }

        // Whoever deletes the untagged key reports the move, so two runs racing report it once.
        return await database.KeyDeleteAsync(untagged).ConfigureAwait(false) ? Outcome.Moved : Outcome.Gone;
    }

    /// <summary>Escapes the characters a Redis glob pattern treats specially.</summary>
    private static string EscapeGlob(string text)
    {
        var escaped = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                escaped.Append('\\');
            }

            escaped.Append(c);
        }

        return escaped.ToString();
    }
}
