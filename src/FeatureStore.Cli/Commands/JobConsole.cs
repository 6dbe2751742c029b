using System.CommandLine;
using FeatureStore.Core.Definitions;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Cli.Commands;

/// <summary>What the long-running job commands (ingest, monitor) share: their checks and their console log.</summary>
internal static class JobConsole
{
    /// <summary>The repository and the bootstrap servers, or the exit code after printing why not.</summary>
    public static async Task<(FeatureRepository? Repository, string Servers, int Code)> PrepareAsync(ParseResult parse, Option<FileInfo> file, Option<string> bootstrap, TextWriter error)
    {
        var (result, code) = RepositoryFiles.Load(parse.GetRequiredValue(file), error);
        if (code != CliApp.Ok)
        {
            return (null, "", code);
        }

        var servers = parse.GetValue(bootstrap);
        if (string.IsNullOrWhiteSpace(servers))
        {
            await error.WriteLineAsync("--bootstrap-servers is required (or FEATURESTORE__KAFKA__BOOTSTRAPSERVERS); `featurestore kafka-embedded` runs a local broker.");
            return (null, "", CliApp.Usage);
        }

        return (result!.Repository!, servers, CliApp.Ok);
    }

    /// <summary>One-line console logging with times, at Information.</summary>
    public static ILoggerFactory Loggers() => LoggerFactory.Create(b => b.AddSimpleConsole(o =>
    {
        o.SingleLine = true;
        o.TimestampFormat = "HH:mm:ss ";
    }).SetMinimumLevel(LogLevel.Information));
}
