using System.Globalization;
using FeatureStore.Core.Definitions;
using FeatureStore.Ingest.History;
using FeatureStore.Parquet.History;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Ingest.Rebuild;

/// <summary>The state of a group being built, as its build hash holds it (<see cref="OnlineKeys.Build"/>).</summary>
public enum BuildState
{
    /// <summary>Nothing recorded yet.</summary>
    None,

    /// <summary>Waiting for ingest's start offsets, or for the event log to reach them (the hash says why in <c>reason</c>).</summary>
    Waiting,

    /// <summary>Reading the event log and writing the group's <c>rebuild</c> fields.</summary>
    Rebuilding,

    /// <summary>Every entity's <c>rebuild</c> field is written; the switch is next.</summary>
    Rebuilt,

    /// <summary>The group serves.</summary>
    Switched,
}

/// <summary>A group's progress, as its build hash holds it.</summary>
/// <param name="State">Where it is.</param>
/// <param name="RowsDone">Log rows read so far.</param>
/// <param name="RowsTotal">Log rows to read (from the log's commit markers).</param>
/// <param name="UpdatedMs">When it was last updated (epoch ms).</param>
/// <param name="Reason">While waiting, what for.</param>
public sealed record BuildProgress(BuildState State, long RowsDone, long RowsTotal, long UpdatedMs, string? Reason)
{
    /// <summary>The state's name in the build hash.</summary>
    public static string Name(BuildState state) => state switch
    {
        BuildState.Waiting => "waiting",
        BuildState.Rebuilding => "rebuilding",
        BuildState.Rebuilt => "rebuilt",
        BuildState.Switched => "switched",
        _ => "",
    };

    /// <summary>Reads the build hash of <paramref name="view"/>'s group <paramref name="signature"/>; null when there is none.</summary>
    public static async Task<BuildProgress?> ReadAsync(IDatabase database, OnlineKeys keys, string view, string signature)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(keys);
        var fields = await database.HashGetAsync(keys.Build(view, signature), ["state", "rows_done", "rows_total", "updated_ms", "reason"]).ConfigureAwait(false);
        if (fields[0].IsNull)
        {
            return null;
        }

        var state = fields[0].ToString() switch
        {
            "waiting" => BuildState.Waiting,
            "rebuilding" => BuildState.Rebuilding,
            "rebuilt" => BuildState.Rebuilt,
            "switched" => BuildState.Switched,
            _ => BuildState.None,
        };
        return new BuildProgress(state, Number(fields[1]), Number(fields[2]), Number(fields[3]), fields[4].IsNull ? null : fields[4].ToString());
    }

    private static long Number(RedisValue value) => value.IsNull ? 0 : (long)value;
}

/// <summary>How a <see cref="GroupRebuild"/> ended.</summary>
public enum RebuildOutcome
{
    /// <summary>Built (or found built) and switched in: the group serves.</summary>
    Switched,

    /// <summary>The group is no longer building in the registry's current version (an apply replaced it): not switched; its keys expire.</summary>
    Abandoned,
}

/// <summary>What a <see cref="GroupRebuild"/> did.</summary>
/// <param name="View">The view.</param>
/// <param name="Signature">The group's signature.</param>
/// <param name="Outcome">Switched or abandoned.</param>
/// <param name="RowsRead">Log rows read (0 when the group was found rebuilt, or abandoned before reading).</param>
/// <param name="Entities">Entities whose <c>rebuild</c> field was written.</param>
/// <param name="Version">The registry version that switched it in (null when abandoned, or switched by another run).</param>
public sealed record GroupRebuildResult(string View, string Signature, RebuildOutcome Outcome, long RowsRead, long Entities, long? Version);

/// <summary>Where a <see cref="GroupRebuild"/> reads and how it waits.</summary>
public sealed record GroupRebuildOptions
{
    /// <summary>The offline store whose event log holds the source's events.</summary>
    public required string StoreDirectory { get; init; }

    /// <summary>The ingest consumer group whose checkpoints (and start offsets of the group) it reads.</summary>
    public required string IngestGroup { get; init; }

    /// <summary>How often it looks again while waiting for ingest's start offsets or for the event log.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The folder the sorted runs are spilled to (removed at the end).</summary>
    public string SpillDirectory { get; init; } = Path.GetTempPath();

    /// <summary>Most events held in memory before a sorted run is spilled (about 100 bytes each).</summary>
    public int MaxSpillRecords { get; init; } = 500_000;

    /// <summary>Log rows between two progress updates of the build hash.</summary>
    public long ProgressEveryRows { get; init; } = 50_000;
}

/// <summary>
/// Builds one view's building state group from the event log, then switches it in (docs/evolution.md):
/// <list type="number">
/// <item><c>waiting</c> until ingest has recorded, for every partition of the source's topic it checkpointed, the
/// offset O_p from which it writes the group (<see cref="OnlineKeys.BuildStartField"/>), and the offline event log
/// reaches O_p on each of them;</item>
/// <item><c>rebuilding</c>: every event of the log's history partition and, per stream partition, those with an offset
/// below O_p, sorted by entity in bounded memory (<see cref="SpillSorter"/>), each entity's group state written whole
/// into field <c>rebuild</c> of its hash (<see cref="HistoryOnlineWriter"/>): with the stream's shares from O_p on,
/// each event is in exactly one field;</item>
/// <item><c>rebuilt</c>, then <see cref="RegistryStore.SwitchAsync"/>: <c>switched</c>; or abandoned, when an apply
/// replaced the group meanwhile (its keys expire).</item>
/// </list>
/// Every step is idempotent: the fields are overwritten with the same bytes, a group found <c>rebuilt</c> is only
/// switched, so a rerun after a crash at any point ends the same.
/// </summary>
public sealed partial class GroupRebuild
{
    private readonly IDatabase _database;
    private readonly OnlineKeys _keys;
    private readonly RegistryStore _registry;
    private readonly AppliedRepository _applied;
    private readonly GroupRebuildOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IProgress<BuildProgress>? _progress;

    /// <summary>
    /// A rebuild of the building group of <paramref name="view"/> in <paramref name="applied"/> (the registry's
    /// version that has it building). <paramref name="progress"/> gets each update of the build hash.
    /// </summary>
    /// <exception cref="ArgumentException">The view has no building group in that version.</exception>
    public GroupRebuild(IDatabase database, string keyPrefix, AppliedRepository applied, string view, GroupRebuildOptions options, ILogger logger,
        IProgress<BuildProgress>? progress = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(applied);
        ArgumentNullException.ThrowIfNull(options);
        _database = database;
        _applied = applied;
        _options = options;
        _logger = logger;
        _progress = progress;
        _time = timeProvider ?? TimeProvider.System;
        _keys = new OnlineKeys(keyPrefix, applied.Repository.Project);
        _registry = new RegistryStore(database, keyPrefix, _time);
        var compiled = applied.Compile();
        View = compiled.FindView(view) ?? throw new ArgumentException($"no view '{view}' in version {applied.Version}", nameof(view));
        Group = View.BuildingGroup ?? throw new ArgumentException($"view '{view}' has no group being built in version {applied.Version}", nameof(view));
    }

    /// <summary>The view.</summary>
    public CompiledView View { get; }

    /// <summary>The group it builds.</summary>
    public StateGroup Group { get; }

    /// <summary>The group's progress as its build hash holds it, or null.</summary>
    public Task<BuildProgress?> ReadProgressAsync() => BuildProgress.ReadAsync(_database, _keys, Group.Name, Group.Signature);

    /// <summary>Waits, rebuilds and switches (skipping what the build hash says is done).</summary>
    public async Task<GroupRebuildResult> RunAsync(CancellationToken cancellationToken)
    {
        var recorded = await ReadProgressAsync().ConfigureAwait(false);
        long rows = 0, entities = 0;
        if (recorded?.State is not (BuildState.Rebuilt or BuildState.Switched))
        {
            if (await WaitAsync(cancellationToken).ConfigureAwait(false) is not { } starts)
            {
                return Abandon(0, 0);
            }

            (rows, entities) = await RebuildAsync(starts, cancellationToken).ConfigureAwait(false);
        }

        return await SwitchAsync(rows, entities, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits (state <c>waiting</c> with its reason, looked at again every poll interval) until every partition has
    /// ingest's start offset and the log reaches it; returns, per partition, the log offset below which the
    /// rebuild reads (the history partition whole), or null when the group stopped being built meanwhile.
    /// </summary>
    public async Task<IReadOnlyDictionary<int, long>?> WaitAsync(CancellationToken cancellationToken)
    {
        string? said = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!await StillBuildingAsync().ConfigureAwait(false))
            {
                return null;
            }

            var (starts, reason) = await StartsAsync().ConfigureAwait(false);
            if (reason is null)
            {
                return starts;
            }

            if (reason != said)
            {
                LogWaiting(_logger, Group.Name, Group.Signature, reason);
                said = reason;
            }

            await SetAsync(BuildState.Waiting, 0, 0, reason).ConfigureAwait(false);
            await Task.Delay(_options.PollInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads the log below <paramref name="starts"/> and writes every entity's <c>rebuild</c> field (state
    /// <c>rebuilding</c>, rows done every <see cref="GroupRebuildOptions.ProgressEveryRows"/>), then records
    /// <c>rebuilt</c>. Returns the log rows read and the entities written.
    /// </summary>
    public async Task<(long Rows, long Entities)> RebuildAsync(IReadOnlyDictionary<int, long> starts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(starts);
        var source = View.Source.Definition.Name;
        var total = EventLogSpill.RowsToRead(_options.StoreDirectory, source, starts);
        LogRebuilding(_logger, Group.Name, Group.Signature, total, string.Join(", ", starts.OrderBy(s => s.Key).Select(s => s.Key == EventLogSpill.HistoryPartition ? "history: all" : $"{s.Key}: < {s.Value}")));
        await SetAsync(BuildState.Rebuilding, 0, total, null).ConfigureAwait(false);
        long rows;
        long entities;
        using (var sorter = new SpillSorter(_options.SpillDirectory, _options.MaxSpillRecords))
        {
            long reported = 0;
            var pending = Task.CompletedTask;
            var read = new Progress(n =>
            {
                if (n - reported >= _options.ProgressEveryRows && pending.IsCompleted)
                {
                    reported = n;
                    pending = SetAsync(BuildState.Rebuilding, Math.Min(n, total), total, null);
                }
            });
            // Only the group's features' inputs are read: the other columns of the log stay on disk.
            var group = View.Groups.ToList().IndexOf(Group);
            var features = Enumerable.Range(0, View.Features.Count).Where(f => View.PlaceOf(f).Group == group).ToHashSet();
            rows = await EventLogSpill.SpillAsync(_options.StoreDirectory, View, starts, sorter, read, cancellationToken, features).ConfigureAwait(false);
            await pending.ConfigureAwait(false);
            await SetAsync(BuildState.Rebuilding, rows, Math.Max(rows, total), null).ConfigureAwait(false);

            // The writer keeps the group's state only for entities whose events still lie within the ttl, with the
            // expiry the stream would give them, never shortening one the stream set.
            var writer = new HistoryOnlineWriter(_database, _keys, _applied.Repository.Settings.AllowedLatenessMs, () => _time.GetUtcNow().ToUnixTimeMilliseconds());
            entities = await writer.WriteAsync([Group], Heartbeat(sorter.Merge()), OnlineKeys.RebuildField, long.MaxValue, cancellationToken).ConfigureAwait(false);
        }

        await SetAsync(BuildState.Rebuilt, rows, Math.Max(rows, total), null).ConfigureAwait(false);
        LogRebuilt(_logger, Group.Name, Group.Signature, rows, entities);
        return (rows, entities);
    }

    /// <summary>
    /// Switches the group in (the registry's next version has it serving) and records <c>switched</c>; when the
    /// registry's current version no longer has it building, says whether another run switched it or an apply
    /// replaced it (then it is abandoned, with a log line).
    /// </summary>
    public async Task<GroupRebuildResult> SwitchAsync(long rows, long entities, CancellationToken cancellationToken)
    {
        var version = await _registry.SwitchAsync(_applied.Repository.Project, Group.Name, Group.Signature, cancellationToken).ConfigureAwait(false);
        if (version is null && !await ServingAsync().ConfigureAwait(false))
        {
            return Abandon(rows, entities);
        }

        var progress = await ReadProgressAsync().ConfigureAwait(false);
        await SetAsync(BuildState.Switched, progress?.RowsDone ?? rows, progress?.RowsTotal ?? rows, null).ConfigureAwait(false);
        LogSwitched(_logger, Group.Name, Group.Signature, version?.ToString(CultureInfo.InvariantCulture) ?? "an earlier run's");
        return new GroupRebuildResult(Group.Name, Group.Signature, RebuildOutcome.Switched, rows, entities, version);
    }

    private GroupRebuildResult Abandon(long rows, long entities)
    {
        LogAbandoned(_logger, Group.Name, Group.Signature);
        return new GroupRebuildResult(Group.Name, Group.Signature, RebuildOutcome.Abandoned, rows, entities, null);
    }

    // Per partition the log offset the rebuild reads below, or why it must wait. Partitions: those ingest
    // checkpointed for the source's topic, and those it marked; one with neither reads no stream event.
    private async Task<(IReadOnlyDictionary<int, long> Starts, string? Reason)> StartsAsync()
    {
        var topic = View.Source.Definition.Topic;
        var entries = await _database.HashGetAllAsync(_keys.Checkpoints(_options.IngestGroup)).ConfigureAwait(false);
        var markPrefix = (string)OnlineKeys.BuildStartField(Group.Name, Group.Signature, topic, 0)!;
        markPrefix = markPrefix[..(markPrefix.LastIndexOf(':') + 1)];
        var checkpoints = new Dictionary<int, PartitionCheckpoint>();
        var marks = new Dictionary<int, long>();
        foreach (var entry in entries)
        {
            var name = (string)entry.Name!;
            if (name.StartsWith(markPrefix, StringComparison.Ordinal) && int.TryParse(name.AsSpan(markPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var marked))
            {
                marks[marked] = (long)entry.Value;
            }
            else if (name.Length > topic.Length + 1 && name.StartsWith(topic, StringComparison.Ordinal) && name[topic.Length] == ':'
                && int.TryParse(name.AsSpan(topic.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var partition))
            {
                checkpoints[partition] = PartitionCheckpoint.Parse(entry.Value.ToString());
            }
        }

        var unmarked = checkpoints.Keys.Where(p => !marks.ContainsKey(p)).Order().ToList();
        var starts = new Dictionary<int, long> { [EventLogSpill.HistoryPartition] = long.MaxValue };
        if (unmarked.Count > 0)
        {
            return (starts, $"ingest (group {_options.IngestGroup}) has not yet written the group for partition{(unmarked.Count == 1 ? "" : "s")} "
                + $"{string.Join(", ", unmarked)} of topic {topic}: it starts once ingest runs this registry version");
        }

        // Marks count in the topic's offsets, as the checkpoint does; the log's add the checkpoint's base.
        foreach (var (partition, mark) in marks)
        {
            starts[partition] = mark + (checkpoints.TryGetValue(partition, out var checkpoint) ? checkpoint.OffsetBase : 0);
        }

        var committed = EventLogSpill.CommittedOffsets(_options.StoreDirectory, View.Source.Definition.Name);
        var behind = starts.Where(s => s.Key != EventLogSpill.HistoryPartition && committed.GetValueOrDefault(s.Key) < s.Value).OrderBy(s => s.Key).ToList();
        if (behind.Count > 0)
        {
            return (starts, $"the offline event log of source {View.Source.Definition.Name} lags behind the offsets ingest began the group at: "
                + string.Join(", ", behind.Select(b => $"partition {b.Key} at {committed.GetValueOrDefault(b.Key)} of {b.Value}"))
                + $" (is the offline log writer running into {_options.StoreDirectory}?)");
        }

        return (starts, null);
    }

    // Whether the registry's current version still has this group building (an apply may have replaced it).
    private async Task<bool> StillBuildingAsync()
    {
        var current = await _registry.LoadCurrentAsync(_applied.Repository.Project).ConfigureAwait(false);
        return current?.Layout.Views.GetValueOrDefault(Group.Name)?.BuildingGroup?.Signature == Group.Signature;
    }

    // Whether the registry's current version has this group serving (an earlier run switched it).
    private async Task<bool> ServingAsync()
    {
        var current = await _registry.LoadCurrentAsync(_applied.Repository.Project).ConfigureAwait(false);
        return current?.Layout.Views.GetValueOrDefault(Group.Name)?.Groups.Any(g => g.Signature == Group.Signature && !g.Building) == true;
    }

    // Counts the records the writer takes, refreshing updated_ms now and then: the writing after the read goes on.
    private IEnumerable<SpillRecord> Heartbeat(IEnumerable<SpillRecord> records)
    {
        var key = _keys.Build(Group.Name, Group.Signature);
        long taken = 0;
        foreach (var record in records)
        {
            yield return record;
            if (++taken % _options.ProgressEveryRows == 0)
            {
                _database.HashSet(key, "updated_ms", _time.GetUtcNow().ToUnixTimeMilliseconds(), flags: CommandFlags.FireAndForget);
            }
        }
    }

    private async Task SetAsync(BuildState state, long rowsDone, long rowsTotal, string? reason)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var key = _keys.Build(Group.Name, Group.Signature);
        var batch = _database.CreateTransaction();
        _ = batch.HashSetAsync(key,
        [
            new HashEntry("state", BuildProgress.Name(state)),
            new HashEntry("rows_done", rowsDone),
            new HashEntry("rows_total", rowsTotal),
            new HashEntry("updated_ms", now),
        ]);
        _ = reason is null ? batch.HashDeleteAsync(key, "reason") : batch.HashSetAsync(key, "reason", reason);
        await batch.ExecuteAsync().ConfigureAwait(false);
        _progress?.Report(new BuildProgress(state, rowsDone, rowsTotal, now, reason));
    }

    /// <summary>Reports on the caller's thread (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class Progress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "rebuild {View}:{Signature} waiting: {Reason}")]
    private static partial void LogWaiting(ILogger logger, string view, string signature, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "rebuild {View}:{Signature}: reading {Rows} event-log rows ({Offsets})")]
    private static partial void LogRebuilding(ILogger logger, string view, string signature, long rows, string offsets);

    [LoggerMessage(Level = LogLevel.Information, Message = "rebuild {View}:{Signature}: {Rows} rows read, {Entities} entities written")]
    private static partial void LogRebuilt(ILogger logger, string view, string signature, long rows, long entities);

    [LoggerMessage(Level = LogLevel.Information, Message = "rebuild {View}:{Signature} switched in (registry version {Version})")]
    private static partial void LogSwitched(ILogger logger, string view, string signature, string version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "rebuild {View}:{Signature} abandoned: the registry's current version no longer builds this group (a newer apply replaced it); its keys expire by the view's ttl")]
    private static partial void LogAbandoned(ILogger logger, string view, string signature);
}
