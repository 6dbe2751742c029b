using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Redis.Tests;

/// <summary>The ingest statuses a server reads: the JSON ingest members publish, per group, in order.</summary>
public sealed class IngestStatusReaderUnitTests
{
    [Fact]
    public void A_published_status_is_read_field_by_field()
    {
        var status = IngestStatusReader.Parse("g", """{"topic":"payments","partition":3,"lag":12,"newest_event_ms":1000,"last_write_ms":null,"updated_ms":2000,"member":"host/7"}""");
        Assert.Equal(new IngestPartitionStatus("g", "payments", 3, 12, 1000, null, 2000, "host/7"), status);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"partition":3,"lag":12}""")]
    [InlineData("""{"topic":"payments","partition":"3","lag":12}""")]
    public void A_status_of_another_shape_is_left_out(string json) => Assert.Null(IngestStatusReader.Parse("g", json));
}

/// <summary>The statuses read back from a real redis-server.</summary>
[Trait("Category", "Integration")]
public sealed class IngestStatusReaderTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Every_groups_statuses_are_read_in_group_topic_and_partition_order()
    {
        var db = redis.Connection.Database;
        var keys = new OnlineKeys(_prefix, "p");
        await db.SetAddAsync(keys.IngestGroups, ["b", "a"]);
        await db.HashSetAsync(keys.IngestStatus("b"), [new HashEntry("t:0", """{"topic":"t","partition":0,"lag":1}""")]);
        await db.HashSetAsync(keys.IngestStatus("a"),
        [
            new HashEntry("t:1", """{"topic":"t","partition":1,"lag":-1}"""),
            new HashEntry("t:0", """{"topic":"t","partition":0,"lag":5,"newest_event_ms":9}"""),
            new HashEntry("t:2", "{}"),
        ]);

        var statuses = await new IngestStatusReader(db, keys).ReadAsync(TestContext.Current.CancellationToken);

        Assert.Equal([("a", 0), ("a", 1), ("b", 0)], statuses.Select(s => (s.Group, s.Partition)));
        Assert.Equal(9, statuses[0].NewestEventMs);
        Assert.Equal(-1, statuses[1].Lag);
    }
}
