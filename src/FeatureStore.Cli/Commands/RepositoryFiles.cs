using System.CommandLine;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis;

namespace FeatureStore.Cli.Commands;

/// <summary>Loads a repository file for a command, printing every diagnostic to standard error.</summary>
internal static class RepositoryFiles
{
    /// <summary>The loaded repository, or the exit code to return (2 missing or invalid, 1 unreadable).</summary>
    public static (LoadResult? Result, int ExitCode) Load(FileInfo file, TextWriter error)
    {
        if (PathProblem(file.FullName, file.ToString(), "-f") is { } problem)
        {
            error.WriteLine(problem);
            return (null, CliApp.Usage);
        }

        LoadResult result;
        try
        {
            result = FeatureRepositoryLoader.Load(file.FullName);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"{file}: cannot read: {ex.Message}");
            return (null, CliApp.Failure);
        }

        foreach (var diagnostic in result.Diagnostics)
        {
            error.WriteLine(diagnostic.ToString().Replace(file.FullName, file.ToString(), StringComparison.Ordinal));
        }

        if (!result.Success)
        {
            var errors = result.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error);
            error.WriteLine($"{file}: {errors} error{(errors == 1 ? "" : "s")}; nothing applied.");
            return (result, CliApp.Usage);
        }

        return (result, CliApp.Ok);
    }

    /// <summary>
    /// Why <paramref name="path"/> cannot be the repository file (a usage error, said plainly: the runtime's own
    /// message for a directory is "Access denied"), or null. <paramref name="shown"/> is the path as the user wrote
    /// it, <paramref name="option"/> where (<c>-f</c>, <c>repository</c>).
    /// </summary>
    public static string? PathProblem(string path, string shown, string option)
    {
        if (Directory.Exists(path))
        {
            return $"{shown}: is a directory; give the repository file ({option}), e.g. {Path.Combine(shown, "featurestore.yaml")}";
        }

        return File.Exists(path) ? null : $"{shown}: no such file ({option} names the feature repository file, e.g. featurestore.yaml)";
    }
}

/// <summary>Connects a command to the online store, printing why when it cannot.</summary>
internal static class OnlineStores
{
    /// <summary>
    /// Connects a short-lived command to the store that outlives it: <c>--redis</c>, else
    /// <c>FEATURESTORE__REDIS__CONFIGURATION</c>, else the running host's (<see cref="RunState"/>); with none,
    /// refuses (exit 2) rather than write into a store that vanishes when the command exits. The key prefix
    /// comes the same way (<c>fs</c> last).
    /// </summary>
    public static async Task<(OnlineStoreConnection? Store, string KeyPrefix, int Code)> ConnectSharedAsync(ParseResult parse, Option<string?> redis, Option<string?> prefix, TextWriter error)
    {
        var configuration = parse.GetValue(redis) ?? Variable("FEATURESTORE__REDIS__CONFIGURATION");
        var keyPrefix = parse.GetValue(prefix) ?? Variable("FEATURESTORE__REDIS__KEYPREFIX");
        if (configuration is null)
        {
            var state = RunState.Find(out var note);
            if (note is not null)
            {
                await error.WriteLineAsync("note: " + note);
            }

            if (state is null)
            {
                await error.WriteLineAsync(
                    "no online store: give --redis HOST:PORT (or FEATURESTORE__REDIS__CONFIGURATION), or start `featurestore run` in this folder "
                    + $"(its store is then found through {RunState.FilePath})");
                return (null, "", CliApp.Usage);
            }

            configuration = state.Redis;
            keyPrefix ??= state.KeyPrefix;
            await error.WriteLineAsync($"note: using the online store of `featurestore run` (process {state.Pid}): {state.Redis}, key prefix {keyPrefix}");
        }

        if (await ConnectAsync(configuration, error) is not { } store)
        {
            return (null, "", CliApp.Failure);
        }

        if (store.IsEmbedded)
        {
            await error.WriteLineAsync("note: --redis embedded is a store of this command alone: what it writes is gone when the command exits.");
        }

        return (store, keyPrefix ?? "fs", CliApp.Ok);
    }

    private static string? Variable(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

    /// <summary>The connection, or null after writing the reason to <paramref name="error"/>.</summary>
    public static async Task<OnlineStoreConnection?> ConnectAsync(string? configuration, TextWriter error, Action<StackExchange.Redis.ConfigurationOptions>? configure = null)
    {
        try
        {
            return await OnlineStoreConnection.ConnectAsync(configuration, connectTimeout: null, configure);
        }
        catch (OnlineStoreUnavailableException ex)
        {
            await error.WriteLineAsync(ex.Message);
            return null;
        }
    }
}
