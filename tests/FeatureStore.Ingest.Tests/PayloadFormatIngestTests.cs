using Confluent.Kafka;
using FeatureStore.Testing;

namespace FeatureStore.Ingest.Tests;

/// <summary>
/// Avro and Protobuf sources end to end: the same scenario as the JSON ingest tests, its events encoded by Apache.Avro
/// and Google.Protobuf and framed for Schema Registry, ingested from the embedded broker into redis-server, and every
/// feature checked against the §4 reference (the one the JSON path is checked against). Undecodable payloads go to the
/// dead-letter topic with their reason.
/// </summary>
[Trait("Category", "Integration")]
public sealed class PayloadFormatIngestTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("avro")]
    [InlineData("protobuf")]
    public async Task Binary_events_end_exactly_as_the_reference_and_undecodable_ones_are_dead_lettered(string format)
    {
        var scenario = new IngestScenario(kafka.CreateTopic("payments-" + format, partitions: 4), format);
        kafka.Cluster.CreateTopic(scenario.Topic + ".dlq", 1);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var truncated = 0;
        scenario.Produce(kafka.BootstrapServers, count: 4_000, users: 200, seed: 9, nowMs: now, corrupt: i =>
        {
            if (i % 500 != 3)
            {
                return null;
            }

            // The frame, then a string that says it is longer than the rest.
            truncated++;
            return format == "avro" ? "\0\0\0\0\u0007\u0006u" : "\0\0\0\0\u0007\0\u000A\u0010u";
        });

        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        await scenario.IngestAllAsync(kafka.BootstrapServers, db, metrics, Ct);
        Assert.Equal(4_000 - truncated, metrics.EventsTotal);
        Assert.Equal(truncated, metrics.DeadLetteredTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (45 * 60_000));

        // Each rejected payload is in the dead-letter topic with its reason.
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "dlq-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe(scenario.Topic + ".dlq");
        var reasons = new List<string>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (reasons.Count < truncated && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } record)
            {
                reasons.Add(System.Text.Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes("fs-reason")));
            }
        }

        Assert.Equal(Enumerable.Repeat("undecodable_payload", truncated), reasons);
    }
}
