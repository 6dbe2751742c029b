namespace FeatureStore.Parquet.Files;

/// <summary>
/// Confinement of file paths to one folder: a path is inside when, made absolute with <c>..</c> resolved
/// and every symbolic link on the way followed, it lies in the folder. Exports, backfills and baselines
/// use it so they never read or write outside their configured places (DESIGN.md §8).
/// </summary>
public static class FileRoot
{
    /// <summary>True when <paramref name="path"/> lies inside <paramref name="root"/> (an absolute folder).</summary>
    public static bool IsInside(string root, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentException.ThrowIfNullOrEmpty(path);
        root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var full = Path.GetFullPath(path);
        if (!Under(root, full))
        {
            return false;
        }

        // A link inside the root may point outside it: follow every link on the way down.
        var current = root;
        foreach (var part in Path.GetRelativePath(root, full).Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            FileSystemInfo entry = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (!entry.Exists)
            {
                break; // what does not exist yet cannot be a link
            }

            if (entry.LinkTarget is not null)
            {
                var target = entry.ResolveLinkTarget(returnFinalTarget: true);
                if (target is null || !Under(root, Path.GetFullPath(target.FullName)))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private static bool Under(string root, string full) =>
        string.Equals(full, root, StringComparison.Ordinal)
        || full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
