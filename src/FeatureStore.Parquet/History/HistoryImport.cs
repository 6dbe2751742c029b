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
public sealed record HistoryViewCount(string View, long Entities, long Events);

/// <summary>What an import did.</summary>
/// <param name="Accepted">Rows accepted as events.</param>
/// <param name="Rejected">Rows refused, each in a rejects file.</param>
/// <param name="Views">Per view of the source: entities and events.</param>
/// <param name="RejectFiles">The rejects files written (<c>INPUT.rejects.jsonl</c>), one per input with refused rows.</param>
/// <param name="FirstEventMs">The oldest accepted event time, or null without events.</param>
/// <param name="LastEventMs">The newest accepted event time, or null without events.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record HistoryImportResult(
    long Accepted, long Rejected, IReadOnlyList<HistoryViewCount> Views, IReadOnlyList<string> RejectFiles, long? FirstEventMs, long? LastEventMs, TimeSpan Elapsed);

/// <summary>
/// <c>featurestore import</c>: past events of one source from files (JSON lines, CSV, Parquet), in any order,
/// parsed by the source's <see cref="EventParser"/> exactly as ingest parses the topic, without lateness
/// (history is never too late). Refused rows go to <c>INPUT.rejects.jsonl</c> beside each input.
/// </summary>
public static class HistoryImport
{
    /// <summary>The rejects file of an input: <c>INPUT.rejects.jsonl</c> beside it.</summary>
    public static string RejectsFile(string input) => input + ".rejects.jsonl";

    /// <summary>Reads every input of <paramref name="source"/>.</summary>
    /// <param name="source">The source the events belong to.</param>
    /// <param name="settings">The repository's settings (the future skew still applies: history is not in the future).</param>
    /// <param name="inputs">The files, read in the order given.</param>
    /// <param name="format">The files' format, or null for each file's extension.</param>
    /// <param name="progress">Where progress goes, or null.</param>
    /// <param name="cancellationToken">Stops the import.</param>
    public static async Task<HistoryImportResult> RunAsync(
        CompiledSource source, RepositorySettings settings, IReadOnlyList<string> inputs, HistoryFormat? format,
        IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(inputs);
        var clock = Stopwatch.StartNew();
        var parser = new EventParser(source.Schema);

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

                    accepted++;
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
            accepted == 0 ? null : first, accepted == 0 ? null : last, clock.Elapsed);
    }
}
