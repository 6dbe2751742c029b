using System.CommandLine;
using FeatureStore.Kafka.Embedded;

namespace FeatureStore.Cli.Commands;

/// <summary><c>featurestore kafka-embedded</c>: runs the embedded Kafka-protocol broker as its own process.</summary>
internal static class KafkaEmbeddedCommand
{
    public static Command Create()
    {
        var brokers = new Option<int>("--brokers") { Description = "Number of brokers.", DefaultValueFactory = _ => 1 };
        var partitions = new Option<int>("--partitions") { Description = "Partitions of each topic given with --topics.", DefaultValueFactory = _ => 4 };
        var topics = new Option<string?>("--topics") { Description = "Topics to create, comma-separated (others are created on first use with 4 partitions)." };
        var command = new Command("kafka-embedded", "Run librdkafka's mock cluster as a Kafka broker on 127.0.0.1; prints bootstrap.servers=… first, stops on Ctrl-C or SIGTERM.")
        {
            brokers, partitions, topics,
        };
        brokers.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
            {
                result.AddError("--brokers must be at least 1");
            }
        });
        partitions.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
            {
                result.AddError("--partitions must be at least 1");
            }
        });
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var signals = JobConsole.CancelOnSignals(stop);
            using var cluster = EmbeddedKafkaCluster.Start(parse.GetValue(brokers));
            var names = (parse.GetValue(topics) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var topic in names)
            {
                cluster.CreateTopic(topic, parse.GetValue(partitions), replicationFactor: 1);
            }

            var output = parse.InvocationConfiguration.Output;
            await output.WriteLineAsync($"bootstrap.servers={cluster.BootstrapServers}");
            await output.FlushAsync(CancellationToken.None);
            await Console.Error.WriteLineAsync($"{cluster.BrokerCount} broker(s), topics: {(names.Length == 0 ? "(created on first use)" : string.Join(", ", names))}. Ctrl-C to stop.");
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
                // stop requested
            }

            return CliApp.Ok;
        });
        return command;
    }
}
