using System.Globalization;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using Parquet;

namespace FeatureStore.Parquet.EventLog;

/// <summary>
/// Where a partition's log ends on disk: the next offset to archive and its lateness watermark; and, from the
/// last batch's marker, the Kafka topic incarnation it was read from and the base added to that incarnation's
/// Kafka offsets (the log's offset minus the base is the Kafka offset).
/// </summary>
/// <param name="NextOffset">The log's next offset (Kafka's plus <paramref name="OffsetBase"/>).</param>
/// <param name="WatermarkMs">The partition's lateness watermark after the last batch (long.MinValue before any).</param>
/// <param name="Incarnation">The topic incarnation the last batch was read from (null when unknown).</param>
/// <param name="OffsetBase">Added to that incarnation's Kafka offsets to make the log's.</param>
public readonly record struct LogPosition(long NextOffset, long WatermarkMs, string? Incarnation = null, long OffsetBase = 0);

/// <summary>
/// Appends committed batches to one source's event log. Layout under the store's root:
/// <c>events/SOURCE/date=YYYY-MM-DD/pPPPP-FIRST-LAST-NONCE.parquet</c> (event date in UTC, Kafka offsets of
/// the batch) and <c>events/SOURCE/_commits/pPPPP-FIRST.json</c>. Data files are written under a temporary
/// name, flushed to disk and renamed; the commit marker is written last and created without overwriting,
/// so a batch is visible exactly when its marker exists and two writers can never both commit a batch
/// starting at the same offset. Readers read only files named by a visible marker (see
/// <see cref="EventLogReader"/>; <c>Compaction.EventLogCompactor</c> merges committed batches later).
/// </summary>
public sealed class EventLogWriter
{
    private readonly EventLogSchema _schema;
    private readonly ParquetOptions _options;
    private readonly string _folder;

    /// <summary>A writer of <paramref name="source"/>'s log under the store's <paramref name="root"/> (its folders are created).</summary>
    public EventLogWriter(string root, CompiledSource source)
    {
        Source = source;
        _schema = new EventLogSchema(source.Definition);

        // Keys, categories and the topic repeat: dictionary pages make the files smaller and the text far cheaper
        // to decode (Parquet.Net keeps a column plain when most of its values are distinct, as ids are).
        _options = new ParquetOptions();
        var fields = source.Schema.Fields;
        for (var i = 0; i < fields.Count; i++)
        {
            if (fields[i].Kind == FieldKind.String)
            {
                _options.ColumnEncodingHints[_schema.FieldColumns[i].Name] = EncodingHint.Dictionary;
            }
        }

        _options.ColumnEncodingHints[_schema.Topic.Name] = EncodingHint.Dictionary;
        _folder = SourceFolder(root, source.Definition.Name);
        Directory.CreateDirectory(Path.Combine(_folder, CommitMarker.Folder));
    }

    /// <summary>The source whose events it writes.</summary>
    public CompiledSource Source { get; }

    /// <summary>The folder of a source's log under the store's root.</summary>
    public static string SourceFolder(string root, string source) => Path.Combine(root, "events", source);

    /// <summary>
    /// Reads where a partition's log ends and removes what a crash left behind for it: temporary files and
    /// data files no marker names. Call it only for a partition this process owns.
    /// </summary>
    public LogPosition Recover(int partition)
    {
        var prefix = FormattableString.Invariant($"p{partition:D4}-");
        var markerFolder = Path.Combine(_folder, CommitMarker.Folder);
        foreach (var path in Directory.EnumerateFiles(markerFolder, ".tmp*"))
        {
            if (Path.GetFileName(path).Contains(prefix, StringComparison.Ordinal))
            {
                File.Delete(path);
            }
        }

        // The position is the end of the visible chain; every marker's files count as named, replaced ones
        // too: a compaction deletes those itself once no reader can still be reading them. Compacted files
        // (cPPPP-…) are never deleted here: a compaction in progress has not named its file yet.
        var markers = EventLogReader.ReadMarkers(markerFolder, partition);
        var named = new HashSet<string>(markers.SelectMany(m => m.Files), StringComparer.Ordinal);
        var position = EventLogReader.Visible(markers) is [.., var last]
            ? new LogPosition(last.NextOffset, last.WatermarkMs, last.Incarnation, last.OffsetBase)
            : new LogPosition(0, long.MinValue);

        foreach (var dateFolder in Directory.EnumerateDirectories(_folder, "date=*"))
        {
            foreach (var path in Directory.EnumerateFiles(dateFolder))
            {
                var name = Path.GetFileName(path);
                var relative = Path.GetFileName(dateFolder) + "/" + name;
                if ((name.StartsWith(".tmp-" + prefix, StringComparison.Ordinal) || name.StartsWith(prefix, StringComparison.Ordinal)) && !named.Contains(relative))
                {
                    File.Delete(path);
                }
            }
        }

        return position;
    }

    /// <summary>
    /// Writes one batch of a partition: a file per event date, then the marker. Returns false, leaving
    /// nothing behind, when a batch starting at <paramref name="firstOffset"/> was already committed
    /// (another writer owns the partition now, or this one is stale).
    /// </summary>
    public Task<bool> CommitAsync(
        string topic, int partition, long firstOffset, long nextOffset, long watermarkMs,
        IReadOnlyDictionary<long, EventRowBuffer> rowsByDay, CancellationToken cancellationToken) =>
        CommitAsync(topic, partition, firstOffset, nextOffset, watermarkMs, rowsByDay, null, 0, cancellationToken);

    /// <summary>
    /// <see cref="CommitAsync(string, int, long, long, long, IReadOnlyDictionary{long, EventRowBuffer}, CancellationToken)"/>,
    /// its marker naming the Kafka topic incarnation read and the base added to its offsets.
    /// </summary>
    public async Task<bool> CommitAsync(
        string topic, int partition, long firstOffset, long nextOffset, long watermarkMs,
        IReadOnlyDictionary<long, EventRowBuffer> rowsByDay, string? incarnation, long offsetBase, CancellationToken cancellationToken)
    {
        var nonce = Guid.NewGuid().ToString("N")[..8];
        var files = new List<string>();
        var written = new List<string>();
        long rows = 0;
        try
        {
            foreach (var (day, buffer) in rowsByDay.OrderBy(kv => kv.Key))
            {
                if (buffer.Count == 0)
                {
                    continue;
                }

                var name = FormattableString.Invariant($"p{partition:D4}-{firstOffset:D19}-{nextOffset - 1:D19}-{nonce}.parquet");
                var file = await WriteDataFileAsync(topic, partition, day, name, buffer, cancellationToken).ConfigureAwait(false);
                written.Add(Path.Combine(_folder, file));
                files.Add(file);
                rows += buffer.Count;
            }

            var marker = new CommitMarker(partition, firstOffset, nextOffset, watermarkMs, rows, files, 0, incarnation, offsetBase);
            if (!await TryWriteMarkerAsync(marker, nonce, cancellationToken).ConfigureAwait(false))
            {
                foreach (var path in written)
                {
                    File.Delete(path);
                }

                return false;
            }

            return true;
        }
        catch (Exception) when (DeleteQuietly(written))
        {
            throw; // never reached: the filter cleans up and declines
        }
    }

    /// <summary>
    /// Writes one data file of a batch (the rows of one event <paramref name="day"/>, days since the epoch) under
    /// a temporary name, flushed to disk, then renamed to <paramref name="name"/>; returns its path relative to
    /// the source's folder, as a marker names it. Invisible to readers until a marker names it.
    /// </summary>
    internal async Task<string> WriteDataFileAsync(string topic, int partition, long day, string name, EventRowBuffer buffer, CancellationToken cancellationToken)
    {
        var dateFolder = "date=" + DateOnly.FromDayNumber((int)day + DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var folder = Path.Combine(_folder, dateFolder);
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, ".tmp-" + name);
        await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None))
        {
            await WriteRowsAsync(stream, topic, partition, buffer, cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, Path.Combine(folder, name));
        return dateFolder + "/" + name;
    }

    /// <summary>
    /// Commits <paramref name="marker"/>: written under a temporary name, flushed, and renamed without overwriting;
    /// false (nothing left behind) when a marker of that partition and first offset exists already.
    /// </summary>
    internal async Task<bool> TryWriteMarkerAsync(CommitMarker marker, string nonce, CancellationToken cancellationToken)
    {
        var markerFolder = Path.Combine(_folder, CommitMarker.Folder);
        var markerTemp = Path.Combine(markerFolder, FormattableString.Invariant($".tmp-p{marker.Partition:D4}-{nonce}"));
        await using (var stream = new FileStream(markerTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            await stream.WriteAsync(marker.Serialize(), cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }

        var final = Path.Combine(markerFolder, CommitMarker.FileName(marker.Partition, marker.FirstOffset));
        try
        {
            // Without overwrite, the rename fails when the name exists: the claim on this offset.
            File.Move(markerTemp, final, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(final))
        {
            File.Delete(markerTemp);
            return false;
        }
    }

    // Text columns as characters, the form Parquet.Net dictionary-encodes (strings are written plain).
    private static ReadOnlyMemory<char>?[] Text(List<string?> values)
    {
        var text = new ReadOnlyMemory<char>?[values.Count];
        for (var i = 0; i < text.Length; i++)
        {
            text[i] = values[i]?.AsMemory();
        }

        return text;
    }

    private static bool DeleteQuietly(List<string> paths)
    {
        foreach (var path in paths)
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // left for Recover
            }
        }

        return false;
    }

    private async Task WriteRowsAsync(Stream stream, string topic, int partition, EventRowBuffer buffer, CancellationToken cancellationToken)
    {
        await using var writer = await ParquetWriter.CreateAsync(_schema.Schema, stream, _options, cancellationToken: cancellationToken).ConfigureAwait(false);
        using var group = writer.CreateRowGroup();
        var fields = Source.Schema.Fields;
        for (var i = 0; i < fields.Count; i++)
        {
            var column = _schema.FieldColumns[i];
            switch (fields[i].Kind)
            {
                case FieldKind.String:
                    await group.WriteAsync<ReadOnlyMemory<char>>(column, Text(buffer.Strings(i)), cancellationToken: cancellationToken).ConfigureAwait(false);
                    break;
                case FieldKind.Double:
                    await group.WriteAsync<double>(column, buffer.Doubles(i).ToArray(), cancellationToken: cancellationToken).ConfigureAwait(false);
                    break;
                case FieldKind.Bool:
                    await group.WriteAsync<bool>(column, buffer.Bools(i).ToArray(), cancellationToken: cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    await group.WriteAsync<long>(column, buffer.Integers(i).ToArray(), cancellationToken: cancellationToken).ConfigureAwait(false);
                    break;
            }
        }

        await group.WriteAsync<long>(_schema.EventTime, buffer.EventTimes.ToArray(), cancellationToken: cancellationToken).ConfigureAwait(false);
        await group.WriteAsync<ReadOnlyMemory<char>>(_schema.Topic, Enumerable.Repeat(topic.AsMemory(), buffer.Count).ToArray(), cancellationToken: cancellationToken).ConfigureAwait(false);
        await group.WriteAsync<int>(_schema.Partition, Enumerable.Repeat(partition, buffer.Count).ToArray(), cancellationToken: cancellationToken).ConfigureAwait(false);
        await group.WriteAsync<long>(_schema.Offset, buffer.Offsets.ToArray(), cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
