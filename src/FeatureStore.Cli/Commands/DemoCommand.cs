using System.CommandLine;
using FeatureStore.Cli.Commands.Demo;
using Spectre.Console;

namespace FeatureStore.Cli.Commands;

/// <summary>
/// <c>featurestore demo</c>: the whole lifecycle on embedded services with generated payments, start to
/// finish: register, stream, ingest and archive, export a point-in-time training set, train and register
/// a model with its drift baseline and reference performance, serve lookups, stream predictions through the
/// monitor, inject drift, receive the signed alert and its resolution, then join late labels to the predictions
/// and catch a concept drift in one merchant category by its realized performance, summarise. <c>--keep-running</c> leaves the server and
/// its dashboard up until Ctrl-C.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var events = new Option<int>("--events") { Description = "Payments to generate.", DefaultValueFactory = _ => 40_000 };
        var perWindow = new Option<int>("--predictions-per-window")
        {
            Description = "Predictions per simulated hour (at least 1 000: the performance windows need enough frauds); the score monitor's count window is set to it.",
            DefaultValueFactory = _ => 1_000,
        };
        var keepRunning = new Option<bool>("--keep-running") { Description = "Leave the server and the dashboard up until Ctrl-C." };
        var directory = new Option<DirectoryInfo?>("--work-dir") { Description = "Where the offline store (its offline/ folder is started afresh), the training set and the model go (default: a new temporary folder)." };
        var httpPort = new Option<int>("--http-port") { Description = "HTTP port of the server and the dashboard (0: a free one).", DefaultValueFactory = _ => 0 };
        var grpcPort = new Option<int>("--grpc-port") { Description = "gRPC port of the server (0: a free one).", DefaultValueFactory = _ => 0 };
        var command = new Command("demo", "Run the whole lifecycle on embedded Kafka and Garnet with generated payments: ingest, export, train, serve, monitor, alert, summarise.")
        {
            events, perWindow, keepRunning, directory, httpPort, grpcPort,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new DemoSettings(
                parse.GetValue(events),
                parse.GetValue(perWindow),
                parse.GetValue(keepRunning),
                parse.GetValue(directory)?.FullName ?? Path.Combine(Path.GetTempPath(), $"featurestore-demo-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}"),
                parse.GetValue(httpPort),
                parse.GetValue(grpcPort));
            if (settings.Events < 1000 || settings.PredictionsPerWindow < 1000)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("--events must be at least 1000 and --predictions-per-window at least 1000");
                return CliApp.Usage;
            }

            var output = parse.InvocationConfiguration.Output;
            var console = ReferenceEquals(output, Console.Out)
                ? AnsiConsole.Console
                : AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Interactive = InteractionSupport.No, Ansi = AnsiSupport.No });
            if (!ReferenceEquals(output, Console.Out) || Console.IsOutputRedirected)
            {
                console.Profile.Width = 120; // a log, not a terminal: wrap less
            }
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var signals = JobConsole.CancelOnSignals(stop, sigint: true);
            await using var demo = new DemoRun(console, settings);
            return await demo.RunAsync(stop.Token);
        });
        return command;
    }
}
