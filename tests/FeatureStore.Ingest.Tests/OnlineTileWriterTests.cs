using Confluent.Kafka;
using FeatureStore.Core.Events;
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

        await WriteAsync(writer, new() { [p0] = null, [p1] = null }, 12_000);
        Assert.True(writer.LastBatch!.States > 2_048, $"{writer.LastBatch.States} states");
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

        await WriteAsync(writer, new() { [p0] = null, [p1] = null }, 2_000);
        Assert.Equal(0, writer.LastBatch!.Loaded); // neither partition had a checkpoint

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

        await WriteAsync(writer, new() { [p1] = new PartitionCheckpoint(2_000, 0), [p2] = null }, 3_000);
        Assert.Equal(readable.Count, writer.LastBatch!.Loaded);
        await scenario.AssertOnlineEqualsReferenceAsync(redis.Connection.Database, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(redis.Connection.Database, now + (90 * 60_000));
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

    private static async Task WriteAsync(OnlineTileWriter writer, Dictionary<TopicPartition, PartitionCheckpoint?> expected, long nextOffset)
    {
        var next = expected.Keys.ToDictionary(tp => tp, _ => new PartitionCheckpoint(nextOffset, 0));
        var write = await writer.PrepareAsync(expected, next, Ct);
        await write.FinishBuildAsync();
        writer.Send(write);
        Assert.Empty(await writer.CompleteAsync(write));
    }
}
