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
    /// <summary>Runs an export from <paramref name="entityTable"/> (Parquet, or CSV by extension) to <paramref name="output"/>.</summary>
    /// <exception cref="TableFileException">The entity table cannot be read or lacks a needed column.</exception>
    public static async Task<ExportResult> RunAsync(
        CompiledRepository repository, string storeDirectory, string entityTable, IReadOnlyList<FeatureSelection> features,
        string output, ExportFormat format, IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(features);
        var clock = Stopwatch.StartNew();
        progress?.Report(new ExportProgress("reading entity table", 0, 0));
        var table = await TableReader.ReadAsync(entityTable, cancellationToken).ConfigureAwait(false);
        var (result, eventsRead, snapshots) = await ComputeAsync(storeDirectory, table, entityTable, features, progress, cancellationToken).ConfigureAwait(false);
        progress?.Report(new ExportProgress("writing " + Path.GetFileName(output), 0, 0));
        await TableWriter.WriteAsync(result, output, format, cancellationToken).ConfigureAwait(false);
        return new ExportResult(result.RowCount, result.Columns.Count - table.Columns.Count, eventsRead, snapshots, clock.Elapsed);
    }

    internal static async Task<(Table Result, long EventsRead, int SnapshotsUsed)> ComputeAsync(
        string storeDirectory, Table table, string file, IReadOnlyList<FeatureSelection> features,
        IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        var times = PointInTimeJoin.Timestamps(table, file);
        var columns = new List<TableColumn>(table.Columns);
        var names = new HashSet<string>(table.Columns.Select(c => c.Name), StringComparer.Ordinal);
        foreach (var selection in features)
        {
            foreach (var feature in selection.Features)
            {
                var name = selection.ColumnName(feature);
                if (!names.Add(name))
                {
                    throw new TableFileException($"{file}: already has a column '{name}'");
                }
            }
        }

        var views = new List<ViewPart?>();
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
            var events = new ViewEvents([.. computed.Select(f => view.InputSlots[f])]);
            views.Add(new ViewPart(selection, index, rowEntity, snapshot, computed,
                new EventLogScan.ScanTarget(view, index, until, events, snapshot is null ? null : snapshot.NotCovered)));
        }

        // One pass over each source's log fills the events of all its views.
        long eventsRead = 0;
        foreach (var bySource in views.Select(v => v!).GroupBy(v => v.Target.View.Source))
        {
            var stage = string.Join(", ", bySource.Select(v => v.Target.View.Name)) + ": reading events";
            var read = new Progress<long>(n => progress?.Report(new ExportProgress(stage, n, 0)));
            eventsRead += await EventLogScan.LoadAsync(storeDirectory, [.. bySource.Select(v => v.Target)],
                progress is null ? null : read, cancellationToken).ConfigureAwait(false);
        }

        var snapshotsUsed = 0;
        for (var v = 0; v < views.Count; v++)
        {
            var (selection, index, rowEntity, snapshot, computed, target) = views[v]!;
            views[v] = null; // its events are dropped once computed
            var view = selection.View;
            var events = target.Events;
            progress?.Report(new ExportProgress(view.Name + ": sorting events", 0, 0));
            events.SortByEntityAndTime(index.Count);

            var windowed = computed.Select(f => view.Features[f]).ToArray();
            var outputs = selection.Features.Select(f => PointInTimeJoin.NewColumn(view.Features[f], table.RowCount)).ToArray();
            var positions = selection.Features.Select(f => computed.ToList().IndexOf(f)).ToArray();
            var computing = view.Name + ": computing";
            progress?.Report(new ExportProgress(computing, 0, index.Count));
            var done = new Progress<long>(n => progress?.Report(new ExportProgress(computing, n, index.Count)));
            PointInTimeJoin.Sweep(windowed, view.TtlMs, events, index.Count, rowEntity, times, positions, outputs,
                snapshot is null ? null : snapshot.StateOf, progress is null ? null : done);
            if (snapshot is not null)
            {
                snapshotsUsed++;
            }

            for (var s = 0; s < outputs.Length; s++)
            {
                columns.Add(new TableColumn(selection.ColumnName(selection.Features[s]), outputs[s]));
            }
        }

        return (new Table(columns, table.RowCount), eventsRead, snapshotsUsed);
    }

    /// <summary>One view of an export: its selection, entities, rows' entities, snapshot, computed features and scan target.</summary>
    private sealed record ViewPart(
        FeatureSelection Selection, Dictionary<string, int> Index, int[] RowEntity, LoadedSnapshot? Snapshot,
        IReadOnlyList<int> Computed, EventLogScan.ScanTarget Target);
}
