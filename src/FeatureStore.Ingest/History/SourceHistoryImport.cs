using FeatureStore.Core.Definitions;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.History;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Ingest.History;

/// <summary>
/// A source's history import with its online part, as <c>featurestore import</c> and <c>featurestore run</c> (a
/// source's declared <c>history</c>) both run it: the offline event log through <see cref="HistoryImport"/>, and
/// with an online store each entity's history share through <see cref="HistoryOnlineWriter"/>.
/// </summary>
public static class SourceHistoryImport
{
    /// <summary>
    /// Imports <paramref name="options"/>' inputs into <paramref name="source"/>'s history: the offline log of
    /// <see cref="HistoryImportOptions.StoreDirectory"/>, and <paramref name="online"/> (keys under
    /// <paramref name="keyPrefix"/>) unless it is null.
    /// </summary>
    public static Task<HistoryImportResult> RunAsync(
        CompiledRepository compiled, CompiledSource source, HistoryImportOptions options, IDatabase? online, string keyPrefix,
        IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(compiled);
        ArgumentNullException.ThrowIfNull(options);
        var settings = compiled.Repository.Settings;
        if (online is not null)
        {
            options = options with { Online = new HistoryOnlineWriter(online, new OnlineKeys(keyPrefix, compiled.Repository.Project), settings.AllowedLatenessMs) };
        }

        return HistoryImport.RunAsync(source, settings, options, progress, cancellationToken);
    }

    /// <summary>The format a history declares, or null for each file's extension.</summary>
    public static HistoryFormat? Format(SourceHistoryDefinition history)
    {
        ArgumentNullException.ThrowIfNull(history);
        return history.Format is { } name ? Enum.Parse<HistoryFormat>(name, ignoreCase: true) : null;
    }

    /// <summary>
    /// The files a declared history names, relative to <paramref name="repositoryFile"/>: the file, the files of
    /// a folder, or those a pattern in the path's last part matches (<c>*</c>, <c>?</c>), in ordinal order.
    /// Rejects files (<c>*.rejects.jsonl</c>, written beside the inputs) and hidden files are not history. Empty,
    /// with <paramref name="problem"/> naming the full path, when it names no file.
    /// </summary>
    public static IReadOnlyList<string> Inputs(string repositoryFile, SourceHistoryDefinition history, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(history);
        var path = Path.GetFullPath(history.Path, Path.GetDirectoryName(Path.GetFullPath(repositoryFile))!);
        problem = null;
        if (File.Exists(path))
        {
            return [path];
        }

        var pattern = Path.GetFileName(path);
        var folder = Directory.Exists(path) ? path : pattern.AsSpan().IndexOfAny('*', '?') >= 0 ? Path.GetDirectoryName(path) : null;
        if (folder is null || !Directory.Exists(folder))
        {
            problem = $"{path}: no such file or folder";
            return [];
        }

        var files = Directory.EnumerateFiles(folder, folder == path ? "*" : pattern)
            .Where(f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith(".rejects.jsonl", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            problem = folder == path ? $"{path}: the folder holds no history file" : $"{path}: no file matches";
        }

        return files;
    }
}
