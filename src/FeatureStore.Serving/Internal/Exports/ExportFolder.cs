namespace FeatureStore.Serving.Internal.Exports;

/// <summary>
/// Paths of export requests: relative to the server's export folder and never leaving it, whether by
/// <c>..</c>, an absolute path or a symbolic link on the way.
/// </summary>
internal static class ExportFolder
{
    public static string Resolve(string folder, string path, string field)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            ThrowHelper.ThrowInvalid($"{field}: give a file name, relative to the export folder");
        }

        if (Path.IsPathRooted(path))
        {
            ThrowHelper.ThrowInvalid($"{field}: '{ThrowHelper.Shown(path)}' is an absolute path; give a path relative to the export folder");
        }

        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        var full = Path.GetFullPath(Path.Combine(root, path));
        if (!Parquet.Files.FileRoot.IsInside(root, full))
        {
            ThrowHelper.ThrowInvalid($"{field}: '{ThrowHelper.Shown(path)}' leaves the export folder");
        }

        return full;
    }
}
