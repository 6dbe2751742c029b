using FeatureStore.Redis;
using FeatureStore.Testing;

namespace FeatureStore.Ingest.Tests;

/// <summary>The online store dies under the ingest job and comes back: ingestion pauses, retries, resumes, loses nothing.</summary>
[Trait("Category", "Integration")]
public sealed class IngestStoreOutageTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Redis_killed_mid_stream_and_restarted_loses_and_doubles_nothing()
    {
        await using var server = await RedisServer.StartAsync(persistence: true, Ct);
        await using var store = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        var db = store.Database;
        var scenario = new IngestScenario(kafka.CreateTopic("outage", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 30_000, users: 300, seed: 5, nowMs: now);

        using var metrics = new IngestMetrics();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics).RunAsync(cts.Token), Ct);
        await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= 3_000, TimeSpan.FromSeconds(60), "ingest under way", Ct);

        server.Kill();
        await Eventually.TrueAsync(() => metrics.RetriesTotal > 0, TimeSpan.FromSeconds(30), "the job notices the outage and retries", Ct);
        Assert.False(run.IsCompleted, "the job must ride out the outage, not stop");
        await server.RestartAsync(Ct);

        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);

        // An event is counted applied once its write lands; those dropped with the failed writes and read again
        // are counted apart. (A write that landed with its reply lost in the kill counts as read again only.)
        Assert.InRange(metrics.EventsTotal, 30_000 - metrics.ReadAgainTotal, 30_000);
    }

    [Fact]
    public async Task Events_replayed_after_the_store_lost_its_checkpoints_are_counted_apart()
    {
        await using var server = await RedisServer.StartAsync(persistence: false, Ct);
        await using var store = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        var db = store.Database;
        var scenario = new IngestScenario(kafka.CreateTopic("replayed", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 2_000, users: 50, seed: 6, nowMs: now);

        using var metrics = new IngestMetrics();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics).RunAsync(cts.Token), Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(60), Ct);
        await Eventually.TrueAsync(() => metrics.EventsTotal == 2_000, TimeSpan.FromSeconds(30), "the last write's reply taken", Ct); // counted once its reply is in

        // The store comes back empty: once new events move every partition, the job finds its checkpoints gone
        // and reads each partition from the start again. The 2 000 events it had applied are replays.
        server.Kill();
        await server.RestartAsync(Ct);
        scenario.Produce(kafka.BootstrapServers, count: 400, users: 50, seed: 7, nowMs: now, firstIndex: 2_000);
        await Eventually.TrueAsync(() => run.IsCompleted || metrics.EventsTotal >= 4_400, TimeSpan.FromSeconds(90), "every event applied again", Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(60), Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(4_400, metrics.EventsTotal);
        Assert.Equal(2_000, metrics.ReplayedTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
    }
}
