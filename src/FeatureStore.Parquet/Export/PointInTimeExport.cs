using System.Diagnostics;
using FeatureStore.Core.Definitions;
using FeatureStore.Parquet.Snapshots;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Parquet.Export;

/// <summary>Where an export is: its stage and how far along it is (<paramref name="Total"/> 0 when unknown).</summary>
/// <param name="Stage">What is being done, e.g. <c>user_txn_stats: reading events</c>.</param>
/// <param name="Done">Units done.</param>
/// <param name="Total">Units in all, or 0.</param>
public readonly record struct ExportProgress(string Stage, long Done, long Total);

/// <summary>What an export produced.</summary>
/// <param name="Rows">Rows written (as many as the entity table has).</param>
/// <param name="FeatureColumns">Feature columns added.</param>
/// <param name="EventsRead">Event-log rows read.</param>
/// <param name="SnapshotsUsed">Views whose computation started from a backfilled snapshot.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record ExportResult(int Rows, int FeatureColumns, long EventsRead, int SnapshotsUsed, TimeSpan Elapsed);

/// <summary>
/// Point-in-time-correct training export (DESIGN.md §6): for each row of an entity table (join keys,
/// <c>event_timestamp</c>, any other columns, passed through unchanged and in order), the value of each
/// requested feature at that row's instant, exactly as an online lookup at that instant returns it.
/// Values come from the offline store's event log, starting from the latest backfilled tile snapshot
/// that precedes every row when there is one.
/// </summary>
public static class PointInTimeExport
{
    /// <summary>
    /// Events held in memory at once by default (~40–70 bytes each): an export over a larger log reads it in
    /// several passes, each for a share of the entities.
    /// </summary>
    public const long DefaultMaxEventsInMemory = 32_000_000;

    /// <summary>
    /// Runs an export from <paramref name="entityTable"/> (Parquet, or CSV by extension) to <paramref name="output"/>.
    /// At most <paramref name="maxEventsInMemory"/> events are held at once: when the logs read hold more, the
    /// entities are split into parts computed one after the other, each from its own pass over the logs.
    /// </summary>
    /// <remarks>Epoch numbers in the entity table's <c>event_timestamp</c> are read in <paramref name="timestampUnit"/> (<see cref="EntityTimestamps"/>).</remarks>
    /// <exception cref="TableFileException">The entity table cannot be read or lacks a needed column.</exception>
    public static async Task<ExportResult> RunAsync(
        CompiledRepository repository, string storeDirectory, string entityTable, IReadOnlyList<FeatureSelection> features,
        string output, ExportFormat format, IProgress<ExportProgress>? progress, CancellationToken cancellationToken,
        long maxEventsInMemory = DefaultMaxEventsInMemory, TimestampUnit timestampUnit = TimestampUnit.Milliseconds,
        IReadOnlyList<RequestSelection>? requests = null)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxEventsInMemory);
        var clock = Stopwatch.StartNew();
        progress?.Report(new ExportProgress("reading entity table", 0, 0));
        var table = await TableReader.ReadAsync(entityTable, cancellationToken).ConfigureAwait(false);
        var given = table.Columns.Count;
        var (result, eventsRead, snapshots) = await ComputeAsync(storeDirectory, table, entityTable, features, progress, cancellationToken, maxEventsInMemory, timestampUnit, requests).ConfigureAwait(false);
        var (rows, added) = (result.RowCount, result.Columns.Count - given);
        progress?.Report(new ExportProgress("writing " + Path.GetFileName(output), 0, 0));
        await TableWriter.WriteAsync(result, output, format, cancellationToken).ConfigureAwait(false);

        // The writer's unfinished frames hold the table (a parameter of each) until they return: without leaving
        // them first, a caller's continuation runs on top of them, and a caller's next export held a whole entity
        // table and its features through its own run.
        await Task.Yield();
        return new ExportResult(rows, added, eventsRead, snapshots, clock.Elapsed);
    }

    internal static async Task<(Table Result, long EventsRead, int SnapshotsUsed)> ComputeAsync(
        string storeDirectory, Table table, string file, IReadOnlyList<FeatureSelection> features,
        IProgress<ExportProgress>? progress, CancellationToken cancellationToken, long maxEventsInMemory = DefaultMaxEventsInMemory,
        TimestampUnit timestampUnit = TimestampUnit.Milliseconds, IReadOnlyList<RequestSelection>? requests = null)
    {
        var times = EntityTimestamps.Read(table, file, timestampUnit);
        var columns = new List<TableColumn>(table.Columns);
        var names = new HashSet<string>(table.Columns.Select(c => c.Name), StringComparer.Ordinal);
        requests ??= [];
        foreach (var name in features.SelectMany(s => s.Features.Select(s.ColumnName)).Concat(requests.SelectMany(r => r.Features.Select(r.ColumnName))))
        {
            if (!names.Add(name))
            {
                throw new TableFileException($"{file}: already has a column '{name}'");
            }
        }

        // The request views' context, read (and checked) before any event is; and the stored features they read,
        // computed with the selected ones (after them, not written) and kept whole, status included, per row.
        var contexts = requests.Select(r => r.ReadContext(table, file)).ToList();
        var (selections, visible, kept) = WithReads(features, requests, table.RowCount);
        features = selections;

        var views = new List<ViewPart>();
        foreach (var selection in features)
        {
            var view = selection.View;
            var joinKeys = view.KeySlots.Select(s => view.Source.Schema.Fields[s].Name).ToList();
            var (index, rowEntity) = PointInTimeJoin.EntityKeys(table, joinKeys, file, view.Name);
            var until = PointInTimeJoin.Until(index.Count, rowEntity, times);
            var from = times.Length == 0 ? long.MinValue : times.Min();
            var snapshot = await TileSnapshots.LoadLatestAsync(storeDirectory, view, from, index, cancellationToken).ConfigureAwait(false);

            // Without a snapshot (whose states hold every feature) only the selected features are computed.
            IReadOnlyList<int> computed = snapshot is null ? selection.Features : [.. Enumerable.Range(0, view.Features.Count)];
            var outputs = selection.Features.Select(f => PointInTimeJoin.NewColumn(view.Features[f], table.RowCount)).ToArray();
            views.Add(new ViewPart(selection, index, rowEntity, until, snapshot, computed, outputs)
            {
                Kept = [.. selection.Features.Select(f => kept.GetValueOrDefault((view, f)))],
            });
        }

        // Each view holds at most the events of its source's log; past the limit the entities are split into
        // parts (ranges of entity numbers, which follow the entity table's order), each read and computed alone.
        long logged = 0;
        var sourceRows = new Dictionary<CompiledSource, long>();
        foreach (var source in views.Select(v => v.Selection.View.Source).Distinct())
        {
            sourceRows[source] = await EventLogScan.CountRowsAsync(storeDirectory, source, cancellationToken).ConfigureAwait(false);
            logged += views.Count(v => v.Selection.View.Source == source) * sourceRows[source];
        }

        var parts = (int)Math.Clamp((logged + maxEventsInMemory - 1) / maxEventsInMemory, 1, Math.Max(1, views.Max(v => (long?)v.Index.Count) ?? 1));
        long eventsRead = 0;
        for (var part = 0; part < parts; part++)
        {
            var suffix = parts == 1 ? "" : $" (part {part + 1} of {parts})";
            ReleaseEvents(logged / parts);
            var targets = new List<(ViewPart View, EventLogScan.ScanTarget Target, int From, int To)>();
            foreach (var v in views)
            {
                var entities = v.Index.Count;
                var (lo, hi) = ((int)((long)entities * part / parts), (int)((long)entities * (part + 1) / parts));
                var until = v.Until;
                if (parts > 1)
                {
                    until = new long[entities];
                    Array.Fill(until, long.MinValue); // no events wanted for entities of other parts
                    Array.Copy(v.Until, lo, until, lo, hi - lo);
                }

                // Sized for the part's share of the log (all of it when every entity wants every event): the columns are
                // allocated once rather than copied while growing, which held the old and new arrays at once.
                var expected = (int)Math.Min(sourceRows[v.Selection.View.Source] / parts + 1, Array.MaxLength);
                var events = new ViewEvents([.. v.Computed.Select(f => v.Selection.View.InputSlots[f])], expected);
                targets.Add((v, new EventLogScan.ScanTarget(v.Selection.View, v.Index, until, events, v.Snapshot is null ? null : v.Snapshot.NotCovered), lo, hi));
            }

            // One pass over each source's log fills the events of all its views.
            foreach (var bySource in targets.GroupBy(t => t.View.Selection.View.Source))
            {
                var stage = string.Join(", ", bySource.Select(t => t.View.Selection.View.Name)) + ": reading events" + suffix;
                var read = new InlineProgress<long>(n => progress?.Report(new ExportProgress(stage, n, 0)));
                eventsRead += await EventLogScan.LoadAsync(storeDirectory, [.. bySource.Select(t => t.Target)],
                    progress is null ? null : read, cancellationToken).ConfigureAwait(false);
            }

            ReleaseEvents(logged / parts); // the decoding's garbage, before the sorts add their spare columns

            for (var t = 0; t < targets.Count; t++)
            {
                var (viewPart, target, lo, hi) = targets[t];
                targets[t] = default; // its events are dropped once computed
                var held = target.Events.Count;
                Compute(viewPart, target.Events, lo, hi, times, suffix, progress);
                ReleaseEvents(held);
            }
        }

        var snapshotsUsed = views.Count(v => v.Snapshot is not null);
        for (var i = 0; i < views.Count; i++)
        {
            var v = views[i];
            for (var s = 0; s < visible[i]; s++)
            {
                columns.Add(new TableColumn(v.Selection.ColumnName(v.Selection.Features[s]), v.Outputs[s]));
            }
        }

        for (var r = 0; r < requests.Count; r++)
        {
            var request = requests[r];
            progress?.Report(new ExportProgress(request.View.Name + ": evaluating", 0, 0));
            var outputs = request.Features.Select(f => request.NewColumn(f, table.RowCount)).ToArray();
            request.Evaluate(contexts[r], [.. request.Reads.Select(d => kept[d])], outputs, table.RowCount);
            for (var s = 0; s < outputs.Length; s++)
            {
                columns.Add(new TableColumn(request.ColumnName(request.Features[s]), outputs[s]));
            }
        }

        return (new Table(columns, table.RowCount), eventsRead, snapshotsUsed);
    }

    // Sorts one view's events of a part and computes its rows' features (a method of its own, so that nothing holds
    // the events once it returns).
    private static void Compute(ViewPart part, ViewEvents events, int lo, int hi, long[] times, string suffix, IProgress<ExportProgress>? progress)
    {
        var ((selection, index, rowEntity, _, snapshot, computed, outputs), keep) = (part, part.Kept);
        var view = selection.View;
        progress?.Report(new ExportProgress(view.Name + ": sorting events" + suffix, 0, 0));
        events.SortByEntityAndTime(index.Count);
        ReleaseEvents(events.Count); // the sort's spare columns, large objects that only a full collection frees

        var windowed = computed.Select(f => view.Features[f]).ToArray();
        var positions = selection.Features.Select(f => computed.ToList().IndexOf(f)).ToArray();
        var computing = view.Name + ": computing" + suffix;
        progress?.Report(new ExportProgress(computing, 0, hi - lo));
        var done = new InlineProgress<long>(n => progress?.Report(new ExportProgress(computing, n, hi - lo)));
        PointInTimeJoin.Sweep(windowed, view.TtlMs, events, lo, hi, rowEntity, times, positions, outputs,
            snapshot is null ? null : snapshot.StateOf, progress is null ? null : done, keep);
    }

    /// <summary>
    /// Collects garbage before a part's events are read (the entity table's reading, an export before in the same
    /// process), once they are read (the decoded row groups), once a view's events are sorted (the columns they were
    /// moved from) and once they are computed (hundreds of MB at millions of events), and gives the freed
    /// memory back. Left to itself the collector (the server one, as the command runs) grows the heap over them
    /// rather than collecting the large-object heap, so an export's peak held the garbage of the views before. At
    /// these points the live heap is mostly arrays of numbers, which hold no references to trace. Below a million
    /// events (tens of MB) the collector is left alone: small exports split in many parts would pay for nothing.
    /// </summary>
    private static void ReleaseEvents(long events)
    {
        if (events >= 1_000_000)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
    }

    /// <summary>
    /// The selections with the stored features the request views read added (after the selected ones), how many of
    /// each selection's features are written, and a per-row array of whole values for each feature read.
    /// </summary>
    private static (List<FeatureSelection> Selections, List<int> Visible, Dictionary<(Core.Definitions.CompiledView, int), Core.Windows.FeatureValue[]> Kept) WithReads(
        IReadOnlyList<FeatureSelection> features, IReadOnlyList<RequestSelection> requests, int rows)
    {
        var selections = features.ToList();
        var visible = features.Select(f => f.Features.Count).ToList();
        var kept = new Dictionary<(Core.Definitions.CompiledView, int), Core.Windows.FeatureValue[]>();
        foreach (var read in requests.SelectMany(r => r.Reads))
        {
            var at = selections.FindIndex(s => s.View == read.View);
            if (at < 0)
            {
                selections.Add(new FeatureSelection(read.View, []));
                visible.Add(0);
                at = selections.Count - 1;
            }

            if (!selections[at].Features.Contains(read.Feature))
            {
                selections[at] = selections[at] with { Features = [.. selections[at].Features, read.Feature] };
            }

            kept.TryAdd(read, new Core.Windows.FeatureValue[rows]);
        }

        return (selections, visible, kept);
    }

    /// <summary>One view of an export: its selection, entities, rows' entities, each entity's last instant, snapshot, computed features and output columns.</summary>
    private sealed record ViewPart(
        FeatureSelection Selection, Dictionary<string, int> Index, int[] RowEntity, long[] Until, LoadedSnapshot? Snapshot,
        IReadOnlyList<int> Computed, Array[] Outputs)
    {
        /// <summary>Per selected feature, the array its whole values are kept in (a feature a request view reads), or null.</summary>
        public Core.Windows.FeatureValue[]?[] Kept { get; init; } = [];
    }
}
