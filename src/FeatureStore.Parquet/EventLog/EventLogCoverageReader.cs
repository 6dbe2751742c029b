using System.Globalization;
using FeatureStore.Core.Definitions;
using Parquet;

namespace FeatureStore.Parquet.EventLog;

/// <summary>
/// What a source's event log covers, for the plan of a view change (<see cref="FeaturePlan"/>): committed rows
/// per day and whether the log reaches back to the source's first event. Cheap: it reads the visible commit
/// markers, and a file footer only where one batch spans several days (a marker counts its rows as a whole).
/// </summary>
public static class EventLogCoverageReader
{
    /// <summary>The coverage of <paramref name="source"/>'s log under the offline store <paramref name="root"/>.</summary>
    public static async Task<EventLogCoverage> ReadAsync(string root, string source, CancellationToken cancellationToken)
    {
        var folder = EventLogWriter.SourceFolder(root, source);
        var visible = EventLogReader.Visible(EventLogReader.ReadMarkers(Path.Combine(folder, CommitMarker.Folder)));
        var rowsByDay = new Dictionary<long, long>();
        foreach (var marker in visible)
        {
            var days = marker.Files.Select(f => (File: f, Day: Day(f))).ToList();
            if (days.Select(d => d.Day).Distinct().Count() == 1)
            {
                Add(rowsByDay, days[0].Day, marker.Rows);
                continue;
            }

            foreach (var (file, day) in days)
            {
                await using var reader = await ParquetReader.CreateAsync(Path.Combine(folder, file), cancellationToken: cancellationToken).ConfigureAwait(false);
                long rows = 0;
                for (var g = 0; g < reader.RowGroupCount; g++)
                {
                    using var group = reader.OpenRowGroupReader(g);
                    rows += group.RowCount;
                }

                Add(rowsByDay, day, rows);
            }
        }

        // Offsets of the log start at 0 and go on increasing across recreated topics, so a partition whose
        // first visible batch starts at 0 was archived from its first event on. An imported history is the
        // source's past as its owner declared it (the stream owns only what follows its cut-over): with one,
        // the log reaches back to the first event whatever offsets the stream's partitions start at.
        var fromFirst = visible.Count > 0 && (visible.Any(m => m.Partition == CommitMarker.HistoryPartition)
            || visible.GroupBy(m => m.Partition).All(p => p.Min(m => m.FirstOffset) == 0));
        return new EventLogCoverage(fromFirst, rowsByDay);
    }

    private static void Add(Dictionary<long, long> rowsByDay, long day, long rows) =>
        rowsByDay[day] = rowsByDay.GetValueOrDefault(day) + rows;

    /// <summary>The first ms of the day of a log file, from its <c>date=YYYY-MM-DD/</c> folder.</summary>
    private static long Day(string file)
    {
        var folder = file[..file.IndexOf('/', StringComparison.Ordinal)];
        var date = DateOnly.ParseExact(folder["date=".Length..], "yyyy-MM-dd", CultureInfo.InvariantCulture);
        return (date.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber) * EventLogCoverage.DayMs;
    }
}
