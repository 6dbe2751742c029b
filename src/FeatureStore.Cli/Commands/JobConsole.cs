using System.CommandLine;
using System.Runtime.InteropServices;
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

    /// <summary>
    /// Cancels <paramref name="stop"/> on SIGTERM (and on SIGINT when asked) instead of letting the signal
    /// end the process, so a job stops cleanly; dispose the result to restore the default handling.
    /// </summary>
    public static IDisposable CancelOnSignals(CancellationTokenSource stop, bool sigint = false)
    {
        void Cancel(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
        return sigint ? new Registrations(sigterm, PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel)) : sigterm;
    }

    /// <summary>The <c>--metrics-port</c> option of a job command.</summary>
    public static Option<int?> MetricsPortOption(string series) =>
        new("--metrics-port") { Description = $"Serve Prometheus metrics (the {series} series) at http://HOST:PORT/metrics." };

    /// <summary>
    /// Serves <c>/metrics</c> on <paramref name="port"/> when one is given, with every meter exported from now on
    /// (scraped or not, nothing measured before the first scrape is lost): the server to dispose, or the exit
    /// code after printing why not.
    /// </summary>
    public static async Task<(IDisposable? Server, int Code)> ServeMetricsAsync(int? port, TextWriter error, CancellationToken cancellationToken)
    {
        if (port is not { } p)
        {
            return (null, CliApp.Ok);
        }

        Prometheus.IMetricServer server;
        try
        {
            server = new Prometheus.MetricServer(port: p).Start();
        }
        catch (System.Net.HttpListenerException ex)
        {
            await error.WriteLineAsync($"--metrics-port: cannot serve metrics on port {p}: {ex.Message}");
            return (null, CliApp.Failure);
        }

        await Serving.FeatureServer.StartMeterExportAsync(cancellationToken);
        return (server, CliApp.Ok);
    }

    /// <summary>One-line console logging with times, at Information.</summary>
    public static ILoggerFactory Loggers() => LoggerFactory.Create(b => b.AddSimpleConsole(o =>
    {
        o.SingleLine = true;
        o.TimestampFormat = "HH:mm:ss ";
    }).SetMinimumLevel(LogLevel.Information));

    private sealed class Registrations(params IDisposable[] registrations) : IDisposable
    {
        public void Dispose()
        {
            foreach (var registration in registrations)
            {
                registration.Dispose();
            }
        }
    }
}
