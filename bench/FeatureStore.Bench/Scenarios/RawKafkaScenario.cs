using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using FeatureStore.Bench.Harness;
using FeatureStore.Kafka.Embedded;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Raw baselines of the embedded broker: librdkafka produce rate (idempotent, acks=all, batched) and raw
/// consume rate of the same topic through Confluent.Kafka, no parsing. Later scenarios divide by these.
/// </summary>
internal static class RawKafkaScenario
{
    // The mock broker keeps only a few MB per partition (older messages are dropped): spread the topic.
    public const int Partitions = 8;

    /// <summary>
    /// Partitions enough for <paramref name="events"/> sample payloads to stay whole on the mock broker, which keeps
    /// 5 MB per partition (about 250 bytes an event, with room to spare; BYTES_PER_EVENT_COMPRESSED compressed);
    /// never fewer than <see cref="Partitions"/>.
    /// </summary>
    public static int PartitionsFor(int events, CompressionType compression = CompressionType.None) =>
        Math.Max(Partitions, (int)Math.Ceiling(events * BytesPerEvent(compression) / (5 << 20)));

    // What a sample payload takes in a batch on the mock broker, with room to spare: ~250 bytes plain, ~70 with lz4,
    // ~30 with zstd (batches of thousands, keyed by user).
    private static double BytesPerEvent(CompressionType compression) => compression switch
    {
        CompressionType.None => 320,
        CompressionType.Zstd => 40,
        _ => 100,
    };

    /// <summary>Throws unless every partition of <paramref name="topic"/> still starts at offset 0: the mock broker drops a partition's oldest batches past 5 MB.</summary>
    public static void EnsureWhole(string bootstrap, string topic, int partitions)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "bench-watermarks" }).Build();
        for (var p = 0; p < partitions; p++)
        {
            var low = consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).Low.Value;
            if (low > 0)
            {
                throw new InvalidOperationException($"the broker dropped the first {low} events of partition {p} of {topic}: more partitions are needed");
            }
        }
    }

    public static byte[][] SamplePayloads(int count, int users = 10_000)
    {
        var random = new Random(42);
        var start = DateTimeOffset.Parse("2026-11-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        var payloads = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            var time = DateTimeOffset.FromUnixTimeMilliseconds(start + (i * 50L)).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
            payloads[i] = Encoding.UTF8.GetBytes(
                $$"""{"transaction_id":"t{{i}}","user_id":"u{{random.Next(users)}}","merchant_id":"m{{random.Next(1000)}}","amount":{{random.Next(1, 50_000) / 100.0}},"currency":"EUR","country":"FR","card_present":{{(random.Next(2) == 0 ? "true" : "false")}},"event_time":"{{time}}"}""");
        }

        return payloads;
    }

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(EmbeddedKafkaCluster cluster, int messages, int repetitions)
    {
        var payloads = SamplePayloads(messages);
        var topic = $"bench-raw-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, Partitions);

        var produceRate = await Measure.MedianRateAsync(1, _ => Task.FromResult(Produce(cluster.BootstrapServers, topic, payloads)));
        var consumeRate = await Measure.MedianRateAsync(repetitions, _ => Task.FromResult(ConsumeAll(cluster.BootstrapServers, topic, messages)));
        return
        [
            new ResultRow("raw kafka (embedded)", $"produce {messages / 1000}k × ~200 B, {Partitions} partitions", produceRate, "msgs/s"),
            new ResultRow("raw kafka (embedded)", "consume the same topic, no parsing", consumeRate, "msgs/s"),
        ];
    }

    /// <summary>Produces the payloads; keyed by <paramref name="key"/> (by default their index, which spreads them evenly).</summary>
    public static long Produce(string bootstrap, string topic, byte[][] payloads, Func<int, byte[]>? key = null, CompressionType compression = CompressionType.None)
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            CompressionType = compression,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            BatchNumMessages = 10_000,
            QueueBufferingMaxMessages = 1_000_000,
        }).Build();
        for (var i = 0; i < payloads.Length; i++)
        {
            var payload = payloads[i];
            var messageKey = key?.Invoke(i) ?? Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            while (true)
            {
                try
                {
                    producer.Produce(topic, new Message<byte[]?, byte[]> { Key = messageKey, Value = payload });
                    break;
                }
                catch (ProduceException<byte[]?, byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(50));
                }
            }
        }

        var left = producer.Flush(TimeSpan.FromMinutes(5));
        if (left > 0)
        {
            throw new InvalidOperationException($"{left} messages not delivered");
        }

        return payloads.Length;
    }

    public static long ConsumeAll(string bootstrap, string topic, int expected, int partitions = Partitions)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = $"bench-{Guid.NewGuid():N}",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            FetchMaxBytes = 64 << 20,
        }).Build();
        // Assigned, not subscribed: the rate of fetching, without the group join's fixed delay.
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var count = 0;
        var clock = Stopwatch.StartNew();
        while (count < expected && clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { } result)
            {
                count++;
                GC.KeepAlive(result);
            }
        }

        if (count < expected)
        {
            var marks = string.Join(", ", Enumerable.Range(0, partitions).Select(p =>
            {
                var w = consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(5));
                return $"p{p} [{w.Low.Value}, {w.High.Value}) at {consumer.Position(new TopicPartition(topic, p)).Value}";
            }));
            consumer.Close();
            throw new InvalidOperationException($"consumed {count} of {expected} messages within the time limit; {marks}");
        }

        consumer.Close();

        return count;
    }
}
