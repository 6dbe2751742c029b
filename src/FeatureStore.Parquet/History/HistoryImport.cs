using System.Diagnostics;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Streaming;
using FeatureStore.Parquet.Export;

namespace FeatureStore.Parquet.History;

/// <summary>What an import read for one view of the source.</summary>
/// <param name="View">The view.</param>
/// <param name="Entities">Distinct entities (the view's join keys) in the accepted events.</param>
/// <param name="Events">Accepted events.</param>
/// <param name="Online">Entities given their history's state in the online store (null: no online store).</param>
public sealed record HistoryViewCount(string View, long Entities, long Events, long? Online = null);

/// <summary>What an import did.</summary>
/// <param name="Accepted">Rows accepted as events.</param>
/// <param name="Rejected">Rows refused, each in a rejects file.</param>
/// <param name="Views">Per view of the source: entities and events.</param>
/// <param name="RejectFiles">The rejects files written (<c>INPUT.rejects.jsonl</c>), one per input with refused rows.</param>
/// <param name="FirstEventMs">The oldest accepted event time, or null without events.</param>
/// <param name="LastEventMs">The newest accepted event time, or null without events.</param>
/// <param name="Elapsed">Wall time.</param>
/// <param name="ImportId">The import's id: SHA-256 of the source, the cut-over given (or none) and the inputs' bytes.</param>
/// <param name="CutoverMs">The cut-over: history owns event times before it (null without accepted events).</param>
/// <param name="AfterCutover">Accepted rows at or after a given cut-over, left to the stream.</param>
/// <param name="AlreadyImported">True when the same import was committed before: nothing was read or written.</param>
public sealed record HistoryImportResult(
    long Accepted, long Rejected, IReadOnlyList<HistoryViewCount> Views, IReadOnlyList<string> RejectFiles, long? FirstEventMs, long? LastEventMs, TimeSpan Elapsed,
    string ImportId, long? CutoverMs, long AfterCutover, bool AlreadyImported);

/// <summary>Another import of the same source into the same offline store is running (it holds the source's import lock).</summary>
/// <param name="message">Which source and store, and the lock's error.</param>
/// <param name="inner">The error of taking the lock.</param>
public sealed class HistoryImportBusyException(string message, Exception inner) : IOException(message, inner);

/// <summary>What to import and where.</summary>
/// <param name="Inputs">The files, read in the order given.</param>
public sealed record HistoryImportOptions(IReadOnlyList<string> Inputs)
{
    /// <summary>The files' format, or null for each file's extension.</summary>
    public HistoryFormat? Format { get; init; }

    /// <summary>The offline store whose event log receives the events, or null to only read and count.</summary>
    public string? StoreDirectory { get; init; }

    /// <summary>The cut-over (epoch ms): history owns event times before it; null for the newest accepted event + 1 ms.</summary>
    public long? CutoverMs { get; init; }

    /// <summary>Most rows held before they are written to the log (bounds the memory of an import of any size).</summary>
    public int MaxBufferedRows { get; init; } = 200_000;

    /// <summary>Where the views' states go (the online store), or null for the offline log alone.</summary>
    public IHistoryOnlineSink? Online { get; init; }

    /// <summary>The folder the online part's sorted runs are spilled to (removed at the end).</summary>
    public string SpillDirectory { get; init; } = Path.GetTempPath();

    /// <summary>Most events per view held in memory before a sorted run is spilled.</summary>
    public int MaxSpillRecords { get; init; } = 200_000;
}

/// <summary>
/// <c>featurestore import</c>: past events of one source from files (JSON lines, CSV, Parquet), in any order,
/// parsed by the source's <see cref="EventParser"/> exactly as ingest parses the topic, without lateness
/// (history is never too late). Refused rows go to <c>INPUT.rejects.jsonl</c> beside each input.
/// </summary>
public static class HistoryImport
{
    /// <summary>
    /// The latest cut-over among the imports committed to <paramref name="source"/>'s event log under
    /// <paramref name="root"/> (the archiver leaves the stream's events before it out), or null without imports.
    /// </summary>
    public static long? RecordedCutover(string root, string source) =>
        EventLog.EventLogReader.ReadMarkers(Path.Combine(EventLog.EventLogWriter.SourceFolder(root, source), EventLog.CommitMarker.Folder), EventLog.CommitMarker.HistoryPartition)
            .Max(m => m.CutoverMs);

    /// <summary>The rejects file of an input: <c>INPUT.rejects.jsonl</c> beside it.</summary>
    public static string RejectsFile(string input) => input + ".rejects.jsonl";

    /// <summary>Imports the inputs of <paramref name="options"/> into <paramref name="source"/>'s history.</summary>
    /// <param name="source">The source the events belong to.</param>
    /// <param name="settings">The repository's settings (the future skew still applies: history is not in the future).</param>
    /// <param name="options">The inputs and where they go.</param>
    /// <param name="progress">Where progress goes, or null.</param>
    /// <param name="cancellationToken">Stops the import.</param>
    public static async Task<HistoryImportResult> RunAsync(
        CompiledSource source, RepositorySettings settings, HistoryImportOptions options, IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        var importId = await ImportIdAsync(source, options, progress, cancellationToken).ConfigureAwait(false);
        HistoryLog? log = null;
        if (options.StoreDirectory is { } store)
        {
            (log, var done) = HistoryLog.Open(store, source, importId, options.MaxBufferedRows);
            if (done is not null)
            {
                return new HistoryImportResult(done.Rows, 0, [], [], null, done.WatermarkMs, clock.Elapsed, importId, done.CutoverMs, 0, AlreadyImported: true);
            }
        }

        var spills = options.Online is null ? null : source.Views.Select(_ => new SpillSorter(options.SpillDirectory, options.MaxSpillRecords)).ToArray();
        await using (log)
        {
            try
            {
                var result = await ReadAsync(source, settings, options, log, spills, progress, cancellationToken).ConfigureAwait(false);
                if (options.Online is { } online && spills is not null && result.CutoverMs is { } cutover)
                {
                    // Online before the marker: a marker means the whole import is done, online part included.
                    var views = result.Views.ToList();
                    for (var v = 0; v < source.Views.Count; v++)
                    {
                        progress?.Report(new ExportProgress("online: " + source.Views[v].Name, 0, 0));
                        var written = await online.WriteAsync(source.Views[v], spills[v].Merge(), importId, cutover, cancellationToken).ConfigureAwait(false);
                        views[v] = views[v] with { Online = written };
                    }

                    result = result with { Views = views };
                    await online.RecordCutoverAsync(source, importId, cutover, cancellationToken).ConfigureAwait(false);
                }

                return await CommitAsync(result).ConfigureAwait(false);
            }
            finally
            {
                foreach (var spill in spills ?? [])
                {
                    spill.Dispose();
                }
            }
        }

        async Task<HistoryImportResult> CommitAsync(HistoryImportResult result)
        {
            if (log is not null)
            {
                progress?.Report(new ExportProgress("committing", 0, 0));
                await log.CommitAsync(result.CutoverMs ?? 0, cancellationToken).ConfigureAwait(false);
            }

            return result with { ImportId = importId, Elapsed = clock.Elapsed };
        }
    }

    /// <summary>
    /// The import's id: SHA-256 over the source's name, the cut-over given (a default one follows from the
    /// content) and each input's length and bytes. The same files imported again give the same id.
    /// </summary>
    public static async Task<string> ImportIdAsync(CompiledSource source, HistoryImportOptions options, IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"source={source.Definition.Name}\ncutover={options.CutoverMs?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "newest+1ms"}\n"));
        var buffer = new byte[1 << 20];
        foreach (var input in options.Inputs)
        {
            progress?.Report(new ExportProgress("hashing " + Path.GetFileName(input), 0, 0));
            await using var stream = new FileStream(input, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan | FileOptions.Asynchronous);
            hash.AppendData(BitConverter.GetBytes(stream.Length));
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static async Task<HistoryImportResult> ReadAsync(
        CompiledSource source, RepositorySettings settings, HistoryImportOptions options, HistoryLog? log, SpillSorter[]? spills,
        IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        var key = new byte[256];
        var parser = new EventParser(source.Schema);
        var inputs = options.Inputs;
        var format = options.Format;
        var cutover = options.CutoverMs ?? long.MaxValue;
        long afterCutover = 0;

        // Lateness is a stream's rule (how long to wait for stragglers); a file holds its whole past at once.
        var policy = new LatenessPolicy(long.MaxValue, settings.MaxFutureSkewMs);
        var views = source.Views.Select(v => (View: v, Keys: new HashSet<string>(StringComparer.Ordinal))).ToList();
        long accepted = 0, rejected = 0;
        long first = long.MaxValue, last = long.MinValue;
        var rejectFiles = new List<string>();
        foreach (var input in inputs)
        {
            var rejectsPath = RejectsFile(input);
            File.Delete(rejectsPath); // a rejects file of an earlier run would describe another file
            FileStream? rejects = null;
            Utf8JsonWriter? writer = null;
            var name = Path.GetFileName(input);
            try
            {
                var nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                await HistoryInput.ReadAsync(input, format ?? HistoryInput.FormatOf(input), source.Schema, (line, payload, refused) =>
                {
                    string? reason = null, field = null;
                    if (refused is not null)
                    {
                        reason = "malformed_row";
                        field = null;
                    }
                    else if (parser.Parse(payload) is var error && error != ParseError.None)
                    {
                        reason = error.ToReason();
                        field = parser.ErrorField;
                    }
                    else if (policy.Admit(0, parser.EventTimeMs, nowMs) is var late && late != ParseError.None)
                    {
                        reason = late.ToReason();
                        field = source.Schema.TimestampField;
                    }

                    if (reason is not null)
                    {
                        rejected++;
                        if (writer is null)
                        {
                            rejects = new FileStream(rejectsPath, FileMode.Create, FileAccess.Write, FileShare.Read);
                            writer = new Utf8JsonWriter(rejects);
                            rejectFiles.Add(rejectsPath);
                        }

                        writer.WriteStartObject();
                        writer.WriteNumber("line", line);
                        writer.WriteString("reason", reason);
                        if (field is not null)
                        {
                            writer.WriteString("field", field);
                        }

                        if (refused is not null)
                        {
                            writer.WriteString("detail", refused);
                        }

                        writer.WriteEndObject();
                        writer.Flush();
                        rejects!.WriteByte((byte)'\n');
                        writer.Reset();
                        return;
                    }

                    if (parser.EventTimeMs >= cutover)
                    {
                        afterCutover++; // the stream's part
                        return;
                    }

                    var position = (log?.FirstOffset ?? 0) + accepted;
                    accepted++;
                    log?.Add(parser, cancellationToken);
                    for (var v = 0; spills is not null && v < spills.Length; v++)
                    {
                        var view = source.Views[v];
                        int written;
                        while (!parser.TryWriteKeyUtf8(view.KeySlots, key, out written))
                        {
                            key = new byte[key.Length * 2];
                        }

                        spills[v].Add(new SpillRecord(key.AsSpan(0, written).ToArray(), parser.EventTimeMs, position, HistoryInputs.Encode(view, parser)));
                    }

                    first = Math.Min(first, parser.EventTimeMs);
                    last = Math.Max(last, parser.EventTimeMs);
                    foreach (var (view, keys) in views)
                    {
                        keys.Add(parser.KeyFor(view.KeySlots));
                    }

                    if ((accepted & 8191) == 0)
                    {
                        progress?.Report(new ExportProgress("importing " + name, accepted, 0));
                    }
                }, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (writer is not null)
                {
                    await writer.DisposeAsync().ConfigureAwait(false);
                }

                if (rejects is not null)
                {
                    await rejects.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        return new HistoryImportResult(
            accepted, rejected, [.. views.Select(v => new HistoryViewCount(v.View.Name, v.Keys.Count, accepted))], rejectFiles,
            accepted == 0 ? null : first, accepted == 0 ? null : last, TimeSpan.Zero, "",
            options.CutoverMs ?? (accepted == 0 ? null : last + 1), afterCutover, AlreadyImported: false);
    }
}
