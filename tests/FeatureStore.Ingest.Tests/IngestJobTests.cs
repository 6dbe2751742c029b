using System.Text;
using Confluent.Kafka;
using FeatureStore.Testing;

namespace FeatureStore.Ingest.Tests;

/// <summary>The ingest job end to end: embedded Kafka over TCP, real redis-server, values checked against the §4 reference.</summary>
[Trait("Category", "Integration")]
public sealed class IngestJobTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    // A few hundred states per batch, built on one thread.
    [InlineData("payments", 20_000, 300, 1, int.MaxValue)]
    // Past 2 048 states a batch is built by workers taking slices of its states in turn; 12 000 users in at
    // most ten batches put more than that in one of them (a batch of 3 000 events touches ~2 600 users). Catching
    // up, the job makes two to five batches; more when the machine is busy and the 100 ms delay ends some.
    [InlineData("wide", 30_000, 12_000, 6, 10)]
    public async Task Out_of_order_events_over_four_partitions_end_exactly_as_the_reference(string topic, int count, int users, int seed, int maxBatches)
    {
        var scenario = new IngestScenario(kafka.CreateTopic(topic, partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count, users, seed, nowMs: now);

        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        await scenario.IngestAllAsync(kafka.BootstrapServers, db, metrics, Ct);

        Assert.Equal(count, metrics.EventsTotal);
        Assert.Equal(0, metrics.DeadLetteredTotal);
        Assert.InRange(metrics.BatchesWritten, 1, maxBatches);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime - (17 * 60_000) - 1);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (90 * 60_000)); // windows decay with no new event
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Small_batches_pipelined_with_a_cache_evicting_every_batch_end_exactly_as_the_reference(bool buildInBackground)
    {
        // Batches of 300 events: each one is built (in the background while the next is parsed and buffered,
        // or at once) and written while the one after is built. A cache of 40 states (of ~600) evicts at every
        // write, so entities keep coming back from the store while writes of theirs are still being built or in
        // flight; their reads go before the batch built earlier is sent, so only states whose writes landed may
        // be dropped (dropping others makes this test fail).
        var scenario = new IngestScenario(kafka.CreateTopic(buildInBackground ? "pipelined-bg" : "pipelined", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 12_000, users: 300, seed: 5, nowMs: now);
        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics, maxBatchEvents: 300, maxCachedStates: 40, buildInBackground: buildInBackground).RunAsync(cts.Token), Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(12_000, metrics.EventsTotal);
        Assert.True(metrics.BatchesWritten >= 40, $"{metrics.BatchesWritten} batches");
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (45 * 60_000));
    }

    [Fact]
    public async Task A_member_that_has_caught_up_writes_what_it_read_at_once_while_a_steady_stream_goes_on()
    {
        // A batch delay of ten minutes and an event every few milliseconds: a batch that stayed open while events keep
        // coming would write nothing within the test's minute. Caught up (all fetched read, nothing waiting at the
        // broker as of the last fetch), the member writes at once.
        var scenario = new IngestScenario(kafka.CreateTopic("caught-up", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var job = IngestJobFactory.Create(scenario.Compiled, new IngestOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "ingest",
            MaxBatchDelay = TimeSpan.FromMinutes(10),
            FetchWait = TimeSpan.FromMilliseconds(10),
            SessionTimeout = TimeSpan.FromSeconds(6),
        }, db, scenario.KeyPrefix, metrics, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var run = Task.Run(() => job.RunAsync(cts.Token), Ct);

        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = kafka.BootstrapServers, LingerMs = 0 }).Build();
        var random = new Random(17);
        var sent = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (await scenario.CheckpointedAsync(db) < 100)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"{await scenario.CheckpointedAsync(db)} of {sent} events written after {clock.Elapsed}");
            for (var i = 0; i < 5; i++)
            {
                var user = "u" + random.Next(20).ToString(System.Globalization.CultureInfo.InvariantCulture);
                producer.Produce(scenario.Topic, new Message<string, byte[]> { Key = user, Value = scenario.Draw(random, user, now, sent++, counts: true) });
                await Task.Delay(2, Ct); // the stream's pace, not a wait for a condition
            }
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= sent, TimeSpan.FromSeconds(60), $"{sent} events written", Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(sent, metrics.EventsTotal);
        Assert.True(metrics.BatchesWritten >= 2, $"{metrics.BatchesWritten} batches");
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
    }

    [Fact]
    public async Task Kafka_gets_the_landed_checkpoints_as_committed_offsets_once_the_member_is_idle_while_it_keeps_running()
    {
        // Kafka's copy of the offsets (for lag tooling) is spaced to once a second while batches land; an idle member
        // sends what is left at once, without waiting for a stop.
        var scenario = new IngestScenario(kafka.CreateTopic("commits", partitions: 4));
        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: 50, seed: 23, nowMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics, maxBatchEvents: 200).RunAsync(cts.Token), Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);

        using var offsets = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "ingest" }).Build();
        var partitions = Enumerable.Range(0, 4).Select(p => new TopicPartition(scenario.Topic, p)).ToList();
        await Eventually.TrueAsync(
            () => Task.FromResult(offsets.Committed(partitions, TimeSpan.FromSeconds(10)).Sum(o => Math.Max(0, o.Offset.Value)) == 3_000),
            TimeSpan.FromSeconds(30), "Kafka's committed offsets at the topic's end", Ct);
        Assert.False(run.IsCompleted);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    [Fact]
    public async Task Malformed_events_go_to_the_dead_letter_topic_with_their_reason_and_the_rest_stay_exact()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("mixed", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var expectedReasons = new Dictionary<string, int>();
        // The embedded broker keeps a few MB per partition: a handful of oversized payloads, not hundreds.
        string[] reasons = ["malformed_json", "missing_key", "wrong_type", "wrong_type", "invalid_timestamp", "too_far_in_future"];
        var bad = 0;
        scenario.Produce(kafka.BootstrapServers, count: 5_000, users: 100, seed: 2, nowMs: now, corrupt: i =>
        {
            if (i % 1000 == 7)
            {
                Count("payload_too_large");
                return $$"""{"user_id":"u1","note":"{{new string('x', 300_000)}}","ts":{{now}}}""";
            }

            if (i % 10 != 3)
            {
                return null;
            }

            var kind = (i / 10) % reasons.Length;
            Count(reasons[kind]);
            return kind switch
            {
                0 => """{"user_id":"u1","amount":12.5,"ts":""",
                1 => $$"""{"merchant_id":"m1","amount":1,"ts":{{now}}}""",
                2 => $$"""{"user_id":"u1","merchant_id":"m1","amount":"12.5","ts":{{now}}}""",
                3 => $$"""{"user_id":"u1","merchant_id":"m1","amount":"NaN","ts":{{now}}}""",
                4 => """{"user_id":"u1","merchant_id":"m1","amount":1,"ts":"yesterday"}""",
                _ => $$"""{"user_id":"u1","merchant_id":"m1","amount":1,"ts":{{now + (3 * 3_600_000)}}}""",
            };
        });

        void Count(string reason)
        {
            bad++;
            expectedReasons[reason] = expectedReasons.GetValueOrDefault(reason) + 1;
        }

        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        await scenario.IngestAllAsync(kafka.BootstrapServers, db, metrics, Ct);

        Assert.Equal(505, bad);
        var dead = ReadAll(scenario.Topic + ".dlq", bad);
        var counted = dead.GroupBy(m => Encoding.UTF8.GetString(m.Headers.GetLastBytes("fs-reason"))).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(expectedReasons.OrderBy(kv => kv.Key), counted.OrderBy(kv => kv.Key));
        Assert.Equal(bad, dead.Count);
        Assert.Equal(bad, metrics.DeadLetteredTotal);
        Assert.Equal(5_000 - bad, metrics.EventsTotal);
        Assert.All(dead, m => Assert.Equal(scenario.Topic, Encoding.UTF8.GetString(m.Headers.GetLastBytes("fs-source-topic"))));
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
    }

    [Fact]
    public async Task An_event_over_a_megabyte_is_dead_lettered_once_cut_to_a_prefix_with_its_size_and_ingestion_goes_on()
    {
        // The source topic takes the event (its producer raised message.max.bytes), but the dead-letter
        // producer's default limit is 1 MB: the dead letter carries a prefix of the payload and its size.
        var scenario = new IngestScenario(kafka.CreateTopic("huge", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var huge = $$"""{"user_id":"u1","note":"{{new string('x', 1_100_000)}}","ts":{{now}}}""";
        scenario.Produce(kafka.BootstrapServers, count: 400, users: 20, seed: 3, nowMs: now, corrupt: i => i == 150 ? huge : null);

        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        await scenario.IngestAllAsync(kafka.BootstrapServers, db, metrics, Ct);

        var dead = Assert.Single(ReadAll(scenario.Topic + ".dlq", 1));
        Assert.Equal("payload_too_large", Encoding.UTF8.GetString(dead.Headers.GetLastBytes("fs-reason")));
        Assert.Equal(Encoding.UTF8.GetByteCount(huge).ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.UTF8.GetString(dead.Headers.GetLastBytes("fs-payload-bytes")));
        Assert.InRange(dead.Value.Length, 1, 64 * 1024);
        Assert.Equal(Encoding.UTF8.GetBytes(huge).AsSpan(0, dead.Value.Length).ToArray(), dead.Value);
        Assert.Equal(399, metrics.EventsTotal);

        // A restart (more events meanwhile) does not dead-letter it again.
        scenario.Produce(kafka.BootstrapServers, count: 100, users: 20, seed: 4, nowMs: now, firstIndex: 400);
        using var again = new IngestMetrics();
        await scenario.IngestAllAsync(kafka.BootstrapServers, db, again, Ct);
        Assert.Single(ReadAll(scenario.Topic + ".dlq", 1));
        Assert.Equal(0, again.DeadLetteredTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
    }

    [Fact]
    public async Task After_the_cluster_is_replaced_by_a_fresh_one_every_event_of_the_new_one_reaches_the_online_store()
    {
        // The embedded broker of `run` starts empty each time: the checkpoints in the online store count
        // offsets of a log that is gone, and the new one starts again at 0.
        var scenario = new IngestScenario(EmbeddedKafkaFixture.UniqueTopic("reborn"));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var db = redis.Connection.Database;
        using (var old = Kafka.Embedded.EmbeddedKafkaCluster.Start())
        {
            old.CreateTopic(scenario.Topic, 4);
            scenario.Produce(old.BootstrapServers, count: 2_000, users: 40, seed: 8, nowMs: now);
            using var first = new IngestMetrics();
            await scenario.IngestAllAsync(old.BootstrapServers, db, first, Ct);
            Assert.Equal(2_000, first.EventsTotal);
        }

        using var fresh = Kafka.Embedded.EmbeddedKafkaCluster.Start();
        fresh.CreateTopic(scenario.Topic, 4);
        scenario.Produce(fresh.BootstrapServers, count: 300, users: 40, seed: 9, nowMs: now, firstIndex: 2_000);
        await IngestExactlyAsync(scenario, fresh.BootstrapServers, db, 300);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);

        // Restarted on the same cluster, it resumes where it stopped: nothing read twice.
        scenario.Produce(fresh.BootstrapServers, count: 100, users: 40, seed: 10, nowMs: now, firstIndex: 2_300);
        await IngestExactlyAsync(scenario, fresh.BootstrapServers, db, 100);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
    }

    private static async Task IngestExactlyAsync(IngestScenario scenario, string bootstrap, StackExchange.Redis.IDatabase db, long expected)
    {
        using var metrics = new IngestMetrics();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => scenario.CreateJob(bootstrap, db, metrics).RunAsync(cts.Token), Ct);
        await Eventually.TrueAsync(() => run.IsCompleted || metrics.EventsTotal >= expected, TimeSpan.FromSeconds(60), $"{expected} events applied", Ct);
        await scenario.WaitUntilCaughtUpAsync(bootstrap, db, TimeSpan.FromSeconds(60), Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(expected, metrics.EventsTotal);
    }

    [Fact]
    public async Task Progress_gives_the_lag_as_unknown_until_every_partition_is_measured_then_zero_once_caught_up()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("progress", partitions: 4));
        scenario.Produce(kafka.BootstrapServers, count: 2_000, users: 50, seed: 12, nowMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        var job = scenario.CreateJob(kafka.BootstrapServers, db, metrics);
        Assert.Contains("lag ? (no partition assigned yet)", job.Progress.Line(0, 0, 0, 0, 0), StringComparison.Ordinal);

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => job.RunAsync(cts.Token), Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(60), Ct);
        await Eventually.TrueAsync(() => job.Progress == new IngestProgress(4, 4, 0), TimeSpan.FromSeconds(30), "every partition measured, lag 0", Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(2_000, metrics.EventsTotal);
        Assert.Equal(0, metrics.ReadAgainTotal);
        Assert.Equal(0, metrics.ReplayedTotal);
    }

    private List<Message<byte[], byte[]>> ReadAll(string topic, int expected)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = EmbeddedKafkaFixture.UniqueTopic("dlq-reader"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
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
