using FeatureStore.Core.Definitions;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Export;

namespace FeatureStore.Parquet.History;

/// <summary>
/// A view's events read back from its source's event log into a <see cref="SpillSorter"/>, as an import spills
/// the events it reads from files (same records: entity key, time, the log offset as position, the view's
/// inputs as <see cref="HistoryInputs"/>), so a view's state can be built from the log entity by entity in
/// bounded memory (a group built beside the serving ones, docs/evolution.md). The log is read by the reader
/// exports and backfills use (<see cref="EventLogScan"/>), over the visible commit markers only.
/// </summary>
public static class EventLogSpill
{
    /// <summary>
    /// Per partition of <paramref name="source"/>'s log under <paramref name="root"/>, the offset its committed
    /// batches reach (the next offset after the last one); the history partition is
    /// <see cref="HistoryPartition"/>. Reads the commit markers only.
    /// </summary>
    public static IReadOnlyDictionary<int, long> CommittedOffsets(string root, string source) =>
        Markers(root, source).GroupBy(m => m.Partition).ToDictionary(g => g.Key, g => g.Max(m => m.NextOffset));

    /// <summary>The pseudo-partition of imported history in the log (never a Kafka partition).</summary>
    public const int HistoryPartition = CommitMarker.HistoryPartition;

    /// <summary>
    /// Rows of the committed batches <see cref="SpillAsync"/> reads for <paramref name="before"/>: those of each
    /// partition starting below its bound (a batch across the bound counts whole; it is read whole).
    /// </summary>
    public static long RowsToRead(string root, string source, IReadOnlyDictionary<int, long> before)
    {
        ArgumentNullException.ThrowIfNull(before);
        return Markers(root, source).Where(m => Wanted(before, m.Partition, m.FirstOffset)).Sum(m => m.Rows);
    }

    /// <summary>
    /// Adds to <paramref name="into"/> every event of <paramref name="view"/>'s source log whose offset lies below
    /// its partition's bound in <paramref name="before"/> (a partition missing from it gives none), keyed by the
    /// view's entity. Only the inputs of <paramref name="features"/> (indexes of the view's features; null: all)
    /// are read, the others' recorded as absent. Returns the log rows read; <paramref name="rowsRead"/> gets the
    /// running count.
    /// </summary>
    public static Task<long> SpillAsync(
        string root, CompiledView view, IReadOnlyDictionary<int, long> before, SpillSorter into, IProgress<long>? rowsRead, CancellationToken cancellationToken,
        IReadOnlyCollection<int>? features = null)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(into);
        return EventLogScan.StreamAsync(
            root, view,
            (partition, first) => Wanted(before, partition, first),
            (partition, offset, _) => before.TryGetValue(partition, out var bound) && offset < bound,
            (key, time, _, offset, inputs) => into.Add(new SpillRecord(System.Text.Encoding.UTF8.GetBytes(key), time, offset, HistoryInputs.Encode(inputs))),
            rowsRead, cancellationToken, features);
    }

    private static bool Wanted(IReadOnlyDictionary<int, long> before, int partition, long firstOffset) =>
        before.TryGetValue(partition, out var bound) && firstOffset < bound;

    private static List<CommitMarker> Markers(string root, string source) =>
        EventLogReader.Visible(EventLogReader.ReadMarkers(Path.Combine(EventLogWriter.SourceFolder(root, source), CommitMarker.Folder)));
}
