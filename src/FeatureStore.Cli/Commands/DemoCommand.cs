using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Ingest;
using FeatureStore.Kafka.Embedded;
using FeatureStore.Redis;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using Microsoft.Extensions.Logging.Abstractions;
using Spectre.Console;

namespace FeatureStore.Cli.Commands;

/// <summary>
/// <c>featurestore demo</c>: the lifecycle so far on embedded services, start to finish: register the
/// payments repository, stream generated transactions (a few malformed) through Kafka, ingest them into
/// windowed features, and look features up.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var events = new Option<int>("--events") { Description = "Transactions to generate.", DefaultValueFactory = _ => 50_000 };
        var command = new Command("demo", "Run the lifecycle on embedded Kafka and Garnet with generated payments: register, stream, ingest, look up, summarise.")
        {
            events,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var count = parse.GetValue(events);
            if (count < 100)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("--events must be at least 100");
                return CliApp.Usage;
            }

            var output = parse.InvocationConfiguration.Output;
            var console = ReferenceEquals(output, Console.Out)
                ? AnsiConsole.Console
                : AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Interactive = InteractionSupport.No, Ansi = AnsiSupport.No });
            return await RunAsync(console, count, cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(IAnsiConsole console, int count, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        console.Write(new Rule("[bold]FeatureStore demo[/]").LeftJustified());

        // 1. Services.
        using var kafka = EmbeddedKafkaCluster.Start(brokers: 1);
        kafka.CreateTopic("transactions", partitions: 4);
        await using var store = await OnlineStoreConnection.ConnectAsync(OnlineStoreConnection.EmbeddedName);
        console.MarkupLine($"[green]✓[/] embedded Kafka at [blue]{kafka.BootstrapServers}[/], embedded Garnet at [blue]{store.Endpoint}[/]");

        // 2. Register the repository.
        string yaml;
        await using (var resource = typeof(DemoCommand).Assembly.GetManifestResourceStream("examples.fraud.featurestore.yaml")!)
        using (var reader = new StreamReader(resource))
        {
            yaml = await reader.ReadToEndAsync(cancellationToken);
        }

        var repository = FeatureRepositoryLoader.LoadFromText(yaml, "examples/fraud/featurestore.yaml").Repository!;
        var registry = new RegistryStore(store.Database);
        var applied = await registry.ApplyAsync(repository.Project, repository.ContentHash(), repository.ToCanonicalJson(), yaml, cancellationToken);
        console.MarkupLine($"[green]✓[/] registered project [bold]{repository.Project}[/] version {applied.Version}: " +
            $"{repository.FeatureViews.Count} feature views, {repository.FeatureViews.Sum(v => v.Features.Count)} features, model {repository.Models[0].Name}");

        // 3. Stream generated payments.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var malformed = 0;
        await console.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask("producing transactions", maxValue: count);
            using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = kafka.BootstrapServers, EnableIdempotence = true, LingerMs = 5 }).Build();
            var random = new Random(7);
            for (var i = 0; i < count; i++)
            {
                var (user, payload, bad) = Transaction(random, i, now, count);
                malformed += bad ? 1 : 0;
                producer.Produce("transactions", new Message<string, byte[]> { Key = user, Value = payload });
                if (i % 1000 == 0)
                {
                    task.Value = i;
                    await Task.Yield();
                }
            }

            producer.Flush(cancellationToken);
            task.Value = count;
        });
        console.MarkupLine($"[green]✓[/] produced {count:N0} transactions over the last 2 hours ({malformed} deliberately malformed)");

        // 4. Ingest.
        var compiled = CompiledRepository.Compile(repository);
        using var metrics = new IngestMetrics();
        var job = IngestJobFactory.Create(compiled, new IngestOptions { BootstrapServers = kafka.BootstrapServers, GroupId = "demo-ingest" },
            store.Database, "fs", metrics, NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var ingest = Task.Run(() => job.RunAsync(stop.Token), cancellationToken);
        var ingestClock = Stopwatch.StartNew();
        await console.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask("ingesting into windowed features", maxValue: count);
            while (metrics.EventsTotal + metrics.DeadLetteredTotal < count && ingestClock.Elapsed < TimeSpan.FromMinutes(10) && !ingest.IsCompleted)
            {
                task.Value = metrics.EventsTotal + metrics.DeadLetteredTotal;
                await Task.Delay(100, cancellationToken);
            }

            task.Value = metrics.EventsTotal + metrics.DeadLetteredTotal;
        });
        await stop.CancelAsync();
        await ingest;
        console.MarkupLine($"[green]✓[/] ingested {metrics.EventsTotal:N0} events in {ingestClock.Elapsed.TotalSeconds:0.0} s; {metrics.DeadLetteredTotal} dead-lettered to transactions.dlq with their reasons");

        // 5. Look up.
        var readerKeys = new OnlineKeys("fs", repository.Project);
        var featureReader = new OnlineFeatureReader(store.Database, readerKeys);
        var view = compiled.FindView("user_txn_stats")!;
        string[] users = ["u1", "u2", "u3", "u_never_seen"];
        var (values, _) = await featureReader.ReadAsync([new ViewRead(view, users)], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var table = new Table().Title("user_txn_stats now").AddColumn("feature");
        foreach (var user in users)
        {
            table.AddColumn(user);
        }

        for (var f = 0; f < view.Definition.Features.Count; f++)
        {
            table.AddRow([view.Definition.Features[f].Name, .. users.Select((_, u) => Show(values[0][u][f]))]);
        }

        console.Write(table);

        var latencies = new double[500];
        for (var i = 0; i < latencies.Length; i++)
        {
            var clock = Stopwatch.StartNew();
            await featureReader.ReadAsync([new ViewRead(view, [users[i % 3]])], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            latencies[i] = clock.Elapsed.TotalMilliseconds;
        }

        Array.Sort(latencies);
        console.Write(new Rule("[bold]summary[/]").LeftJustified());
        var summary = new Table().HideHeaders().AddColumn("").AddColumn("");
        summary.AddRow("events ingested", metrics.EventsTotal.ToString("N0", CultureInfo.InvariantCulture));
        summary.AddRow("dead-lettered", metrics.DeadLetteredTotal.ToString(CultureInfo.InvariantCulture));
        summary.AddRow("lookup latency (1 entity × 8 features, in process)", $"p50 {latencies[250]:0.00} ms, p99 {latencies[495]:0.00} ms");
        summary.AddRow("total time", $"{total.Elapsed.TotalSeconds:0.0} s");
        summary.AddRow("next", "featurestore validate / apply / ingest --help; README.md");
        console.Write(summary);
        return metrics.EventsTotal == count - malformed ? CliApp.Ok : CliApp.Failure;
    }

    private static (string User, byte[] Payload, bool Malformed) Transaction(Random random, int i, long now, int count)
    {
        var user = "u" + random.Next(2_000).ToString(CultureInfo.InvariantCulture);
        if (i % 500 == 250)
        {
            return (user, Encoding.UTF8.GetBytes($$"""{"user_id":"{{user}}","amount":"lots","event_time":"yesterday"}"""), true);
        }

        var time = now - (2 * 3_600_000L) + (i * (2 * 3_600_000L) / count) - random.Next(0, 60_000);
        var merchant = "m" + random.Next(200).ToString(CultureInfo.InvariantCulture);
        var amount = Math.Round(Math.Exp(random.NextDouble() * 6), 2);
        var country = random.Next(10) == 0 ? "US" : "FR";
        var json = $$"""{"transaction_id":"t{{i}}","user_id":"{{user}}","merchant_id":"{{merchant}}","amount":{{amount.ToString(CultureInfo.InvariantCulture)}},"currency":"EUR","country":"{{country}}","card_present":{{(random.Next(2) == 0 ? "true" : "false")}},"event_time":"{{Rfc3339.Format(time)}}"}""";
        return (user, Encoding.UTF8.GetBytes(json), false);
    }

    private static string Show(FeatureValue value) => value.Status switch
    {
        ValueStatus.NotFound => "[grey]not found[/]",
        ValueStatus.OutsideTtl => "[grey]outside ttl[/]",
        ValueStatus.NullValue => "[grey]null[/]",
        _ => Markup.Escape(value.Boxed switch
        {
            double d => d.ToString("0.##", CultureInfo.InvariantCulture),
            long l => l.ToString(CultureInfo.InvariantCulture),
            var other => other?.ToString() ?? "",
        }),
    };
}
