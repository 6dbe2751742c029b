using System.Buffers;
using System.Text;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.History;
using FeatureStore.Redis;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Ingest.History;

/// <summary>
/// Gives every entity of a view its history's state in the online store: one share field <c>history:ID</c>
/// (the import id's first 16 digits) beside the partition fields <c>TOPIC:P</c> of its hash, which lookups
/// merge with them like any share. The state is built from the entity's events (sorted by time and position)
/// with the same <see cref="ViewWindowState"/> code as ingest and compacted as ingest compacts it; the field is
/// written whole, so a rerun of the import writes the same bytes. Entities whose whole history lies outside
/// the view's ttl now are skipped (they matter offline only). The key's expiry is the history's (newest event
/// + ttl + lateness), never shortening one the stream set.
/// </summary>
public sealed class HistoryOnlineWriter(IDatabase database, OnlineKeys keys, long allowedLatenessMs, Func<long>? clock = null) : IHistoryOnlineSink
{
    // Per key: HSET the share, then lengthen the expiry to the history's when the key has none or a shorter one.
    private const string Script = """
        for i = 1, #KEYS do
          local at = (i - 1) * 3 + 1
          redis.call('HSET', KEYS[i], ARGV[at], ARGV[at + 1])
          local ms = tonumber(ARGV[at + 2])
          if redis.call('PTTL', KEYS[i]) < ms then redis.call('PEXPIRE', KEYS[i], ms) end
        end
        return #KEYS
        """;

    private const int BatchEntities = 256;
    private const int InFlight = 4;

    // As the ingest job's shares (OnlineTileWriter.MaxRawEntriesPerShare).
    private const int MaxRawEntriesPerShare = 1024;

    // The hand-over only moves forward: a later import of older history keeps the newer cut-over.
    private const string CutoverScript = """
        local stored = redis.call('HGET', KEYS[1], 'cutover_ms')
        if not stored or tonumber(stored) < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], 'cutover_ms', ARGV[2]) end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        return 1
        """;

    /// <summary>The cut-over ingest honours for <paramref name="source"/>, or <see cref="long.MinValue"/> without an import.</summary>
    public static long StoredCutover(IDatabase database, OnlineKeys keys, string source)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(keys);
        var stored = database.HashGet(keys.History(source), "cutover_ms");
        return stored.IsNull ? long.MinValue : (long)stored;
    }

    /// <inheritdoc/>
    public async Task RecordCutoverAsync(CompiledSource source, string importId, long cutoverMs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        await database.ScriptEvaluateAsync(CutoverScript, [keys.History(source.Definition.Name)], ["import:" + importId[..16], cutoverMs]).ConfigureAwait(false);
    }

    /// <summary>The field of an import's share.</summary>
    public static RedisValue HistoryField(string importId) => "history:" + importId[..16];

    /// <inheritdoc/>
    public Task<long> WriteAsync(CompiledView view, IEnumerable<SpillRecord> sorted, string importId, long cutoverMs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(view);
        // A group being built gets the history from the event log (which holds the import) when it is rebuilt.
        return WriteAsync([.. view.Groups.Where(g => !g.Building)], sorted, HistoryField(importId), cutoverMs, cancellationToken);
    }

    /// <summary>
    /// Writes the state of every entity of <paramref name="sorted"/> (events before <paramref name="beforeMs"/>)
    /// into field <paramref name="field"/> of its hash in each of <paramref name="groups"/> (groups of one view;
    /// the records' inputs are the view's features', see <see cref="HistoryInputs"/>).
    /// </summary>
    /// <returns>The entities written (those whose events still lie within the view's ttl).</returns>
    public async Task<long> WriteAsync(IReadOnlyList<StateGroup> groups, IEnumerable<SpillRecord> sorted, RedisValue field, long beforeMs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(sorted);
        if (groups.Count == 0)
        {
            return 0;
        }

        var view = groups[0].View;
        var now = clock?.Invoke() ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var states = groups.Select(g => new ViewWindowState(g.Features, g.TtlMs)).ToArray();
        var slotFeatures = groups.Select(g => SlotFeatures(view, g)).ToArray();
        var inputs = new FeatureInput[view.Features.Count];
        var groupInputs = groups.Select(g => new FeatureInput[g.Features.Count]).ToArray();
        var encoded = new ArrayBufferWriter<byte>(4096);
        var batchKeys = new List<RedisKey>(BatchEntities);
        var batchValues = new List<RedisValue>(BatchEntities * 3);
        var pending = new Queue<Task>();
        var clustered = OnlineStoreConnection.IsClusterOf(database.Multiplexer);
        long written = 0;
        byte[]? entity = null;
        long? newest = null;

        async Task FlushAsync()
        {
            if (batchKeys.Count == 0)
            {
                return;
            }

            if (clustered)
            {
                // A cluster refuses a script across slots: one per slot (each key's write stands alone anyway).
                foreach (var slot in Enumerable.Range(0, batchKeys.Count).GroupBy(i => database.Multiplexer.HashSlot(batchKeys[i])))
                {
                    pending.Enqueue(database.ScriptEvaluateAsync(Script, [.. slot.Select(i => batchKeys[i])], [.. slot.SelectMany(i => batchValues.GetRange(3 * i, 3))]));
                }
            }
            else
            {
                pending.Enqueue(database.ScriptEvaluateAsync(Script, [.. batchKeys], [.. batchValues]));
            }

            batchKeys.Clear();
            batchValues.Clear();
            while (pending.Count >= InFlight)
            {
                await pending.Dequeue().ConfigureAwait(false);
            }
        }

        async Task CloseAsync()
        {
            if (entity is null || newest is not { } last)
            {
                return;
            }

            var expiry = last + view.TtlMs + allowedLatenessMs - now;
            if (expiry <= 0)
            {
                return;
            }

            var key = Encoding.UTF8.GetString(entity);
            for (var g = 0; g < groups.Count; g++)
            {
                var state = states[g];
                state.Compact(rawBefore: last - allowedLatenessMs - groups[g].MaxHopMs, queriesFrom: last - view.TtlMs - allowedLatenessMs, MaxRawEntriesPerShare);
                encoded.ResetWrittenCount();
                state.WriteTo(encoded);
                batchKeys.Add(keys.Entity(groups[g], key));
                batchValues.Add(field);
                batchValues.Add(encoded.WrittenSpan.ToArray());
                batchValues.Add(expiry);
            }

            written++;
            if (batchKeys.Count >= BatchEntities)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await FlushAsync().ConfigureAwait(false);
            }
        }

        foreach (var record in sorted)
        {
            if (record.Time >= beforeMs)
            {
                continue; // the stream's
            }

            if (entity is null || !record.Key.AsSpan().SequenceEqual(entity))
            {
                await CloseAsync().ConfigureAwait(false);
                entity = record.Key;
                newest = null;
                foreach (var state in states)
                {
                    state.Reset();
                }
            }

            HistoryInputs.Decode(record.Payload, inputs);
            for (var g = 0; g < groups.Count; g++)
            {
                var into = groupInputs[g];
                var features = slotFeatures[g];
                for (var s = 0; s < into.Length; s++)
                {
                    into[s] = features[s] < 0 ? FeatureInput.Absent : inputs[features[s]];
                }

                states[g].Add(record.Time, record.Position, into);
            }

            newest = Math.Max(newest ?? long.MinValue, record.Time);
        }

        await CloseAsync().ConfigureAwait(false);
        await FlushAsync().ConfigureAwait(false);
        while (pending.Count > 0)
        {
            await pending.Dequeue().ConfigureAwait(false);
        }

        return written;
    }

    // Per slot of the group, the view feature whose input feeds it (-1: a dead slot, fed nothing).
    private static int[] SlotFeatures(CompiledView view, StateGroup group)
    {
        var features = new int[group.Features.Count];
        Array.Fill(features, -1);
        for (var f = 0; f < view.Features.Count; f++)
        {
            var (g, slot) = view.PlaceOf(f);
            if (view.Groups[g] == group)
            {
                features[slot] = f;
            }
        }

        return features;
    }
}
