using System.Globalization;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// One state group of a served view and, for a building one, its progress as the rebuild job last wrote it
/// in the build hash (<see cref="OnlineKeys.Build"/>: <c>state</c>, <c>rows_done</c>, <c>rows_total</c>,
/// <c>updated_ms</c>, <c>reason</c>); <see cref="State"/> is null until the job wrote anything.
/// </summary>
internal sealed record GroupStatus(
    string View, string Signature, bool Building, IReadOnlyList<string> Features, string? State, long RowsDone, long RowsTotal, long? UpdatedMs, string? Reason)
{
    /// <summary>A building group's share of rows read, 0 to 1; null while the rows to read are unknown.</summary>
    public double? Progress => Building && RowsTotal > 0 ? Math.Clamp((double)RowsDone / RowsTotal, 0, 1) : null;
}

/// <summary>
/// The state groups of every served view with the build progress of the building ones, for the dashboard,
/// <c>/metrics</c> and the registry answers: read from the store at most once per <see cref="CacheFor"/>
/// (and again when another version is served), never per lookup. A view that never changed has one serving
/// group and costs no read.
/// </summary>
internal sealed class ViewBuilds(RegistryCache registry, IConnectionMultiplexer store, FeatureServerOptions options)
{
    /// <summary>How long a read progress is reused.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(2);

    private volatile Snapshot? _last;

    /// <summary>Every group of every served view, view by view; a building group's progress left unknown when the store does not answer.</summary>
    public async Task<IReadOnlyList<GroupStatus>> ReadAsync(CancellationToken cancellationToken)
    {
        var served = registry.Current;
        var now = options.TimeProvider.GetUtcNow();
        if (_last is { } last && ReferenceEquals(last.Served, served) && now - last.At < CacheFor)
        {
            return last.Groups;
        }

        var groups = new List<GroupStatus>();
        var reads = new List<(int Index, Task<HashEntry[]> Read)>();
        var database = store.GetDatabase();
        foreach (var view in served.Views)
        {
            for (var g = 0; g < view.Groups.Count; g++)
            {
                var group = view.Groups[g];
                var features = Enumerable.Range(0, view.Features.Count).Where(f => view.PlaceOf(f).Group == g).Select(f => view.Definition.Features[f].Name).ToList();
                if (group.Building)
                {
                    reads.Add((groups.Count, database.HashGetAllAsync(registry.Keys.Build(view.Name, group.Signature))));
                }

                groups.Add(new GroupStatus(view.Name, group.Signature, group.Building, features, null, 0, 0, null, null));
            }
        }

        var complete = true;
        foreach (var (index, read) in reads)
        {
            try
            {
                var fields = (await read.WaitAsync(options.StoreTimeout, cancellationToken).ConfigureAwait(false)).ToDictionary(e => e.Name.ToString(), e => e.Value);
                groups[index] = groups[index] with
                {
                    State = fields.TryGetValue("state", out var state) ? state.ToString() : null,
                    RowsDone = Number(fields, "rows_done") ?? 0,
                    RowsTotal = Number(fields, "rows_total") ?? 0,
                    UpdatedMs = Number(fields, "updated_ms"),
                    Reason = fields.TryGetValue("reason", out var reason) ? reason.ToString() : null,
                };
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // The store is away: the groups still show, their progress unknown (and read again next time).
                complete = false;
            }
        }

        if (complete)
        {
            _last = new Snapshot(served, now, groups);
        }

        return groups;
    }

    /// <summary>The registry answer of the served version, with the building groups' progress when it has any.</summary>
    public async Task<Contracts.V1.ListDefinitionsResponse> DefinitionsAsync(CancellationToken cancellationToken)
    {
        var served = registry.Current;
        return served.Building ? RegistryAnswers.WithProgress(served.Definitions, await ReadAsync(cancellationToken).ConfigureAwait(false)) : served.Definitions;
    }

    private static long? Number(Dictionary<string, RedisValue> fields, string name) =>
        fields.TryGetValue(name, out var value) && long.TryParse(value.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : null;

    private sealed record Snapshot(ServingRepository Served, DateTimeOffset At, IReadOnlyList<GroupStatus> Groups);
}
