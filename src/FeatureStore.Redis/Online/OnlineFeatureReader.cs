using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using StackExchange.Redis;

namespace FeatureStore.Redis.Online;

/// <summary>What a lookup asks of one view: which entities, evaluated at which instant.</summary>
public readonly record struct ViewRead(CompiledView View, IReadOnlyList<string> EntityKeys);

/// <summary>
/// Reads feature values from the online store: every entity of every view in one pipelined round trip
/// (one HGETALL per entity and view), the partitions' shares merged, each evaluated at the asked time
/// with the one §4 implementation (<see cref="ViewWindowState"/>).
/// </summary>
public sealed class OnlineFeatureReader(IDatabaseAsync database, OnlineKeys keys)
{
    /// <summary>
    /// Values per view, per entity (in request order), per feature (in view order). The flag says whether
    /// every value was exact at <paramref name="atMs"/> (false when it falls inside a tile whose raw entries
    /// were already compacted and that holds later events).
    /// </summary>
    public async Task<(FeatureValue[][][] Values, bool Exact)> ReadAsync(IReadOnlyList<ViewRead> reads, long atMs)
    {
        ArgumentNullException.ThrowIfNull(reads);
        var pending = new Task<HashEntry[]>[reads.Sum(r => r.EntityKeys.Count)];
        var n = 0;
        foreach (var read in reads)
        {
            foreach (var entity in read.EntityKeys)
            {
                pending[n++] = database.HashGetAllAsync(keys.Entity(read.View, entity));
            }
        }

        var hashes = await Task.WhenAll(pending).ConfigureAwait(false);
        var exact = true;
        var result = new FeatureValue[reads.Count][][];
        n = 0;
        for (var v = 0; v < reads.Count; v++)
        {
            var view = reads[v].View;
            result[v] = new FeatureValue[reads[v].EntityKeys.Count][];
            for (var e = 0; e < reads[v].EntityKeys.Count; e++)
            {
                var state = Decode(view, hashes[n++]);
                var values = new FeatureValue[view.Features.Count];
                exact &= state.Evaluate(atMs, values);
                result[v][e] = values;
            }
        }

        return (result, exact);
    }

    /// <summary>Merges the partition shares stored in one entity hash into one state.</summary>
    public static ViewWindowState Decode(CompiledView view, HashEntry[] shares)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(shares);
        var state = new ViewWindowState(view.Features, view.TtlMs);
        foreach (var share in shares)
        {
            state.MergeFrom(ViewWindowState.ReadFrom((byte[])share.Value!, view.Features, view.TtlMs));
        }

        return state;
    }
}
