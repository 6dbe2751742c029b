using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Redis;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Testing;

/// <summary>What a test reads of one view: which entities.</summary>
public readonly record struct ViewRead(CompiledView View, IReadOnlyList<string> EntityKeys);

/// <summary>
/// Feature values as the online store holds them, for tests that compare what ingest stored with a
/// reference: every entity of every view read in one round trip by serving's reader
/// (<see cref="OnlineStateReader"/>): the hash of each serving state group of the view, each group's partition
/// shares merged and evaluated at the asked time with the one §4 implementation (<see cref="ViewWindowState"/>),
/// each feature taken from its group's slot (<see cref="CompiledView.PlaceOf"/>); a feature whose group is
/// building reads nothing and is <see cref="ValueStatus.Building"/>.
/// </summary>
public sealed class OnlineStoreValues(IDatabase database, OnlineKeys keys)
{
    private readonly OnlineStateReader _reader = new(database, OnlineStoreConnection.IsClusterOf(database.Multiplexer) ? OnlineReadStrategy.Pipeline : OnlineReadStrategy.Script);

    /// <summary>
    /// Values per view, per entity (in request order), per feature (in view order). The flag says whether
    /// every value was exact at <paramref name="atMs"/> (false when it falls inside a tile whose raw entries
    /// were already compacted and that holds later events).
    /// </summary>
    public async Task<(FeatureValue[][][] Values, bool Exact)> ReadAsync(IReadOnlyList<ViewRead> reads, long atMs)
    {
        ArgumentNullException.ThrowIfNull(reads);
        var entityKeys = new RedisKey[reads.Sum(r => r.EntityKeys.Count * r.View.Groups.Count)];
        var n = 0;
        foreach (var read in reads)
        {
            foreach (var entity in read.EntityKeys)
            {
                foreach (var group in read.View.Groups.Where(g => !g.Building))
                {
                    entityKeys[n++] = keys.Entity(group, entity);
                }
            }
        }

        using var shares = await _reader.ReadAsync(entityKeys, n, TimeSpan.FromSeconds(30), CancellationToken.None);
        return Evaluate(shares, reads, atMs);
    }

    private static (FeatureValue[][][] Values, bool Exact) Evaluate(StoredShares shares, IReadOnlyList<ViewRead> reads, long atMs)
    {
        var reader = shares.Reader();
        var exact = true;
        var result = new FeatureValue[reads.Count][][];
        for (var v = 0; v < reads.Count; v++)
        {
            var view = reads[v].View;
            result[v] = new FeatureValue[reads[v].EntityKeys.Count][];
            for (var e = 0; e < reads[v].EntityKeys.Count; e++)
            {
                var values = new FeatureValue[view.Features.Count];
                Array.Fill(values, FeatureValue.Null(ValueStatus.Building));
                for (var g = 0; g < view.Groups.Count; g++)
                {
                    var group = view.Groups[g];
                    if (group.Building)
                    {
                        continue;
                    }

                    var state = new ViewWindowState(group.Features, view.TtlMs);
                    for (var s = reader.NextKey(); s > 0; s--)
                    {
                        state.MergeFrom(ViewWindowState.ReadFrom(reader.NextShare(), group.Features, view.TtlMs));
                    }

                    var slots = new FeatureValue[group.Features.Count];
                    exact &= state.Evaluate(atMs, slots);
                    for (var f = 0; f < values.Length; f++)
                    {
                        if (view.PlaceOf(f) is var (at, slot) && at == g)
                        {
                            values[f] = slots[slot];
                        }
                    }
                }

                result[v][e] = values;
            }
        }

        return (result, exact);
    }
}
