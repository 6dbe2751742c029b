using System.Diagnostics;
using Confluent.Kafka;
using FeatureStore.Bench.Harness;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Ingest;
using FeatureStore.Kafka.Embedded;
using FeatureStore.Redis.Online;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Ingest: (1) end to end, Kafka → parse → tiles → online store, against the raw consume rate of the same
/// topic measured in the same run; (2) the engine alone, events from memory → parse → tiles → online store,
/// against raw pipelined writes of one hash field per event in batches of the same size.
/// The repository is examples/fraud (two views, twelve features).
/// </summary>
internal static class IngestScenario
{
    // The engine alone writes batches of the job's default size.
    private static readonly int Batch = new IngestOptions { BootstrapServers = "" }.MaxBatchEvents;

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(string target, IDatabase db, EmbeddedKafkaCluster? kafka, int events, int repetitions)
    {
        var repository = CompiledRepository.Compile(LoadExample());
        var payloads = RawKafkaScenario.SamplePayloads(events);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // Restamp the generated events to end now, so none is "too far in the future" or late.
        payloads = Restamp(payloads, now);

        var engine = await Measure.MedianRateAsync(repetitions, async _ => await EngineAloneAsync(repository, db, payloads));
        var rawWrites = await Measure.MedianRateAsync(repetitions, async _ => await RawWritesAsync(db, payloads));
        var engineRow = new ResultRow($"ingest ({target})", "engine alone: memory → parse → tiles → store", engine, "events/s", "raw pipelined HSET, one per event", rawWrites);
        if (kafka is null)
        {
            return [engineRow];
        }

        var topic = $"bench-ingest-{Guid.NewGuid():N}";
        kafka.CreateTopic(topic, RawKafkaScenario.Partitions);
        RawKafkaScenario.Produce(kafka.BootstrapServers, topic, payloads);
        var rawConsume = await Measure.MedianRateAsync(repetitions, _ => Task.FromResult(RawKafkaScenario.ConsumeAll(kafka.BootstrapServers, topic, events)));
        var endToEnd = await Measure.MedianRateAsync(Math.Max(1, repetitions / 2), async _ => await EndToEndAsync(repository, db, kafka.BootstrapServers, topic, events));

        return
        [
            new ResultRow($"ingest ({target})", $"end to end: Kafka → tiles → store, {events / 1000}k events", endToEnd, "events/s", "raw consume, same topic", rawConsume),
            engineRow,
        ];
    }

    private static FeatureRepository LoadExample() =>
        FeatureRepositoryLoader.Load(FeatureStore.Testing.RepositoryPaths.FraudExample).Repository!;

    private static byte[][] Restamp(byte[][] payloads, long endMs)
    {
        var first = endMs - (payloads.Length * 50L);
        return [.. payloads.Select((p, i) =>
        {
            var text = System.Text.Encoding.UTF8.GetString(p);
            var at = text.IndexOf("\"event_time\":\"", StringComparison.Ordinal) + 14;
            return System.Text.Encoding.UTF8.GetBytes(text[..at] + Rfc3339.Format(first + (i * 50L)) + "\"}");
        })];
    }

    private static async Task<long> EngineAloneAsync(CompiledRepository repository, IDatabase db, byte[][] payloads)
    {
        var source = repository.Sources[0];
        var keys = new OnlineKeys($"bench{Guid.NewGuid():N}"[..12], repository.Repository.Project);
        var writer = new OnlineTileWriter(db, keys, "bench", repository.Repository.Settings.AllowedLatenessMs, 200_000);
        var binding = new SourceBinding(source.Definition.Name, source.Definition.Topic, source.Definition.DeadLetterTopic, source.Schema, source);
        var parser = new EventParser(source.Schema);
        var partition = new TopicPartition(source.Definition.Topic, 0);
        PartitionCheckpoint? stored = null;
        for (var i = 0; i < payloads.Length; i++)
        {
            if (parser.Parse(payloads[i]) != ParseError.None)
            {
                throw new InvalidOperationException("bench payload rejected: " + parser.ErrorField);
            }

            writer.Add(binding, partition, i, parser);
            if ((i + 1) % Batch == 0 || i == payloads.Length - 1)
            {
                var next = new PartitionCheckpoint(i + 1, 0);
                var fenced = await writer.CommitAsync(
                    new Dictionary<TopicPartition, PartitionCheckpoint?> { [partition] = stored },
                    new Dictionary<TopicPartition, PartitionCheckpoint> { [partition] = next },
                    CancellationToken.None);
                if (fenced.Count > 0)
                {
                    throw new InvalidOperationException("unexpectedly fenced");
                }

                stored = next;
            }
        }

        return payloads.Length;
    }

    private static async Task<long> RawWritesAsync(IDatabase db, byte[][] payloads)
    {
        var prefix = $"bench-raw-{Guid.NewGuid():N}:";
        for (var start = 0; start < payloads.Length; start += Batch)
        {
            var batch = db.CreateBatch();
            var pending = new List<Task>(Batch);
            for (var i = start; i < Math.Min(payloads.Length, start + Batch); i++)
            {
                pending.Add(batch.HashSetAsync(prefix + (i % 10_000), "p0", payloads[i]));
            }

            batch.Execute();
            await Task.WhenAll(pending);
        }

        return payloads.Length;
    }

    private static async Task<long> EndToEndAsync(CompiledRepository repository, IDatabase db, string bootstrap, string topic, int events)
    {
        // The example's source topic is renamed to the bench topic.
        var source = repository.Sources[0];
        var renamed = CompiledRepository.Compile(repository.Repository with
        {
            Sources = [source.Definition with { Topic = topic, DeadLetterTopic = topic + ".dlq" }],
        });
        using var metrics = new IngestMetrics();
        var prefix = $"bench{Guid.NewGuid():N}"[..12];
        var job = IngestJobFactory.Create(renamed, new IngestOptions { BootstrapServers = bootstrap, GroupId = "bench-" + prefix }, db, prefix, metrics, NullLogger.Instance);
        using var cts = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var run = Task.Run(() => job.RunAsync(cts.Token));
        while (metrics.EventsTotal + metrics.DeadLetteredTotal < events && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            await Task.Delay(20);
        }

        clock.Stop();
        await cts.CancelAsync();
        await run;
        if (metrics.EventsTotal < events)
        {
            throw new InvalidOperationException($"ingested {metrics.EventsTotal} of {events} ({metrics.DeadLetteredTotal} dead-lettered)");
        }

        return events; // timed by the caller, group join included, as a real start pays it

    }
}
