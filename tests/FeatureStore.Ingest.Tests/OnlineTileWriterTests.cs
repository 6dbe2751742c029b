using System.Globalization;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Ingest.Tests;

/// <summary>
/// The online writer driven directly, without Kafka, through paths the job reaches only by chance: a partition
/// revoked and assigned again in the middle of a batch, and partitions read for the first time next to
/// partitions already written. Events go to a real redis-server; values are checked against the §4 reference.
/// </summary>
[Trait("Category", "Integration")]
public sealed class OnlineTileWriterTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_partition_forgotten_mid_batch_leaves_out_only_its_events_buffered_before(bool buildInBackground)
    {
        // 3 000 users over two partitions: more than 2 048 states in the batch, so it is built by workers (at
        // once, or by a background worker and the thread that sends it, helping).
        var (scenario, writer, add) = Start(buildInBackground: buildInBackground);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var random = new Random(11);
        var p0 = new TopicPartition(scenario.Topic, 0);
        var p1 = new TopicPartition(scenario.Topic, 1);
        for (var i = 0; i < 12_000; i++)
        {
            if (i == 6_000)
            {
                // Revoked, then assigned again before the batch is sealed: only the events after count.
                writer.Forget(p0);
            }

            var partition = i % 2 == 0 ? p0 : p1;
            var user = "u" + random.Next(3_000).ToString(System.Globalization.CultureInfo.InvariantCulture);
            add(partition, i, scenario.Draw(random, user, now, i, counts: partition == p1 || i >= 6_000));
        }

        var batch = await WriteAsync(writer, new() { [p0] = null, [p1] = null }, 12_000);
        Assert.True(batch.States > 2_048, $"{batch.States} states");
        await scenario.AssertOnlineEqualsReferenceAsync(redis.Connection.Database, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(redis.Connection.Database, now + (90 * 60_000));
    }

    [Fact]
    public async Task Shares_of_a_partition_without_checkpoint_start_empty_unread_and_the_others_are_read()
    {
        var (scenario, writer, add) = Start();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var random = new Random(12);
        var p0 = new TopicPartition(scenario.Topic, 0);
        var p1 = new TopicPartition(scenario.Topic, 1);
        var p2 = new TopicPartition(scenario.Topic, 2);
        string User() => "u" + random.Next(200).ToString(System.Globalization.CultureInfo.InvariantCulture);
        for (var i = 0; i < 2_000; i++)
        {
            add(i % 2 == 0 ? p0 : p1, i, scenario.Draw(random, User(), now, i, counts: true));
        }

        var first = await WriteAsync(writer, new() { [p0] = null, [p1] = null }, 2_000);
        Assert.Equal(0, first.Loaded); // neither partition had a checkpoint

        // A member starting cold (nothing cached): the same entities in a partition written before, whose
        // shares must be read, and in one never written, whose shares cannot exist although the entities'
        // keys do (holding the other partitions' fields).
        (_, writer, add) = Start(scenario);
        var readable = new HashSet<string>(StringComparer.Ordinal); // p1's users and merchants
        for (var i = 2_000; i < 3_000; i++)
        {
            var partition = i % 2 == 0 ? p1 : p2;
            var payload = scenario.Draw(random, User(), now, i, counts: true);
            if (partition == p1)
            {
                using var json = System.Text.Json.JsonDocument.Parse(payload);
                readable.Add("user " + json.RootElement.GetProperty("user_id").GetString());
                readable.Add("merchant " + json.RootElement.GetProperty("merchant_id").GetString());
            }

            add(partition, i, payload);
        }

        var second = await WriteAsync(writer, new() { [p1] = new PartitionCheckpoint(2_000, 0), [p2] = null }, 3_000);
        Assert.Equal(readable.Count, second.Loaded);
        await scenario.AssertOnlineEqualsReferenceAsync(redis.Connection.Database, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(redis.Connection.Database, now + (90 * 60_000));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Entities_keyed_by_several_fields_or_by_a_number_are_written_as_the_reference(bool buildInBackground)
    {
        // Keys are joined from the events' fields as the events are buffered (several fields with '|', a number
        // in its digits), some longer than the room the buffer starts with; each distinct key is tied to its
        // state once per batch, over two batches (the second on cached states).
        const string Yaml = """
            project: ktest
            entities:
              - name: pair
                join_keys: [user_id, merchant_id]
              - name: store
                join_keys: [store]
            sources:
              - name: sales
                kafka:
                  topic: sales
                timestamp_field: ts
                timestamp_format: epoch_ms
                fields:
                  user_id: string
                  merchant_id: string
                  store: int
                  amount: double
                  ts: timestamp
            feature_views:
              - name: pair_stats
                entity: pair
                source: sales
                ttl: 1d
                features:
                  - { name: n_1h, aggregation: count, window: 1h }
                  - { name: sum_1h, aggregation: sum, field: amount, window: 1h }
              - name: store_stats
                entity: store
                source: sales
                ttl: 1d
                features:
                  - { name: n_all, aggregation: count }
                  - { name: max_1h, aggregation: max, field: amount, window: 1h }
            """;
        var load = FeatureRepositoryLoader.LoadFromText(Yaml, "ktest.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        var compiled = CompiledRepository.Compile(load.Repository!);
        var keys = new OnlineKeys("k" + Guid.NewGuid().ToString("N")[..8], "ktest");
        var writer = new OnlineTileWriter(redis.Connection.Database, keys, "ingest", compiled.Repository.Settings.AllowedLatenessMs, 200_000)
        {
            BuildInBackground = buildInBackground,
        };
        var source = compiled.Sources[0];
        var binding = new SourceBinding(source.Definition.Name, source.Definition.Topic, source.Definition.DeadLetterTopic, source.Schema, source);
        var parser = new EventParser(source.Schema);
        var partition = new TopicPartition("sales", 0);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var random = new Random(13);
        var events = new List<(string Pair, string Store, double Amount, long Time, int Offset)>();
        PartitionCheckpoint? stored = null;
        for (var batch = 0; batch < 2; batch++)
        {
            for (var i = batch * 3_000; i < (batch + 1) * 3_000; i++)
            {
                var user = random.Next(8) == 0 ? "u" + new string('x', 90) + random.Next(5).ToString(CultureInfo.InvariantCulture) : "u" + random.Next(40).ToString(CultureInfo.InvariantCulture);
                var merchant = "m" + random.Next(6).ToString(CultureInfo.InvariantCulture);
                var store = random.Next(-5, 20);
                var amount = Math.Round(random.NextDouble() * 100, 2);
                var time = now - random.NextInt64(0, 2 * 3_600_000);
                var payload = $$"""{"user_id":"{{user}}","merchant_id":"{{merchant}}","store":{{store}},"amount":{{amount.ToString(CultureInfo.InvariantCulture)}},"ts":{{time}}}""";
                Assert.Equal(ParseError.None, parser.Parse(System.Text.Encoding.UTF8.GetBytes(payload)));
                writer.Add(binding, partition, i, parser);
                events.Add((user + "|" + merchant, store.ToString(CultureInfo.InvariantCulture), amount, time, i));
            }

            await WriteAsync(writer, new() { [partition] = stored }, (batch + 1) * 3_000);
            stored = new PartitionCheckpoint((batch + 1) * 3_000, 0);
        }

        var reader = new OnlineStoreValues(redis.Connection.Database, keys);
        var t = now + 60_000;
        foreach (var view in compiled.Views)
        {
            var byEntity = events.GroupBy(e => view.Name == "pair_stats" ? e.Pair : e.Store).ToList();
            Assert.True(byEntity.Count > 20, $"{byEntity.Count} entities");
            var (values, exact) = await reader.ReadAsync([new ViewRead(view, [.. byEntity.Select(g => g.Key)])], t);
            Assert.True(exact);
            for (var i = 0; i < byEntity.Count; i++)
            {
                var reference = byEntity[i].Select(e => new TestEvent(e.Time, e.Offset, [.. view.Definition.Features.Select(f => f.Field is null ? FeatureInput.Absent : FeatureInput.OfNumber(e.Amount))])).ToList();
                var expected = NaiveReference.Evaluate(reference, view.Features, view.TtlMs, t);
                for (var f = 0; f < expected.Length; f++)
                {
                    var actual = values[0][i][f];
                    Assert.True(
                        expected[f].Status == actual.Status && expected[f].Int64 == actual.Int64 && Math.Abs(expected[f].Double - actual.Double) <= 1e-9 * Math.Max(1, Math.Abs(expected[f].Double)),
                        $"{view.Name}:{view.Definition.Features[f].Name} of {byEntity[i].Key}: expected {expected[f]}, got {actual}");
                }
            }
        }
    }

    [Fact]
    public async Task The_first_batch_writing_a_building_group_marks_the_offset_it_began_at_and_later_batches_do_not_move_it()
    {
        var scenario = new IngestScenario("marks-" + Guid.NewGuid().ToString("N")[..8]);
        var db = redis.Connection.Database;
        var keys = new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project);
        var load = FeatureRepositoryLoader.LoadFromText(scenario.EvolvedYaml, "evolved.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        var compiled = CompiledRepository.Compile(load.Repository!, StateLayout.Next(scenario.Compiled.Repository, null, load.Repository!, 2));
        var building = compiled.FindView("user_stats")!.BuildingGroup!;
        Assert.Null(OnlineTileWriter.BuildingGroupsByTopic(scenario.Compiled)); // nothing building: no mark, nothing to look up per batch
        var writer = new OnlineTileWriter(db, keys, "ingest", compiled.Repository.Settings.AllowedLatenessMs, 200_000)
        {
            Building = OnlineTileWriter.BuildingGroupsByTopic(compiled),
        };
        var source = compiled.Sources[0];
        var binding = new SourceBinding(source.Definition.Name, source.Definition.Topic, source.Definition.DeadLetterTopic, source.Schema, source);
        var parser = new EventParser(source.Schema);
        var random = new Random(21);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        void Add(TopicPartition partition, long offset)
        {
            Assert.Equal(ParseError.None, parser.Parse(scenario.Draw(random, "u" + random.Next(50).ToString(CultureInfo.InvariantCulture), now, (int)offset, counts: false)));
            writer.Add(binding, partition, offset, parser);
        }

        RedisValue Mark(int partition) => OnlineKeys.BuildStartField("user_stats", building.Signature, scenario.Topic, partition);
        var p0 = new TopicPartition(scenario.Topic, 0);
        var p1 = new TopicPartition(scenario.Topic, 1);
        var p2 = new TopicPartition(scenario.Topic, 2);

        // p0 was written up to 40 under the version before; p1 never.
        await db.HashSetAsync(keys.Checkpoints("ingest"), OnlineKeys.PartitionField(scenario.Topic, 0), new PartitionCheckpoint(40, 0).ToString());
        for (var offset = 40; offset < 100; offset++)
        {
            Add(p0, offset);
            Add(p1, offset - 40);
        }

        await WriteAsync(writer, new() { [p0] = new PartitionCheckpoint(40, 0), [p1] = null }, 100);
        Assert.Equal(40, (long)await db.HashGetAsync(keys.Checkpoints("ingest"), Mark(0)));
        Assert.Equal(0, (long)await db.HashGetAsync(keys.Checkpoints("ingest"), Mark(1)));

        for (var offset = 100; offset < 150; offset++)
        {
            Add(p0, offset);
            Add(p1, offset);
        }

        await WriteAsync(writer, new() { [p0] = new PartitionCheckpoint(100, 0), [p1] = new PartitionCheckpoint(100, 0) }, 150);
        Assert.Equal(40, (long)await db.HashGetAsync(keys.Checkpoints("ingest"), Mark(0)));
        Assert.Equal(0, (long)await db.HashGetAsync(keys.Checkpoints("ingest"), Mark(1)));
        var written = 0;
        for (var user = 0; user < 50; user++)
        {
            written += await db.HashExistsAsync(keys.Entity(building, "u" + user.ToString(CultureInfo.InvariantCulture)), OnlineKeys.PartitionField(scenario.Topic, 0)) ? 1 : 0;
        }

        Assert.True(written > 0, "the building group's shares are written"); // beside the serving group's

        // A batch refused by its check (it expects a checkpoint of p2 that is not there) records no mark.
        for (var offset = 5; offset < 20; offset++)
        {
            Add(p2, offset);
        }

        var refused = await writer.PrepareAsync(new Dictionary<TopicPartition, PartitionCheckpoint?> { [p2] = new PartitionCheckpoint(5, 0) }, new Dictionary<TopicPartition, PartitionCheckpoint> { [p2] = new PartitionCheckpoint(20, 0) }, Ct);
        await refused.FinishBuildAsync();
        writer.Send(refused);
        Assert.Equal([p2], await writer.CompleteAsync(refused));
        Assert.False(await db.HashExistsAsync(keys.Checkpoints("ingest"), Mark(2)));
    }

    // Events are added with their places in one log over all partitions as offsets, so that equal times order
    // as in the reference.
    private (IngestScenario Scenario, OnlineTileWriter Writer, Action<TopicPartition, long, byte[]> Add) Start(IngestScenario? existing = null, bool buildInBackground = false)
    {
        var scenario = existing ?? new IngestScenario("writer-" + Guid.NewGuid().ToString("N")[..8]);
        var compiled = scenario.Compiled;
        var writer = new OnlineTileWriter(redis.Connection.Database, new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project), "ingest", compiled.Repository.Settings.AllowedLatenessMs, 200_000)
        {
            BuildInBackground = buildInBackground,
        };
        var source = compiled.Sources[0];
        var binding = new SourceBinding(source.Definition.Name, source.Definition.Topic, source.Definition.DeadLetterTopic, source.Schema, source);
        var parser = new EventParser(source.Schema);
        return (scenario, writer, (partition, offset, payload) =>
        {
            Assert.Equal(ParseError.None, parser.Parse(payload));
            writer.Add(binding, partition, offset, parser);
        });
    }

    /// <summary>Writes the buffered batch, moving every partition of <paramref name="expected"/> to <paramref name="nextOffset"/>; returns what building it took.</summary>
    private static async Task<BatchBuild> WriteAsync(OnlineTileWriter writer, Dictionary<TopicPartition, PartitionCheckpoint?> expected, long nextOffset)
    {
        var next = expected.Keys.ToDictionary(tp => tp, _ => new PartitionCheckpoint(nextOffset, 0));
        var write = await writer.PrepareAsync(expected, next, Ct);
        await write.FinishBuildAsync();
        writer.Send(write);
        Assert.Empty(await writer.CompleteAsync(write));
        return write.Figures!;
    }
}
