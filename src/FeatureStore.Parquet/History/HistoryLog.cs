using System.Globalization;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.EventLog;

namespace FeatureStore.Parquet.History;

/// <summary>
/// Appends one import's events to a source's event log, exactly once. The rows go to the pseudo-partition
/// <see cref="CommitMarker.HistoryPartition"/> with offsets following the previous imports' (so readers,
/// snapshots' coverage and the order of equal times work as for any partition), in files
/// <c>date=…/h-ID-NNNNNN.parquet</c> per event date, flushed whenever the buffered rows reach a bound. The
/// marker naming them all, with the import id and cut-over, is written last: without it nothing is visible,
/// and the next import removes the files (a killed import); with it a rerun of the same import adds nothing.
/// One import per source at a time: an operating-system lock on <c>events/SOURCE/.import.lock</c>.
/// </summary>
internal sealed class HistoryLog : IAsyncDisposable
{
    private const string LockFile = ".import.lock";
    private const long Day = 86_400_000;
    private readonly EventLogWriter _writer;
    private readonly string _folder;
    private readonly FileStream _lock;
    private readonly string _importId;
    private readonly int _maxBufferedRows;
    private readonly Dictionary<long, EventRowBuffer> _days = [];
    private readonly List<string> _files = [];
    private int _buffered;
    private long _rows;
    private long _newest = long.MinValue;

    private HistoryLog(EventLogWriter writer, string folder, FileStream lockFile, string importId, long firstOffset, int maxBufferedRows)
    {
        _writer = writer;
        _folder = folder;
        _lock = lockFile;
        _importId = importId;
        FirstOffset = firstOffset;
        _maxBufferedRows = maxBufferedRows;
    }

    /// <summary>The offset of the import's first row.</summary>
    public long FirstOffset { get; }

    /// <summary>
    /// Opens the log of <paramref name="source"/> for import <paramref name="importId"/>: null with the marker of
    /// that import when it was committed before; otherwise a writer, after removing what a killed import left.
    /// </summary>
    /// <exception cref="HistoryImportBusyException">Another import of the source is running.</exception>
    public static (HistoryLog? Log, CommitMarker? Done) Open(string root, CompiledSource source, string importId, int maxBufferedRows)
    {
        var writer = new EventLogWriter(root, source);
        var folder = EventLogWriter.SourceFolder(root, source.Definition.Name);
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(Path.Combine(folder, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new HistoryImportBusyException($"another import of source '{source.Definition.Name}' into {root} is running ({ex.Message})", ex);
        }

        var markers = EventLogReader.ReadMarkers(Path.Combine(folder, CommitMarker.Folder), CommitMarker.HistoryPartition);
        if (markers.FirstOrDefault(m => m.ImportId == importId) is { } done)
        {
            lockFile.Dispose();
            return (null, done);
        }

        RemoveLeftovers(folder, markers);
        var next = EventLogReader.Visible(markers) is [.., var last] ? last.NextOffset : 0;
        return (new HistoryLog(writer, folder, lockFile, importId, next, maxBufferedRows), null);
    }

    /// <summary>
    /// Adds the event <paramref name="parser"/> holds, writing the buffered rows when they reach the bound. Called
    /// from the file reader's callback on a worker thread (no synchronization context), so waiting for the
    /// (asynchronous-only) Parquet writer there blocks nothing else.
    /// </summary>
    public void Add(EventParser parser, CancellationToken cancellationToken)
    {
        var day = TileMath.FloorDiv(parser.EventTimeMs, Day);
        if (!_days.TryGetValue(day, out var buffer))
        {
            buffer = new EventRowBuffer(_writer.Source.Schema);
            _days[day] = buffer;
        }

        buffer.Add(parser, FirstOffset + _rows);
        _rows++;
        _newest = Math.Max(_newest, parser.EventTimeMs);
        if (++_buffered >= _maxBufferedRows)
        {
            FlushAsync(cancellationToken).GetAwaiter().GetResult();
        }
    }

    /// <summary>Writes the remaining rows and the marker: the import is visible from then on.</summary>
    public async Task<CommitMarker?> CommitAsync(long cutoverMs, CancellationToken cancellationToken)
    {
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        if (_rows == 0)
        {
            return null; // nothing to find again: a rerun finds nothing either
        }

        var marker = new CommitMarker(CommitMarker.HistoryPartition, FirstOffset, FirstOffset + _rows, _newest, _rows, [.. _files], ImportId: _importId, CutoverMs: cutoverMs);
        if (!await _writer.TryWriteMarkerAsync(marker, _importId[..16], cancellationToken).ConfigureAwait(false))
        {
            throw new IOException($"a history batch at offset {FirstOffset} was committed by another writer meanwhile");
        }

        return marker;
    }

    public async ValueTask DisposeAsync() => await _lock.DisposeAsync().ConfigureAwait(false);

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        foreach (var (day, buffer) in _days.OrderBy(kv => kv.Key))
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"h-{_importId[..16]}-{_files.Count:D6}.parquet");
            _files.Add(await _writer.WriteDataFileAsync(_writer.Source.Definition.Topic, CommitMarker.HistoryPartition, day, name, buffer, cancellationToken).ConfigureAwait(false));
        }

        _days.Clear();
        _buffered = 0;
    }

    // A killed import's files: no marker names them, and no import runs beside this one (the lock).
    private static void RemoveLeftovers(string folder, List<CommitMarker> markers)
    {
        var named = new HashSet<string>(markers.SelectMany(m => m.Files), StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFiles(Path.Combine(folder, CommitMarker.Folder), FormattableString.Invariant($".tmp-p{CommitMarker.HistoryPartition:D4}-*")))
        {
            File.Delete(path);
        }

        foreach (var dateFolder in Directory.EnumerateDirectories(folder, "date=*"))
        {
            foreach (var path in Directory.EnumerateFiles(dateFolder))
            {
                var name = Path.GetFileName(path);
                if (name.StartsWith(".tmp-h-", StringComparison.Ordinal)
                    || (name.StartsWith("h-", StringComparison.Ordinal) && !named.Contains(Path.GetFileName(dateFolder) + "/" + name)))
                {
                    File.Delete(path);
                }
            }
        }
    }
}
