namespace FeatureStore.Parquet.EventLog;

/// <summary>
/// Finds the committed files of a source's event log: exactly those named by the visible commit markers.
/// A writer's markers of one partition form a chain of adjacent offset ranges. A compaction adds a marker
/// that covers a run of them and deletes the replaced ones only later (readers that listed them before may
/// still be reading their files), so readers take the visible chain: markers in order of first offset (at
/// one first offset the highest generation first), each taken when it starts where the last one taken ends
/// or later. A compacted marker thus hides the markers it replaces from the instant it exists, and a marker
/// a stale writer might add inside a compacted range (once the replaced markers, its fence, are gone) is
/// never seen.
/// </summary>
internal static class EventLogReader
{
    public static IReadOnlyList<string> CommittedFiles(string root, string source)
    {
        var folder = EventLogWriter.SourceFolder(root, source);
        return [.. Visible(ReadMarkers(Path.Combine(folder, CommitMarker.Folder))).SelectMany(m => m.Files.Select(f => Path.Combine(folder, f)))];
    }

    /// <summary>
    /// Every commit marker in <paramref name="markersFolder"/> (of one partition when given). A marker that
    /// disappears between the listing and the read is skipped: only markers already replaced by a visible
    /// one are ever deleted.
    /// </summary>
    public static List<CommitMarker> ReadMarkers(string markersFolder, int? partition = null)
    {
        var markers = new List<CommitMarker>();
        if (!Directory.Exists(markersFolder))
        {
            return markers;
        }

        var pattern = partition is { } p ? FormattableString.Invariant($"p{p:D4}-*.json") : "p*.json";
        foreach (var path in Directory.EnumerateFiles(markersFolder, pattern))
        {
            try
            {
                markers.Add(CommitMarker.Parse(File.ReadAllBytes(path)));
            }
            catch (FileNotFoundException)
            {
                // replaced and deleted by a compaction meanwhile
            }
        }

        return markers;
    }

    /// <summary>The visible chain of <paramref name="markers"/>, by partition and first offset.</summary>
    public static List<CommitMarker> Visible(IEnumerable<CommitMarker> markers)
    {
        var visible = new List<CommitMarker>();
        CommitMarker? last = null;
        foreach (var marker in markers.OrderBy(m => m.Partition).ThenBy(m => m.FirstOffset).ThenByDescending(m => m.Generation))
        {
            if (last is not null && last.Partition == marker.Partition
                && (marker.FirstOffset < last.NextOffset || marker.FirstOffset == last.FirstOffset))
            {
                continue; // replaced by a compaction, or a stale writer's batch inside a compacted range
            }

            visible.Add(marker);
            last = marker;
        }

        return visible;
    }
}
