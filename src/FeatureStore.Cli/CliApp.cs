using System.CommandLine;
using FeatureStore.Cli.Commands;

namespace FeatureStore.Cli;

/// <summary>Builds the command tree and maps outcomes to exit codes (DESIGN.md §9).</summary>
internal static class CliApp
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>The command ran and failed.</summary>
    public const int Failure = 1;

    /// <summary>Bad usage or a validation error.</summary>
    public const int Usage = 2;

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("FeatureStore: real-time feature store and streaming drift monitor.");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    public static async Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        var root = BuildRoot();
        var parse = root.Parse(args);
        var config = new InvocationConfiguration
        {
            Output = output ?? Console.Out,
            Error = error ?? Console.Error,

            // `run` handles SIGTERM and Ctrl-C itself and waits for its jobs to commit (its own shutdown timeout);
            // System.CommandLine's handler would end the process two seconds after the signal.
            ProcessTerminationTimeout = parse.CommandResult.Command.Name == "run" ? null : TimeSpan.FromSeconds(2),
        };
        if (parse.Errors.Count > 0)
        {
            foreach (var parseError in parse.Errors)
            {
                await config.Error.WriteLineAsync(parseError.Message);
            }

            await config.Error.WriteLineAsync("Run 'featurestore --help' for usage.");
            return Usage;
        }

        using var cts = new CancellationTokenSource();
        return await parse.InvokeAsync(config, cts.Token);
    }
}
