namespace FeatureStore.Cli.Commands;

/// <summary>
/// The one folder commands may read and write files in, when one is configured
/// (<c>FEATURESTORE__FILES__ROOT</c>): export inputs and outputs, the offline store, backfill event files,
/// baseline and drift inputs. A path is allowed when, made absolute and with <c>..</c> resolved and every
/// symbolic link on the way followed, it lies inside the root. Without a root the user's own file
/// permissions are the only limit, as for any command-line tool.
/// </summary>
internal static class FileRoot
{
    public const string Variable = "FEATURESTORE__FILES__ROOT";

    /// <summary>The configured root, absolute, or null.</summary>
    public static string? Current =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } root ? Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)) : null;

    /// <summary>
    /// Prints an error for the first path outside the root and returns false; true when every path is
    /// allowed (or no root is configured). Null paths (options not given) are skipped.
    /// </summary>
    public static async Task<bool> AllowAsync(TextWriter error, params (string Option, string? Path)[] paths)
    {
        if (Current is not { } root)
        {
            return true;
        }

        foreach (var (option, path) in paths)
        {
            if (path is not null && !IsInside(root, path))
            {
                await error.WriteLineAsync($"{option}: '{path}' is outside the allowed folder {root} (set by {Variable}); give a path inside it").ConfigureAwait(false);
                return false;
            }
        }

        return true;
    }

    internal static bool IsInside(string root, string path) => Parquet.Files.FileRoot.IsInside(root, path);
}
