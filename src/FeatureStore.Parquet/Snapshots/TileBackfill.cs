using System.Buffers;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Export;

namespace FeatureStore.Parquet.Snapshots;

/// <summary>What a backfill wrote.</summary>
/// <param name="Events">Events read and applied.</param>
/// <param name="Skipped">Lines of an events file the parser rejected (with the first few reasons in <paramref name="Problems"/>).</param>
/// <param name="Entities">Entities seen.</param>
/// <param name="Snapshots">Daily snapshots written.</param>
/// <param name="Problems">Up to ten rejected lines, as <c>file:line: reason</c>.</param>
public sealed record BackfillResult(long Events, long Skipped, int Entities, int Snapshots, IReadOnlyList<string> Problems);

/// <summary>
/// Computes a view's tiles from history (the offline event log, or a JSON-lines file of source events)
/// into daily snapshots in the offline store, so a feature added today can be trained on last month's
/// data and exports of long windows start from a snapshot instead of replaying all history. The states
/// come from <see cref="ViewWindowState"/>, the same code as online lookups and exports.
/// </summary>
public static class TileBackfill
{
    private const long Day = 86_400_000;

    /// <summary>
    /// Backfills <paramref name="view"/> into <paramref name="storeDirectory"/>: from <paramref name="eventsFile"/>
    /// when given (one JSON event per line, the source's format), else from the store's event log.
    /// </summary>
    public static async Task<BackfillResult> RunAsync(
        CompiledView view, string storeDirectory, string? eventsFile, IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(view);
        var entities = new Dictionary<string, int>(StringComparer.Ordinal);
        var events = new ViewEvents(view.InputSlots);
        Dictionary<int, long>? covered = null;
        long skipped = 0;
        var problems = new List<string>();
        if (eventsFile is null)
        {
            covered = [];
            var folder = EventLogWriter.SourceFolder(storeDirectory, view.Source.Definition.Name);
            foreach (var marker in EventLogReader.Visible(EventLogReader.ReadMarkers(Path.Combine(folder, CommitMarker.Folder))))
            {
                covered[marker.Partition] = Math.Max(covered.GetValueOrDefault(marker.Partition), marker.NextOffset);
            }

            var frozen = covered;
            var read = new InlineProgress<long>(n => progress?.Report(new ExportProgress(view.Name + ": reading events", n, 0)));
            await EventLogScan.LoadAsync(storeDirectory, view, entities, null, events,
                (partition, offset, _) => frozen.TryGetValue(partition, out var next) && offset < next, progress is null ? null : read, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            skipped = await ReadEventsFileAsync(view, eventsFile, entities, events, problems, cancellationToken).ConfigureAwait(false);
        }

        events.SortByEntityAndTime(entities.Count);
        if (events.Count == 0)
        {
            return new BackfillResult(0, skipped, 0, 0, problems);
        }

        long first = long.MaxValue, last = long.MinValue;
        for (var i = 0; i < events.Count; i++)
        {
            first = Math.Min(first, events.Time(i));
            last = Math.Max(last, events.Time(i));
        }

        var firstBoundary = (TileMath.FloorDiv(first, Day) + 1) * Day;
        var days = (int)(((TileMath.FloorDiv(last, Day) + 1) * Day - firstBoundary) / Day) + 1;
        var keys = new string[entities.Count];
        foreach (var (key, index) in entities)
        {
            keys[index] = key;
        }

        var perDay = Enumerable.Range(0, days).Select(_ => (Keys: new List<string>(), States: new List<byte[]>())).ToArray();
        var buffer = new ArrayBufferWriter<byte>(1024);
        for (var e = 0; e < entities.Count; e++)
        {
            var state = new ViewWindowState(view.Features, view.TtlMs) { RetainRaw = false };
            var inputs = new FeatureInput[view.Features.Count];
            var ev = events.Starts[e];
            var end = events.Starts[e + 1];
            for (var d = 0; d < days; d++)
            {
                var boundary = firstBoundary + (d * Day);
                while (ev < end && events.Time(ev) < boundary)
                {
                    events.Inputs(ev, inputs);
                    state.Add(events.Time(ev), events.Sequence(ev), inputs);
                    ev++;
                }

                if (state.FirstEventTime is null)
                {
                    continue;
                }

                state.Compact(rawBefore: boundary, queriesFrom: boundary);
                buffer.ResetWrittenCount();
                state.WriteTo(buffer);
                perDay[d].Keys.Add(keys[e]);
                perDay[d].States.Add(buffer.WrittenSpan.ToArray());
            }

            if ((e & 1023) == 0)
            {
                progress?.Report(new ExportProgress(view.Name + ": computing tiles", e, entities.Count));
            }
        }

        for (var d = 0; d < days; d++)
        {
            progress?.Report(new ExportProgress(view.Name + ": writing snapshots", d, days));
            await TileSnapshots.WriteAsync(storeDirectory, view, firstBoundary + (d * Day), covered, perDay[d].Keys, perDay[d].States, cancellationToken).ConfigureAwait(false);
        }

        return new BackfillResult(events.Count, skipped, entities.Count, days, problems);
    }

    private static async Task<long> ReadEventsFileAsync(CompiledView view, string path, Dictionary<string, int> entities, ViewEvents events, List<string> problems, CancellationToken cancellationToken)
    {
        var parser = new EventParser(view.Source.Schema);
        long skipped = 0;
        long line = 0;
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            var error = parser.Parse(System.Text.Encoding.UTF8.GetBytes(text));
            if (error != ParseError.None)
            {
                skipped++;
                if (problems.Count < 10)
                {
                    problems.Add($"{path}:{line}: {error}{(parser.ErrorField is { } field ? " (field " + field + ")" : string.Empty)}");
                }

                continue;
            }

            var key = parser.KeyFor(view.KeySlots);
            if (!entities.TryGetValue(key, out var entity))
            {
                entity = entities.Count;
                entities[key] = entity;
            }

            var i = events.Add(entity, parser.EventTimeMs, line);
            for (var c = 0; c < events.ColumnSlots.Count; c++)
            {
                var slot = events.ColumnSlots[c];
                if (!parser.HasValue(slot))
                {
                    continue;
                }

                if (parser.Schema.Fields[slot].Kind == FieldKind.String)
                {
                    events.SetText(i, c, System.Text.Encoding.UTF8.GetString(parser.GetUtf8(slot)));
                }
                else
                {
                    events.SetNumber(i, c, parser.GetDouble(slot));
                }
            }
        }

        return skipped;
    }
}
