using FeatureStore.Core.Definitions;
using FeatureStore.Redis;

namespace FeatureStore.Cli.Commands;

/// <summary>Loads a repository file for a command, printing every diagnostic to standard error.</summary>
internal static class RepositoryFiles
{
    /// <summary>The loaded repository, or the exit code to return (1 unreadable, 2 invalid).</summary>
    public static (LoadResult? Result, int ExitCode) Load(FileInfo file, TextWriter error)
    {
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
}

/// <summary>Connects a command to the online store, printing why when it cannot.</summary>
internal static class OnlineStores
{
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
