using System.CommandLine;
using System.Diagnostics;
using FeatureStore.Core.Definitions;
using FeatureStore.Host;
using FeatureStore.Host.Jobs;
using FeatureStore.Ingest;
using FeatureStore.Ingest.Archiving;

namespace FeatureStore.Cli.Commands;

/// <summary><c>featurestore ingest</c>: one member of the ingest consumer group, until Ctrl-C or SIGTERM.</summary>
internal static class IngestCommand
{
    public static Command Create()
    {
        var file = CommonOptions.RepositoryFile();
        var bootstrap = CommonOptions.BootstrapServers();
        var redis = CommonOptions.Redis();
        var prefix = CommonOptions.KeyPrefix();
        var group = new Option<string>("--group") { Description = "Consumer group; instances in one group split the partitions.", DefaultValueFactory = _ => "featurestore-ingest" };
        var sessionTimeout = new Option<int>("--session-timeout-ms") { Description = "How soon the group notices a member that died (Kafka session.timeout.ms).", DefaultValueFactory = _ => 10_000 };
        var metricsPort = JobConsole.MetricsPortOption("featurestore_ingest_*");
        var batchEvents = new Option<int>("--batch-events")
        {
            Description = "Most events per online-store transaction (a batch writes each touched entity once; smaller batches mean more writes, a shorter replay after a crash).",
            DefaultValueFactory = _ => new IngestOptions { BootstrapServers = "" }.MaxBatchEvents,
        };
        var offline = new Option<string?>("--offline")
        {
            Description = "Also append every source's events to the Parquet event log in this folder (the offline store), exactly once, as consumer group GROUP.offline.",
        };
        var offlineBatch = new Option<int>("--offline-batch-events")
        {
            Description = "Most events per event-log batch (each batch writes one file per partition and event date).",
            DefaultValueFactory = _ => 50_000,
        };
        var command = new Command("ingest", "Consume the repository's source topics into windowed features in the online store (exactly once). Run more instances with the same --group to scale out.")
        {
            file, bootstrap, redis, prefix, group, sessionTimeout, metricsPort, batchEvents, offline, offlineBatch,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var (repository, servers, code) = await JobConsole.PrepareAsync(parse, file, bootstrap, error);
            if (code != CliApp.Ok)
            {
                return code;
            }

            if (!await FileRoot.AllowAsync(error, ("--offline", parse.GetValue(offline))))
            {
                return CliApp.Usage;
            }

            // The flags as a host configuration of these jobs alone: the host's mapping makes their options.
            var settings = new HostSettings
            {
                Kafka = { SessionTimeout = Duration.Format(parse.GetValue(sessionTimeout)) },
                Offline = { Directory = parse.GetValue(offline) ?? "" },
                Jobs =
                {
                    Ingest = { Group = parse.GetValue(group)!, BatchEvents = parse.GetValue(batchEvents) },
                    Offline = { Group = parse.GetValue(group)! + ".offline", BatchEvents = parse.GetValue(offlineBatch) },
                },
            };
            IngestOptions ingestOptions;
            OfflineArchiverOptions offlineOptions;
            try
            {
                ingestOptions = HostJobOptions.Ingest(settings, servers);
                offlineOptions = HostJobOptions.Offline(settings, servers);
            }
            catch (HostConfigurationException ex)
            {
                await error.WriteLineAsync($"--session-timeout-ms: {ex.Message}");
                return CliApp.Usage;
            }

            if (await OnlineStores.ConnectAsync(parse.GetValue(redis), error) is not { } store)
            {
                return CliApp.Failure;
            }

            await using (store)
            {
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                using var signals = JobConsole.CancelOnSignals(stop);
                using var loggerFactory = JobConsole.Loggers();
                using var metrics = new IngestMetrics();
                var (exporter, served) = await JobConsole.ServeMetricsAsync(parse.GetValue(metricsPort), error, cancellationToken);
                if (served != CliApp.Ok)
                {
                    return served;
                }

                using var metricsExporter = exporter;
                var compiled = CompiledRepository.Compile(repository!);
                var output = parse.InvocationConfiguration.Output;
                // The registry's applied version is what runs (the file only while nothing is applied); each
                // version run is told on standard output, as it starts and as ingest moves on.
                var ingest = new RegistryFollowingIngest(repository!, ingestOptions, store.Multiplexer, parse.GetValue(prefix)!, metrics, loggerFactory.CreateLogger("ingest"))
                {
                    Notice = notice =>
                    {
                        lock (output)
                        {
                            output.WriteLine("ingest: " + notice);
                            output.Flush();
                        }
                    },
                };
                var progress = ReportProgressAsync(metrics, ingest, error, stop.Token);
                var archiver = parse.GetValue(offline) is not null ? new OfflineArchiver(compiled, offlineOptions, loggerFactory.CreateLogger("offline")) : null;
                var archiving = archiver is null ? Task.CompletedTask : Task.Run(() => archiver.RunAsync(stop.Token), CancellationToken.None);
                await ingest.RunAsync(stop.Token);
                await stop.CancelAsync();
                await progress;
                await archiving;
                await error.WriteLineAsync($"stopped: {metrics.EventsTotal} events applied, {metrics.DeadLetteredTotal} dead-lettered"
                    + (archiver is null ? "" : $", {archiver.EventsWritten} archived offline"));
                return CliApp.Ok;
            }
        });
        return command;
    }

    private static async Task ReportProgressAsync(IngestMetrics metrics, RegistryFollowingIngest ingest, TextWriter error, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        long lastEvents = 0;
        var lastTime = TimeSpan.Zero;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                var events = metrics.EventsTotal;
                var rate = (events - lastEvents) / (clock.Elapsed - lastTime).TotalSeconds;
                (lastEvents, lastTime) = (events, clock.Elapsed);
                await error.WriteLineAsync(ingest.Progress.Line(events, rate, metrics.DeadLetteredTotal, metrics.ReplayedTotal, metrics.ReadAgainTotal));
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }
}
