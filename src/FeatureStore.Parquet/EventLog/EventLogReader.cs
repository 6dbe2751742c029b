namespace FeatureStore.Parquet.EventLog;

/// <summary>Finds the committed files of a source's event log: exactly those named by a commit marker.</summary>
internal static class EventLogReader
{
    public static IReadOnlyList<string> CommittedFiles(string root, string source)
    {
        var folder = EventLogWriter.SourceFolder(root, source);
        var markers = Path.Combine(folder, CommitMarker.Folder);
        if (!Directory.Exists(markers))
        {
            return [];
        }

        var files = new List<string>();
        foreach (var path in Directory.EnumerateFiles(markers, "p*.json").Order(StringComparer.Ordinal))
        {
            var marker = CommitMarker.Parse(File.ReadAllBytes(path));
            files.AddRange(marker.Files.Select(f => Path.Combine(folder, f)));
        }

        return files;
    }
}
