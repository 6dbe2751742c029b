namespace FeatureStore.Parquet.Compaction;

/// <summary>Settings of a compaction of the offline event log (<see cref="EventLogCompactor"/>).</summary>
public sealed class EventLogCompactionOptions
{
    /// <summary>Most rows a compacted file holds; runs of batches are merged up to it.</summary>
    public long TargetRows { get; init; } = 1_000_000;

    /// <summary>Rows per row group of a compacted file (the log writer's default batch size).</summary>
    public int RowGroupRows { get; init; } = 50_000;

    /// <summary>
    /// How long the files a compaction replaced stay on disk after it, for readers that listed them just
    /// before; the next compaction after this time deletes them. Zero deletes them at the end of the run.
    /// </summary>
    public TimeSpan Grace { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Sources to compact; empty for every source in the store.</summary>
    public IReadOnlyList<string> Sources { get; init; } = [];
}

/// <summary>One run of committed batches merged into one compacted batch.</summary>
/// <param name="Source">The source.</param>
/// <param name="Partition">The Kafka partition.</param>
/// <param name="FirstOffset">First offset the run covers.</param>
/// <param name="NextOffset">Offset after the last one it covers.</param>
/// <param name="Batches">Commit markers merged.</param>
/// <param name="FilesBefore">Data files before.</param>
/// <param name="FilesAfter">Data files after (one per event date).</param>
/// <param name="Rows">Rows (events) in them.</param>
public sealed record CompactedRun(string Source, int Partition, long FirstOffset, long NextOffset, int Batches, int FilesBefore, int FilesAfter, long Rows);

/// <summary>What a compaction did.</summary>
/// <param name="Runs">The runs merged.</param>
/// <param name="ReplacedFilesDeleted">Data files of earlier compactions' replaced batches deleted (their grace had passed).</param>
/// <param name="ReplacedFilesWaiting">Replaced data files kept until their grace passes.</param>
/// <param name="LeftoversDeleted">Files an interrupted compaction had left, deleted.</param>
/// <param name="BusySources">Sources skipped because another compaction of them was running.</param>
public sealed record CompactionResult(IReadOnlyList<CompactedRun> Runs, int ReplacedFilesDeleted, int ReplacedFilesWaiting, int LeftoversDeleted, IReadOnlyList<string> BusySources);
