using System.Text.Json;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Redis.Tests;

/// <summary>
/// What the ingest job keeps in the online store besides states: its checkpoints, read here and moved only by a
/// batch's script, and its partition statuses for the dashboard.
/// </summary>
public abstract class IngestStoreTests(IOnlineStoreFixture fixture)
{
    private readonly OnlineKeys _keys = new("is" + Guid.NewGuid().ToString("N")[..10], "proj");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IDatabase Db => fixture.Connection.Database;

    [Fact]
    public async Task A_checkpoint_is_absent_until_a_batch_moves_it_and_is_then_read_as_written()
    {
        var checkpoints = new IngestCheckpoints(Db, _keys, "g");
        Assert.Null(await checkpoints.ReadAsync("t", 0).WaitAsync(Ct));
        Assert.True(checkpoints.TryRead("t", 0, out var missing));
        Assert.Null(missing);

        var script = new BatchWriteScript();
        checkpoints.Start(script, [("t", 0, null)], [("t", 0, "12:34")]);
        using (var reply = await script.SendAsync(Db).WaitAsync(Ct))
        {
            Assert.True(BatchWriteScript.Written(reply));
        }

        Assert.Equal("12:34", await checkpoints.ReadAsync("t", 0).WaitAsync(Ct));
        Assert.True(checkpoints.TryRead("t", 0, out var stored));
        Assert.Equal("12:34", stored);
        Assert.Equal("12:34", (string?)await Db.HashGetAsync(_keys.Checkpoints("g"), OnlineKeys.PartitionField("t", 0)));

        // A batch that expects another checkpoint moves nothing.
        checkpoints.Start(script, [("t", 0, "1:1")], [("t", 0, "99:0")]);
        using (var reply = await script.SendAsync(Db).WaitAsync(Ct))
        {
            Assert.False(BatchWriteScript.Written(reply));
        }

        Assert.Equal("12:34", await checkpoints.ReadAsync("t", 0).WaitAsync(Ct));
    }

    [Fact]
    public async Task A_batch_records_where_it_began_writing_a_building_group_in_the_checkpoint_hash()
    {
        var checkpoints = new IngestCheckpoints(Db, _keys, "g");
        var script = new BatchWriteScript();
        checkpoints.Start(script, [("t", 0, "12:34")], [("t", 0, "40:50")], [new BuildStartMark("v", "abc", "t", 0, 12)]);
        using (var refused = await script.SendAsync(Db).WaitAsync(Ct))
        {
            Assert.False(BatchWriteScript.Written(refused)); // no checkpoint stored yet: refused, and no mark
        }

        Assert.False(await Db.HashExistsAsync(_keys.Checkpoints("g"), OnlineKeys.BuildStartField("v", "abc", "t", 0)));

        checkpoints.Start(script, [("t", 0, null)], [("t", 0, "40:50")], [new BuildStartMark("v", "abc", "t", 0, 0)]);
        using (var reply = await script.SendAsync(Db).WaitAsync(Ct))
        {
            Assert.True(BatchWriteScript.Written(reply));
        }

        Assert.Equal("0", (string?)await Db.HashGetAsync(_keys.Checkpoints("g"), OnlineKeys.BuildStartField("v", "abc", "t", 0)));
        Assert.Equal(0, await checkpoints.ReadBuildStartAsync("v", "abc", "t", 0).WaitAsync(Ct));
        Assert.Null(await checkpoints.ReadBuildStartAsync("v", "abc", "t", 1).WaitAsync(Ct));
    }

    [Fact]
    public async Task A_status_is_one_json_field_per_partition_and_names_its_group()
    {
        new IngestStatusStore(Db, _keys, "g").Write(1_000, [new PartitionStatus("t", 1, 5, 900, null)]);
        await Eventually.TrueAsync(async () => await Db.HashLengthAsync(_keys.IngestStatus("g")) == 1, TimeSpan.FromSeconds(10), "status written", Ct);
        var json = JsonDocument.Parse((string)(await Db.HashGetAsync(_keys.IngestStatus("g"), "t:1"))!).RootElement;
        Assert.Equal("t", json.GetProperty("topic").GetString());
        Assert.Equal(1, json.GetProperty("partition").GetInt32());
        Assert.Equal(5, json.GetProperty("lag").GetInt64());
        Assert.Equal(900, json.GetProperty("newest_event_ms").GetInt64());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("last_write_ms").ValueKind);
        Assert.Equal(1_000, json.GetProperty("updated_ms").GetInt64());
        Assert.Contains("/", json.GetProperty("member").GetString(), StringComparison.Ordinal);
        Assert.True(await Db.SetContainsAsync(_keys.IngestGroups, "g"));
        Assert.NotNull(await Db.KeyTimeToLiveAsync(_keys.IngestStatus("g")));
    }
}

[Trait("Category", "Integration")]
public sealed class RedisServerIngestStoreTests(RedisServerFixture fixture)
    : IngestStoreTests(fixture), IClassFixture<RedisServerFixture>;

[Trait("Category", "Integration")]
public sealed class GarnetIngestStoreTests(GarnetFixture fixture)
    : IngestStoreTests(fixture), IClassFixture<GarnetFixture>;
