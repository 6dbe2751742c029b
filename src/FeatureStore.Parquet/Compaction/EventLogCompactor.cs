using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Export;
using Parquet;

namespace FeatureStore.Parquet.Compaction;

/// <summary>
/// Merges the offline event log's small files into larger ones. The log writer adds a file per batch,
/// partition and event date; readers pay for every file they open. Per source and partition, runs of
/// adjacent committed batches (up to <see cref="EventLogCompactionOptions.TargetRows"/> rows) become one
/// compacted batch: one file per event date with the run's rows in the order they had, named like the
/// writer's by partition and offset range (<c>cPPPP-FIRST-LAST-NONCE.parquet</c>), and one commit marker of
/// a higher generation at the run's first offset.
/// <para>
/// Safety, at every step and beside a live writer: the compacted files are written under temporary names
/// and renamed; nothing names them until the marker is created (without overwriting), and that single
/// rename is the switch: readers take the visible chain of markers (<see cref="EventLogReader.Visible"/>),
/// in which the new marker hides the ones it replaces. Before it, readers see the old batches; after it,
/// the compacted one; never both or neither. The writer's <c>Recover</c> still finds the end of the chain
/// (a compacted run never includes a partition's newest batch, so the writer's resume marker is untouched),
/// and never deletes compacted files, which a compaction in progress has written but not named yet. The
/// replaced markers and files stay for <see cref="EventLogCompactionOptions.Grace"/>, for readers that
/// listed them just before the switch, and the next compaction deletes them (files first, then marker);
/// it also deletes what an interrupted compaction left (temporary files, compacted files no marker names).
/// One compaction per source at a time: an operating-system lock on <c>events/SOURCE/.compaction.lock</c>.
/// </para>
/// </summary>
public sealed partial class EventLogCompactor
{
    private const string LockFile = ".compaction.lock";
    private readonly string _root;
    private readonly EventLogCompactionOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates a compactor of the store in <paramref name="storeDirectory"/>.</summary>
    public EventLogCompactor(string storeDirectory, EventLogCompactionOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(storeDirectory);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.TargetRows, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.RowGroupRows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Grace, TimeSpan.Zero);
        _root = storeDirectory;
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Called after each step of a compaction; tests stop it there, as a crash would.</summary>
    internal Func<CompactionStep, Task>? AfterStep { get; set; }

    /// <summary>The sources with an event log in the store.</summary>
    public IReadOnlyList<string> Sources()
    {
        var events = Path.Combine(_root, "events");
        return Directory.Exists(events)
            ? [.. Directory.EnumerateDirectories(events).Where(d => Directory.Exists(Path.Combine(d, CommitMarker.Folder))).Select(Path.GetFileName).Order(StringComparer.Ordinal)!]
            : [];
    }

    /// <summary>
    /// Compacts every selected source once. <paramref name="progress"/> gets rows merged of rows planned,
    /// per source. A failure (or cancellation) leaves the log as it was before the run being merged.
    /// </summary>
    public async Task<CompactionResult> RunAsync(IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        var runs = new List<CompactedRun>();
        var busy = new List<string>();
        int deleted = 0, waiting = 0, leftovers = 0;
        foreach (var source in _options.Sources.Count > 0 ? _options.Sources : Sources())
        {
            var folder = EventLogWriter.SourceFolder(_root, source);
            if (!Directory.Exists(Path.Combine(folder, CommitMarker.Folder)))
            {
                continue;
            }

            FileStream exclusive;
            try
            {
                exclusive = new FileStream(Path.Combine(folder, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                busy.Add(source);
                continue;
            }

            await using (exclusive.ConfigureAwait(false))
            {
                var markers = Markers(folder);
                leftovers += await CleanLeftoversAsync(folder, markers).ConfigureAwait(false);
                var plan = await PlanAsync(folder, markers, cancellationToken).ConfigureAwait(false);
                var total = plan.Sum(r => r.Sum(m => m.Rows));
                long done = 0;
                foreach (var run in plan)
                {
                    progress?.Report(new ExportProgress("compacting " + source, done, total));
                    runs.Add(await MergeAsync(source, folder, run, markers, rows => progress?.Report(new ExportProgress("compacting " + source, done + rows, total)), cancellationToken).ConfigureAwait(false));
                    done += runs[^1].Rows;
                }

                var (removed, kept) = await DeleteReplacedAsync(folder, Markers(folder)).ConfigureAwait(false);
                deleted += removed;
                waiting += kept;
            }
        }

        return new CompactionResult(runs, deleted, waiting, leftovers, busy);
    }

    private static List<CommitMarker> Markers(string folder) => EventLogReader.ReadMarkers(Path.Combine(folder, CommitMarker.Folder));

    private static string MarkerPath(string folder, CommitMarker marker) =>
        Path.Combine(folder, CommitMarker.Folder, CommitMarker.FileName(marker.Partition, marker.FirstOffset, marker.Generation));

    private Task StepAsync(CompactionStep step) => AfterStep?.Invoke(step) ?? Task.CompletedTask;

    // Runs of adjacent visible batches of one partition, each under the target and of one file schema. A
    // partition's newest batch is left out: it is the writer's resume position (next offset and lateness
    // watermark), which then stays in the marker the writer itself wrote.
    private async Task<List<List<CommitMarker>>> PlanAsync(string folder, List<CommitMarker> markers, CancellationToken cancellationToken)
    {
        var plan = new List<List<CommitMarker>>();
        // Imported history is left as it is: its files are large already, and its markers name the imports a
        // rerun must find.
        foreach (var partition in EventLogReader.Visible(markers).Where(m => m.Partition != CommitMarker.HistoryPartition).GroupBy(m => m.Partition))
        {
            var chain = partition.ToList();
            var run = new List<CommitMarker>();
            long rows = 0;
            string? schema = null;
            void Close()
            {
                if (run.Count >= 2)
                {
                    plan.Add(run);
                }

                run = [];
                rows = 0;
                schema = null;
            }

            foreach (var marker in chain.Take(chain.Count - 1))
            {
                if (marker.Rows >= _options.TargetRows || (marker.Generation > 0 && marker.Rows * 2 >= _options.TargetRows))
                {
                    Close(); // full already: merging it again would only rewrite it
                    continue;
                }

                var own = marker.Files.Count == 0 ? null : await SchemaKeyAsync(Path.Combine(folder, marker.Files[0]), cancellationToken).ConfigureAwait(false);
                if (run.Count > 0 && (marker.FirstOffset != run[^1].NextOffset || rows + marker.Rows > _options.TargetRows || (own is not null && schema is not null && own != schema)))
                {
                    Close();
                }

                run.Add(marker);
                rows += marker.Rows;
                schema ??= own;
            }

            Close();
        }

        return plan;
    }

    private static async Task<string> SchemaKeyAsync(string path, CancellationToken cancellationToken)
    {
        var reader = await ParquetReader.CreateAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            return SchemaKey(reader.Schema);
        }
    }

    private static string SchemaKey(global::Parquet.Schema.ParquetSchema schema) =>
        string.Join(',', schema.DataFields.Select(f => $"{f.Name}:{f.ClrType.Name}:{(f.IsNullable ? "null" : "req")}"));

    private async Task<CompactedRun> MergeAsync(
        string source, string folder, List<CommitMarker> run, List<CommitMarker> markers, Action<long> copied, CancellationToken cancellationToken)
    {
        var partition = run[0].Partition;
        var first = run[0].FirstOffset;
        var next = run[^1].NextOffset;
        var nonce = Guid.NewGuid().ToString("N")[..8];
        var name = FormattableString.Invariant($"c{partition:D4}-{first:D19}-{next - 1:D19}-{nonce}.parquet");
        var byDate = run.SelectMany(m => m.Files)
            .GroupBy(f => f[..f.IndexOf('/', StringComparison.Ordinal)], StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToList();
        var files = new List<string>(byDate.Count);
        long rows = 0;
        foreach (var date in byDate)
        {
            var relative = date.Key + "/" + name;
            var final = Path.Combine(folder, date.Key, name);
            var temp = Path.Combine(folder, date.Key, ".tmp-" + name);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["featurestore.partition"] = partition.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["featurestore.first_offset"] = first.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["featurestore.next_offset"] = next.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["featurestore.compacted_files"] = date.Count().ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            var before = rows;
            rows += await CopyAsync([.. date.Select(f => Path.Combine(folder, f))], temp, metadata, n => copied(before + n), cancellationToken).ConfigureAwait(false);
            File.Move(temp, final);
            files.Add(relative);
            await StepAsync(CompactionStep.FileWritten).ConfigureAwait(false);
        }

        var expected = run.Sum(m => m.Rows);
        if (rows != expected)
        {
            throw new InvalidDataException($"{source} partition {partition}: the batches of offsets {first}..{next - 1} hold {rows} rows but their markers say {expected}; not compacted");
        }

        var generation = markers.Where(m => m.Partition == partition && m.FirstOffset == first).Max(m => m.Generation) + 1;
        var marker = new CommitMarker(partition, first, next, run[^1].WatermarkMs, rows, files, generation);
        var markerTemp = Path.Combine(folder, CommitMarker.Folder, FormattableString.Invariant($".tmp-c{partition:D4}-{nonce}"));
        var stream = new FileStream(markerTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(marker.Serialize(), cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }

        await StepAsync(CompactionStep.MarkerWritten).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();

        // The switch: from this rename on, readers see the compacted batch instead of the run.
        File.Move(markerTemp, MarkerPath(folder, marker), overwrite: false);
        await StepAsync(CompactionStep.Switched).ConfigureAwait(false);
        return new CompactedRun(source, partition, first, next, run.Count, run.Sum(m => m.Files.Count), files.Count, rows);
    }

    // What an interrupted compaction left: temporary files, and compacted files no marker names. Only a
    // compaction writes these, and this one holds the lock, so none of them belongs to a run in progress.
    private async Task<int> CleanLeftoversAsync(string folder, List<CommitMarker> markers)
    {
        var named = new HashSet<string>(markers.SelectMany(m => m.Files), StringComparer.Ordinal);
        var deleted = 0;
        foreach (var path in Directory.EnumerateFiles(Path.Combine(folder, CommitMarker.Folder), ".tmp-c*"))
        {
            File.Delete(path);
            deleted++;
        }

        foreach (var dateFolder in Directory.EnumerateDirectories(folder, "date=*"))
        {
            foreach (var path in Directory.EnumerateFiles(dateFolder))
            {
                var fileName = Path.GetFileName(path);
                if (fileName.StartsWith(".tmp-c", StringComparison.Ordinal)
                    || (fileName.StartsWith('c') && !named.Contains(Path.GetFileName(dateFolder) + "/" + fileName)))
                {
                    File.Delete(path);
                    deleted++;
                    await StepAsync(CompactionStep.LeftoverDeleted).ConfigureAwait(false);
                }
            }
        }

        return deleted;
    }

    // Markers hidden by a visible one whose grace has passed go, files first: a crash in between leaves a
    // hidden marker naming missing files, which nobody reads and the next run deletes. A stale writer's batch
    // inside a compacted range is hidden the same way and goes too.
    private async Task<(int Deleted, int Waiting)> DeleteReplacedAsync(string folder, List<CommitMarker> markers)
    {
        var visible = EventLogReader.Visible(markers);
        var shown = new HashSet<CommitMarker>(visible, ReferenceEqualityComparer.Instance);
        var visibleFiles = new HashSet<string>(visible.SelectMany(m => m.Files), StringComparer.Ordinal);
        var now = _time.GetUtcNow().UtcDateTime;
        int deleted = 0, waiting = 0;
        foreach (var marker in markers.Where(m => !shown.Contains(m)))
        {
            var cover = visible.FirstOrDefault(v => v.Partition == marker.Partition
                && (v.FirstOffset == marker.FirstOffset || (v.FirstOffset < marker.FirstOffset && marker.FirstOffset < v.NextOffset)));
            if (cover is null)
            {
                continue;
            }

            var files = marker.Files.Where(f => !visibleFiles.Contains(f)).ToList();
            var since = File.GetLastWriteTimeUtc(MarkerPath(folder, cover));
            if (now - since < _options.Grace)
            {
                waiting += files.Count;
                continue;
            }

            foreach (var file in files)
            {
                var path = Path.Combine(folder, file);
                if (File.Exists(path))
                {
                    File.Delete(path);
                    deleted++;
                    await StepAsync(CompactionStep.ReplacedFileDeleted).ConfigureAwait(false);
                }
            }

            File.Delete(MarkerPath(folder, marker));
        }

        return (deleted, waiting);
    }
}

/// <summary>Points of a compaction a test can stop at, as a crash would.</summary>
internal enum CompactionStep
{
    /// <summary>A compacted data file was renamed into place (not named by any marker yet).</summary>
    FileWritten,

    /// <summary>The compacted marker was written under its temporary name.</summary>
    MarkerWritten,

    /// <summary>The compacted marker was renamed into place: the switch.</summary>
    Switched,

    /// <summary>A data file of a replaced batch was deleted (its marker not yet).</summary>
    ReplacedFileDeleted,

    /// <summary>A file an interrupted compaction left was deleted.</summary>
    LeftoverDeleted,
}
