using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using FeatureStore.Core.Definitions;
using FeatureStore.Ingest;

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
        var command = new Command("ingest", "Consume the repository's source topics into windowed features in the online store (exactly once). Run more instances with the same --group to scale out.")
        {
            file, bootstrap, redis, prefix, group, sessionTimeout,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var (repository, servers, code) = await JobConsole.PrepareAsync(parse, file, bootstrap, error);
            if (code != CliApp.Ok)
            {
                return code;
            }

            if (await OnlineStores.ConnectAsync(parse.GetValue(redis), error) is not { } store)
            {
                return CliApp.Failure;
            }

            await using (store)
            {
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
                {
                    context.Cancel = true;
                    stop.Cancel();
                });
                using var loggerFactory = JobConsole.Loggers();
                using var metrics = new IngestMetrics();
                var compiled = CompiledRepository.Compile(repository!);
                var job = IngestJobFactory.Create(compiled, new IngestOptions
                    {
                        BootstrapServers = servers,
                        GroupId = parse.GetValue(group)!,
                        SessionTimeout = TimeSpan.FromMilliseconds(parse.GetValue(sessionTimeout)),
                    },
                    store.Database, parse.GetValue(prefix)!, metrics, loggerFactory.CreateLogger("ingest"));
                var progress = ReportProgressAsync(metrics, error, stop.Token);
                await job.RunAsync(stop.Token);
                await stop.CancelAsync();
                await progress;
                await error.WriteLineAsync($"stopped: {metrics.EventsTotal} events applied, {metrics.DeadLetteredTotal} dead-lettered");
                return CliApp.Ok;
            }
        });
        return command;
    }

    private static async Task ReportProgressAsync(IngestMetrics metrics, TextWriter error, CancellationToken cancellationToken)
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
                await error.WriteLineAsync($"ingest: {events} events ({rate:0}/s), {metrics.DeadLetteredTotal} dead-lettered, lag {metrics.Lag.Values.Sum()}");
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }
}
