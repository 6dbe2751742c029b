using System.CommandLine;
using FeatureStore.Host;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Cli.Commands;

/// <summary><c>featurestore run</c>: every job a host configuration enables, supervised, in this process.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config", "-c")
        {
            Description = "The host configuration (YAML or JSON; see docs/host.md). Environment variables FEATURESTORE__SECTION__KEY override it.",
            Required = true,
        };
        var logFormat = new Option<string?>("--log-format") { Description = "simple or json (overrides log.format)." };
        logFormat.AcceptOnlyFromAmong("simple", "json");
        var command = new Command("run", "Run every job the configuration enables (ingest, offline log writer, serve, monitor, scheduled backfills) in one process: health per job, restarts with backoff, clean stop on Ctrl-C / SIGTERM.")
        {
            config, logFormat,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var path = parse.GetRequiredValue(config);
            if (!path.Exists)
            {
                await error.WriteLineAsync($"{path}: no such file");
                return CliApp.Usage;
            }

            HostSettings settings;
            try
            {
                settings = HostConfiguration.Load(path.FullName);
            }
            catch (HostConfigurationException ex)
            {
                await error.WriteLineAsync(ex.Message);
                return CliApp.Usage;
            }

            if (RepositoryFiles.PathProblem(settings.Repository, settings.Repository, $"repository in {path}") is { } problem)
            {
                await error.WriteLineAsync(problem);
                return CliApp.Usage;
            }

            if (parse.GetValue(logFormat) is { } format)
            {
                settings.Log.Format = format;
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var signals = JobConsole.CancelOnSignals(stop, sigint: true);
            using var loggers = Loggers(settings.Log);
            FeatureStoreHost host;
            try
            {
                host = await FeatureStoreHost.CreateAsync(settings, loggers, cancellationToken: stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Stopped while importing a declared history: nothing of it is visible, the next run imports it again.
                await error.WriteLineAsync("stopped before the jobs started");
                return CliApp.Ok;
            }
            catch (HostConfigurationException ex)
            {
                await error.WriteLineAsync(ex.Message);
                return CliApp.Usage;
            }
            catch (Exception ex) when (ex is Redis.OnlineStoreUnavailableException or IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                await error.WriteLineAsync($"cannot start: {ex.Message}");
                return CliApp.Failure;
            }

            await using (host)
            {
                var serve = settings.Jobs.Serve;
                await output.WriteLineAsync($"running: jobs={string.Join(",", host.Jobs)} kafka={host.BootstrapServers} redis={host.RedisEndpoint}"
                    + (serve.Enabled ? $" grpc={serve.Listen}:{serve.GrpcPort} http={serve.Listen}:{serve.HttpPort}" : ""));
                await output.FlushAsync(CancellationToken.None);

                // The other commands (apply, baseline, model) find this host's store through this file while it runs.
                try
                {
                    RunState.OfThisProcess(host.RedisEndpoint, settings.Redis.KeyPrefix, host.BootstrapServers,
                        serve.Enabled ? $"http://{serve.Listen}:{serve.GrpcPort}" : null, serve.Enabled ? $"http://{serve.Listen}:{serve.HttpPort}" : null,
                        settings.Offline.Directory).Write();
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    await error.WriteLineAsync($"note: cannot write {RunState.FilePath} ({ex.Message}): other commands need --redis to find this host's store");
                }

                try
                {
                    await host.RunAsync(stop.Token);
                }
                finally
                {
                    RunState.RemoveMine();
                }
            }

            await error.WriteLineAsync("stopped");
            return CliApp.Ok;
        });
        return command;
    }

    private static ILoggerFactory Loggers(LogSettings log) =>
        LoggerFactory.Create(b => ConsoleLogs.Add(b, log.Format, Enum.Parse<LogLevel>(log.Level, ignoreCase: true)));
}
