using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Ingest.Tests;

/// <summary>
/// Each share's stamp (the offset past the last event of its partition it holds) makes a replay idempotent: the
/// checkpoints put back behind the shares, as a batch whose shares landed but whose checkpoint did not leaves
/// them (on a Redis Cluster, where shares land slot by slot before the checkpoint moves), and the job run again
/// from there ends exactly at the reference, nothing doubled. On one redis-server and on a real six-node cluster.
/// </summary>
public abstract class StampedReplayTests(EmbeddedKafkaFixture kafka, IOnlineStoreFixture store)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ingest_applies_every_event_once_and_equals_the_reference()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("stamped-" + store.Kind, partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 12_000, users: 300, seed: 31, nowMs: now);
        var db = store.Connection.Database;
        using var metrics = new IngestMetrics();

        await scenario.IngestAllAsync(kafka.BootstrapServers, db, metrics, Ct);

        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (61 * 60_000));
        await AssertSpreadAsync(scenario);
    }

    [Fact]
    public async Task Checkpoints_put_back_behind_the_shares_replay_without_doubling()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("rollback-" + store.Kind, partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 16_000, users: 300, seed: 32, nowMs: now);
        var db = store.Connection.Database;
        var checkpoints = new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project).Checkpoints("ingest");

        // The checkpoints as they stood part way, taken while the job runs in small batches.
        HashEntry[] partWay;
        using (var metrics = new IngestMetrics())
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            var run = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics, maxBatchEvents: 500).RunAsync(cts.Token), Ct);
            await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= 5_000, TimeSpan.FromSeconds(60), "ingest part way", Ct);
            partWay = await db.HashGetAllAsync(checkpoints);
            await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(90), Ct);
            await cts.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        }

        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        var stampedBehind = partWay.Sum(e => CheckpointOffset(e.Value));
        Assert.InRange(stampedBehind, 1, scenario.Count - 1000);

        // Every share is now ahead of its checkpoint: the next run reads those events again (it catches up from
        // the checkpoints put back) and must skip what each share holds.
        await db.HashSetAsync(checkpoints, partWay);
        using (var metrics = new IngestMetrics())
        {
            await scenario.IngestAllAsync(kafka.BootstrapServers, db, metrics, Ct);
        }

        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (61 * 60_000));
    }

    /// <summary>On a cluster, the states written lie on every master.</summary>
    private protected virtual Task AssertSpreadAsync(IngestScenario scenario) => Task.CompletedTask;

    private static long CheckpointOffset(RedisValue value)
    {
        var text = value.ToString();
        return long.Parse(text.AsSpan(0, text.IndexOf(':', StringComparison.Ordinal)), System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>On one redis-server: a batch is one atomic script, and the stamps change nothing but the bytes.</summary>
[Trait("Category", "Integration")]
public sealed class RedisServerStampedReplayTests(EmbeddedKafkaFixture kafka, RedisServerFixture store)
    : StampedReplayTests(kafka, store), IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>;

/// <summary>On a six-node Redis Cluster: a batch's shares are written slot by slot, then its checkpoints.</summary>
[Trait("Category", "Integration")]
public sealed class RedisClusterStampedReplayTests(EmbeddedKafkaFixture kafka, RedisClusterFixture store)
    : StampedReplayTests(kafka, store), IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisClusterFixture>
{
    private protected override async Task AssertSpreadAsync(IngestScenario scenario)
    {
        var multiplexer = store.Connection.Multiplexer;
        var masters = multiplexer.GetServers().Where(s => !s.IsReplica).ToList();
        Assert.Equal(3, masters.Count);
        foreach (var master in masters)
        {
            var states = 0;
            await foreach (var key in master.KeysAsync(pattern: scenario.KeyPrefix + ":*:fv:*", pageSize: 1000))
            {
                states++;
                _ = key;
            }

            Assert.True(states > 0, $"no state on master {master.EndPoint}");
        }
    }
}
