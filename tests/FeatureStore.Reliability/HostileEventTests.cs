using System.Globalization;
using System.Text;
using Confluent.Kafka;
using FeatureStore.Ingest;
using FeatureStore.Ingest.Tests;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Testing;

namespace FeatureStore.Reliability;

/// <summary>
/// Fuzzed events — random bytes, deeply nested JSON, huge strings, NaN and Infinity, timestamps at the
/// ends of the range, truncations — mixed into a good stream: every bad one lands in the dead-letter
/// topic, unchanged, with a documented reason; every good one counts exactly once.
/// </summary>
[Trait("Category", "Integration")]
public sealed class HostileEventTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>
{
    private static readonly HashSet<string> DocumentedReasons =
    [
        "malformed_json", "missing_key", "missing_timestamp", "invalid_timestamp", "wrong_type", "payload_too_large", "too_late", "too_far_in_future",
    ];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_fuzzed_event_is_dead_lettered_with_a_reason_and_the_good_ones_stay_exact()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("fuzz", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: 200, seed: 51, nowMs: now);

        // The bad events come after the good ones of their partition, so every partition has a watermark
        // (an event at epoch 0 is then too late, not the first of its partition).
        var bad = Hostile(new Random(51), now).ToList();
        using (var producer = new ProducerBuilder<string, byte[]?>(new ProducerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            MessageMaxBytes = 2 << 20,
        }).Build())
        {
            var i = 0;
            foreach (var value in bad)
            {
                producer.Produce(scenario.Topic, new Message<string, byte[]?> { Key = "u" + (i++ % 200).ToString(CultureInfo.InvariantCulture), Value = value });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        }

        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        await scenario.IngestAllAsync(kafka.BootstrapServers, db, metrics, Ct);

        var dead = ReadDeadLetters(scenario.Topic + ".dlq", bad.Count);
        Assert.Equal(bad.Count, dead.Count);
        Assert.All(dead, m =>
        {
            var reason = Encoding.UTF8.GetString(m.Headers.GetLastBytes("fs-reason"));
            Assert.Contains(reason, DocumentedReasons);
            Assert.NotNull(m.Headers.GetLastBytes("fs-source-offset"));
        });
        var sent = bad.Select(b => Convert.ToBase64String(b ?? [])).Order(StringComparer.Ordinal).ToList();
        var received = dead.Select(m => Convert.ToBase64String(m.Value ?? [])).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(sent, received); // each bad event once, unchanged
        Assert.Equal(scenario.Count, metrics.EventsTotal); // events applied
        Assert.Equal(bad.Count, metrics.DeadLetteredTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        var reasons = dead.GroupBy(m => Encoding.UTF8.GetString(m.Headers.GetLastBytes("fs-reason"))).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key}={g.Count()}");
        Figures.Report("hostile input / events", $"good={scenario.Count} bad={bad.Count} dead_lettered={dead.Count} ({string.Join(", ", reasons)}) crashes=0, good values exact");
    }

    /// <summary>Events the ingest job must refuse, each for a documented reason.</summary>
    private static IEnumerable<byte[]?> Hostile(Random random, long now)
    {
        byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
        string Good(string amount = "12.5", string ts = "") =>
            $$"""{"user_id":"u1","merchant_id":"m1","amount":{{amount}},"country":"FR","ts":{{(ts.Length == 0 ? now.ToString(CultureInfo.InvariantCulture) : ts)}}}""";

        // Random bytes (a leading '{' or '[' now and then, so the parser gets past the first byte).
        for (var i = 0; i < 60; i++)
        {
            var bytes = new byte[random.Next(0, 300)];
            random.NextBytes(bytes);
            if (bytes.Length > 0 && i % 3 == 0)
            {
                bytes[0] = (byte)(i % 2 == 0 ? '{' : '[');
            }

            yield return bytes;
        }

        yield return null; // a tombstone
        yield return [];

        // Deeply nested JSON, in an unknown field and in a known one.
        foreach (var depth in new[] { 65, 1_000, 100_000 })
        {
            yield return Utf8($$"""{"user_id":"u1","x":{{new string('[', depth)}}{{new string(']', depth)}},"ts":{{now}}}""");
            yield return Utf8($$"""{"user_id":"u1","merchant_id":"m1","amount":{{new string('[', depth)}}1{{new string(']', depth)}},"ts":{{now}}}""");
        }

        // Huge strings: over the 256 KiB payload limit, in a key and in an unknown field.
        yield return Utf8($$"""{"user_id":"{{new string('u', 300_000)}}","merchant_id":"m1","amount":1,"ts":{{now}}}""");
        yield return Utf8($$"""{"user_id":"u1","note":"{{new string('x', 270_000)}}","ts":{{now}}}""");

        // NaN and Infinity, as JSON does not have them and as strings and overflowing numbers.
        foreach (var amount in new[] { "NaN", "Infinity", "-Infinity", "\"NaN\"", "\"Infinity\"", "1e400", "-1e309", "true", "[]", "{}", "\"12.5\"" })
        {
            yield return Utf8(Good(amount: amount));
        }

        // Timestamps at and beyond the ends of the range, of the wrong type, fractional, far future and past.
        foreach (var ts in new[]
        {
            long.MinValue.ToString(CultureInfo.InvariantCulture), long.MaxValue.ToString(CultureInfo.InvariantCulture), "9223372036854775808",
            "-9223372036854775809", "1e400", "-1e400", "0", "-1", "1.5", "\"2026-01-01T00:00:00Z\"", "\"9999-12-31T23:59:59Z\"",
            "\"0001-01-01T00:00:00Z\"", "null", "true", "[]", "{}", "\"\"", (now + (365L * 86_400_000)).ToString(CultureInfo.InvariantCulture),
        })
        {
            yield return Utf8(Good(ts: ts));
        }

        // No keys at all, empty and mistyped keys.
        yield return Utf8($$"""{"amount":1,"ts":{{now}}}""");
        yield return Utf8($$"""{"user_id":"","merchant_id":"","amount":1,"ts":{{now}}}""");
        yield return Utf8($$"""{"user_id":5,"merchant_id":6,"amount":1,"ts":{{now}}}""");
        yield return Utf8($$"""{"user_id":null,"merchant_id":null,"amount":1,"ts":{{now}}}""");

        // Not objects, invalid UTF-8, and good events cut short at every tenth byte.
        foreach (var text in new[] { "[]", "1", "\"x\"", "null", "true", "{}", "{\"user_id\":\"u1\"}{\"user_id\":\"u2\"}" })
        {
            yield return Utf8(text);
        }

        yield return [.. Utf8("{\"user_id\":\""), 0xff, 0xfe, 0xc3, .. Utf8($"\",\"merchant_id\":\"m1\",\"amount\":1,\"ts\":{now}}}")];
        var good = Good();
        for (var cut = 1; cut < good.Length; cut += 10)
        {
            yield return Utf8(good[..cut]);
        }
    }

    private List<Message<byte[], byte[]>> ReadDeadLetters(string topic, int expected)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = EmbeddedKafkaFixture.UniqueTopic("dlq-reader"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            MaxPartitionFetchBytes = 4 << 20,
            FetchMaxBytes = 8 << 20,
        }).Build();
        consumer.Subscribe(topic);
        var messages = new List<Message<byte[], byte[]>>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (messages.Count < expected && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
            {
                messages.Add(result.Message);
            }
        }

        // Anything beyond the expected count would be a duplicate: give it a moment to show up.
        while (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { } extra)
        {
            messages.Add(extra.Message);
        }

        consumer.Close();
        return messages;
    }
}
