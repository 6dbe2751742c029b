using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using FeatureStore.Bench.Harness;
using FeatureStore.Client;
using FeatureStore.Core.Definitions;
using FeatureStore.Ingest;
using FeatureStore.Kafka.Embedded;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Freshness: how long an event takes from its produce call to the first lookup that sees it. A producer sends
/// payments at a steady rate (10k and 50k events/s, keyed by user over 10 000 users) to an 8-partition source topic
/// on the embedded broker, the real ingest job writes them to the store, and the serving host (in this process, over
/// a real port) answers gRPC lookups. Meanwhile probes go one after the other: each is a payment of a user of its
/// own with a unique amount, sent alone at once through a producer of its own (the load's producer batches for
/// 50 ms, as a high-rate producer does: the embedded broker looks a fetch's offset up by walking a partition's
/// batches, so thousands of tiny ones would make its own CPU the measure); from its produce call, unary lookups of that user's
/// <c>user_stats:sum_1h</c> poll until one answers that amount. Its baseline, in the same run: the same probes as a
/// raw consumer assigned to the topic (librdkafka's defaults) first reads them, i.e. what Kafka alone adds.
/// </summary>
internal static class FreshnessScenario
{
    private const string Feature = "user_stats:sum_1h";

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(
        string target, IConnectionMultiplexer store, EmbeddedKafkaCluster kafka, int rate, bool quick, IngestSettings settings)
    {
        var topic = "fresh-bench-" + Guid.NewGuid().ToString("N")[..8];
        kafka.CreateTopic(topic, RawKafkaScenario.Partitions);
        kafka.CreateTopic(topic + ".dlq", 1);
        var load = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml(topic), "bench.yaml");
        var compiled = CompiledRepository.Compile(load.Repository!);
        var prefix = "fbench" + Guid.NewGuid().ToString("N")[..8];
        using var metrics = new IngestMetrics();
        using var stop = new CancellationTokenSource();
        var kafkaSettings = new Dictionary<string, string>();
        if (settings.FetchWaitMs is { } wait)
        {
            kafkaSettings["fetch.wait.max.ms"] = wait.ToString(CultureInfo.InvariantCulture);
        }

        var job = IngestJobFactory.Create(compiled, new IngestOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "ingest-" + prefix,
            MaxBatchDelay = settings.BatchDelay ?? new IngestOptions { BootstrapServers = "" }.MaxBatchDelay,
            KafkaSettings = kafkaSettings,
        }, store.GetDatabase(), prefix, metrics, NullLogger.Instance);
        var ingest = Task.Run(() => job.RunAsync(stop.Token));
        await using var server = await LookupScenario.StartServerAsync(compiled, prefix, OnlineReadStrategy.Auto, store);
        using var client = new FeatureStoreClient(server.GrpcAddress, new FeatureStoreClientOptions { Timeout = TimeSpan.FromSeconds(30) });
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            LingerMs = settings.ProducerLingerMs,
            QueueBufferingMaxMessages = 1_000_000,
        }).Build();
        using var probes = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = kafka.BootstrapServers, LingerMs = 0 }).Build();

        // Kafka alone: a consumer assigned to every partition from its end notes when each probe arrives.
        var consumed = new System.Collections.Concurrent.ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        var rawReader = Task.Factory.StartNew(() => WatchProbes(kafka.BootstrapServers, topic, settings.FetchWaitMs, consumed, stop.Token), TaskCreationOptions.LongRunning);

        // The steady load, on a thread of its own: every millisecond it catches up to rate × elapsed.
        var produced = 0L;
        var loadClock = Stopwatch.StartNew();
        var loader = Task.Factory.StartNew(() => Load(producer, topic, rate, loadClock, ref produced, stop.Token), TaskCreationOptions.LongRunning);

        // Warm up: the group join, the JIT, the connections; until a probe is seen and a few seconds passed.
        var run = prefix[^6..];
        var probe = 0;
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < TimeSpan.FromSeconds(quick ? 5 : 10) || metrics.EventsTotal == 0)
        {
            await ProbeAsync(probes, client, topic, run, probe++, TimeSpan.FromSeconds(60));
            if (warm.Elapsed > TimeSpan.FromMinutes(2))
            {
                throw new InvalidOperationException("ingest applied nothing within 2 minutes");
            }
        }

        var visible = new List<double>();
        var kafkaOnly = new List<double>();
        var sent = new Dictionary<string, long>(StringComparer.Ordinal);
        var measure = Stopwatch.StartNew();
        var producedAtStart = Interlocked.Read(ref produced);
        var eventsAtStart = metrics.EventsTotal;
        var random = new Random(5);
        var (pauses, gen2, batches) = (GC.GetTotalPauseDuration(), GC.CollectionCount(2), metrics.BatchesWritten);
        var slow = new List<string>();
        while (measure.Elapsed < TimeSpan.FromSeconds(quick ? 15 : 45))
        {
            var (user, at, seen) = await ProbeAsync(probes, client, topic, run, probe++, TimeSpan.FromSeconds(30));
            visible.Add(Stopwatch.GetElapsedTime(at, seen).TotalMilliseconds);
            if (visible[^1] > 250 && slow.Count < 20)
            {
                slow.Add(string.Create(CultureInfo.InvariantCulture, $"{visible[^1]:F0} ms at {measure.Elapsed.TotalSeconds:F1} s"));
            }

            sent[user] = at;
            await Task.Delay(random.Next(1, 10)); // probes apart, at unrelated moments of the ingest's batches
        }

        var seconds = measure.Elapsed.TotalSeconds;
        var (paused, collections, written) = ((GC.GetTotalPauseDuration() - pauses).TotalMilliseconds, GC.CollectionCount(2) - gen2, metrics.BatchesWritten - batches);
        var achieved = (Interlocked.Read(ref produced) - producedAtStart) / seconds;
        var applied = (metrics.EventsTotal - eventsAtStart) / seconds;
        await Task.Delay(1000); // the raw consumer's last probes
        await stop.CancelAsync();
        await Task.WhenAll(ingest, loader, rawReader);
        foreach (var (user, at) in sent)
        {
            if (consumed.TryGetValue(user, out var arrived))
            {
                kafkaOnly.Add(Stopwatch.GetElapsedTime(at, arrived).TotalMilliseconds);
            }
        }

        var times = visible.Order().ToArray();
        var raw = kafkaOnly.Order().ToArray();
        var name = $"freshness ({target}, {rate / 1000}k events/s{settings.Describe()})";
        var baseline = "produce → raw consumer reads it";
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {name}: {times.Length} probes, produced {achieved:F0} events/s, ingest applied {applied:F0} events/s; visible p50/p99/max {Measure.Quantile(times, 0.5):F1}/{Measure.Quantile(times, 0.99):F1}/{times[^1]:F1} ms, " +
            $"raw consume p50/p99 {Measure.Quantile(raw, 0.5):F1}/{Measure.Quantile(raw, 0.99):F1} ms ({raw.Length} probes)"));
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"    visible p90/p95 {Measure.Quantile(times, 0.9):F1}/{Measure.Quantile(times, 0.95):F1} ms; {written} batches written ({written / seconds:F0}/s); GC pauses {paused:F0} ms in {collections} gen2 collections; probes over 250 ms: {(slow.Count == 0 ? "none" : string.Join(", ", slow))}"));
        return
        [
            new(name, $"event → visible in a lookup, p50 ({times.Length} probes)", Measure.Quantile(times, 0.5), "ms", baseline + ", p50", Measure.Quantile(raw, 0.5)),
            new(name, "event → visible in a lookup, p99", Measure.Quantile(times, 0.99), "ms", baseline + ", p99", Measure.Quantile(raw, 0.99)),
            new(name, "events produced and applied by ingest while probing", applied, "events/s", "events produced", achieved),
        ];
    }

    /// <summary>
    /// What the knobs cost in throughput: the ingest job with <paramref name="settings"/> over a backlog of
    /// <paramref name="events"/> payments (8 partitions), timed from its assignment to its last event written with its checkpoint.
    /// </summary>
    public static async Task<double> BacklogRateAsync(IConnectionMultiplexer store, EmbeddedKafkaCluster kafka, int events, IngestSettings settings)
    {
        var topic = "fresh-backlog-" + Guid.NewGuid().ToString("N")[..8];
        kafka.CreateTopic(topic, RawKafkaScenario.Partitions);
        kafka.CreateTopic(topic + ".dlq", 1);
        var random = new Random(9);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var payloads = new byte[events][];
        var keys = new byte[events][];
        for (var i = 0; i < events; i++)
        {
            var user = random.Next(10_000);
            keys[i] = Encoding.UTF8.GetBytes("u" + user.ToString(CultureInfo.InvariantCulture));
            payloads[i] = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $$"""{"user_id":"u{{user}}","merchant_id":"m{{random.Next(100)}}","amount":{{random.Next(50_000) / 100.0}},"country":"FR","ts":{{now - events + i}}}"""));
        }

        RawKafkaScenario.Produce(kafka.BootstrapServers, topic, payloads, i => keys[i]);
        var compiled = CompiledRepository.Compile(FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml(topic), "bench.yaml").Repository!);
        var prefix = "fback" + Guid.NewGuid().ToString("N")[..8];
        var assigned = new IngestScenario.AssignmentClock();
        using var metrics = new IngestMetrics();
        using var stop = new CancellationTokenSource();
        var job = IngestJobFactory.Create(compiled, new IngestOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "ingest-" + prefix,
            MaxBatchDelay = settings.BatchDelay ?? new IngestOptions { BootstrapServers = "" }.MaxBatchDelay,
            KafkaSettings = settings.FetchWaitMs is { } wait ? new Dictionary<string, string> { ["fetch.wait.max.ms"] = wait.ToString(CultureInfo.InvariantCulture) } : new Dictionary<string, string>(),
        }, store.GetDatabase(), prefix, metrics, assigned);
        var run = Task.Run(() => job.RunAsync(stop.Token));
        var checkpoints = new OnlineKeys(prefix, compiled.Repository.Project).Checkpoints("ingest-" + prefix);
        var db = store.GetDatabase();
        var clock = Stopwatch.StartNew();
        long written = 0;
        while (written < events && clock.Elapsed < TimeSpan.FromMinutes(3))
        {
            if (metrics.EventsTotal >= events)
            {
                written = (await db.HashValuesAsync(checkpoints)).Sum(v => PartitionCheckpoint.Parse(v.ToString()).NextOffset);
            }

            await Task.Delay(5);
        }

        // From the assignment (after the group join, as the ingest scenario times it) to the last event written with its checkpoint.
        var elapsed = assigned.Elapsed - (assigned.At ?? throw new InvalidOperationException("never assigned"));
        await stop.CancelAsync();
        await run;
        if (written < events)
        {
            throw new InvalidOperationException($"ingest wrote {written} of {events} within 3 minutes");
        }

        return events / elapsed.TotalSeconds;
    }

    // One probe: a payment of a user of its own with a unique amount, then lookups until one answers it. Returns the
    // user, the produce call's timestamp and the timestamp of the first lookup that saw it.
    private static async Task<(string User, long At, long Seen)> ProbeAsync(IProducer<byte[], byte[]> producer, FeatureStoreClient client, string topic, string run, int probe, TimeSpan timeout)
    {
        var user = string.Create(CultureInfo.InvariantCulture, $"probe-{run}-{probe}");
        var amount = probe + 0.25;
        var payload = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $$"""{"user_id":"{{user}}","merchant_id":"m1","amount":{{amount}},"country":"FR","ts":{{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}}}"""));
        var keys = new[] { user };
        var at = Stopwatch.GetTimestamp();
        producer.Produce(topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(user), Value = payload });
        while (true)
        {
            var answer = await client.GetOnlineFeaturesAsync([Feature], "user_id", keys);
            var seen = Stopwatch.GetTimestamp();
            if (answer.GetDouble(0, Feature) == amount)
            {
                return (user, at, seen);
            }

            if (Stopwatch.GetElapsedTime(at, seen) > timeout)
            {
                throw new InvalidOperationException($"probe {user} not visible after {timeout.TotalSeconds:F0} s");
            }

            // About a millisecond between polls: resolution enough for a 100 ms target, and the poller leaves the
            // two cores to the ingest job it measures.
            await Task.Delay(1);
        }
    }

    private static void Load(IProducer<byte[], byte[]> producer, string topic, int rate, Stopwatch clock, ref long produced, CancellationToken stop)
    {
        var random = new Random(3);
        var users = Enumerable.Range(0, 10_000).Select(u => Encoding.UTF8.GetBytes("u" + u.ToString(CultureInfo.InvariantCulture))).ToArray();
        while (!stop.IsCancellationRequested)
        {
            var due = (long)(rate * clock.Elapsed.TotalSeconds);
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            while (Volatile.Read(ref produced) < due && !stop.IsCancellationRequested)
            {
                var user = random.Next(users.Length);
                var payload = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                    $$"""{"user_id":"u{{user}}","merchant_id":"m{{random.Next(100)}}","amount":{{random.Next(50_000) / 100.0}},"country":"FR","ts":{{now}}}"""));
                try
                {
                    producer.Produce(topic, new Message<byte[], byte[]> { Key = users[user], Value = payload });
                    Interlocked.Increment(ref produced);
                }
                catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(1));
                }
            }

            producer.Poll(TimeSpan.Zero);
            Thread.Sleep(1);
        }
    }

    private static void WatchProbes(string bootstrap, string topic, int? fetchWaitMs, System.Collections.Concurrent.ConcurrentDictionary<string, long> consumed, CancellationToken stop)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "raw-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            FetchWaitMaxMs = fetchWaitMs, // as the ingest's consumer of the same run
        }).Build();
        consumer.Assign(Enumerable.Range(0, RawKafkaScenario.Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.End)));
        while (!stop.IsCancellationRequested)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (result?.Message?.Key is { } key && key.AsSpan().StartsWith("probe-"u8))
            {
                consumed.TryAdd(Encoding.UTF8.GetString(key), Stopwatch.GetTimestamp());
            }
        }

        consumer.Close();
    }

    /// <summary>The ingest's batching knobs of one run (null: the job's defaults).</summary>
    internal sealed record IngestSettings(int? FetchWaitMs = null, TimeSpan? BatchDelay = null, double ProducerLingerMs = 50)
    {
        public string Describe() =>
            (FetchWaitMs is { } f ? $", fetch.wait.max.ms={f}" : "") + (BatchDelay is { } d ? $", batch delay {d.TotalMilliseconds:F0} ms" : "");
    }
}
