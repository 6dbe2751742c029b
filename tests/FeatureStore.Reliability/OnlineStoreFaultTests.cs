using System.Diagnostics;
using System.Net;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Ingest;
using FeatureStore.Ingest.Tests;
using FeatureStore.Redis;
using FeatureStore.Redis.Online;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Serving;
using FeatureStore.Testing;
using Grpc.Core;

namespace FeatureStore.Reliability;

/// <summary>
/// redis-server killed and restarted, with and without persistence, under the ingest job and under
/// lookups: ingest pauses and resumes and ends exact; lookups fail fast with UNAVAILABLE and recover by
/// themselves once the store is back.
/// </summary>
[Trait("Category", "Integration")]
public sealed class OnlineStoreFaultTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan FailFastBound = TimeSpan.FromSeconds(2);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Redis_killed_twice_under_ingest_ends_exact(bool persistence)
    {
        await using var server = await RedisServer.StartAsync(persistence, Ct);
        await using var store = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        var db = store.Database;
        var scenario = new IngestScenario(kafka.CreateTopic(persistence ? "aof" : "noaof", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 24_000, users: 300, seed: persistence ? 41 : 42, nowMs: now);

        using var metrics = new IngestMetrics();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var logs = new CapturedLogs();
        var job = IngestJobFactory.Create(scenario.Compiled, new IngestOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "ingest",
            MaxBatchDelay = TimeSpan.FromMilliseconds(50),
            SessionTimeout = TimeSpan.FromSeconds(6),
        }, db, scenario.KeyPrefix, metrics, logs.CreateLogger("ingest"));
        var run = Task.Run(() => job.RunAsync(cts.Token), Ct);
        var kills = 0;
        long lostCheckpoints = 0;
        foreach (var progress in new[] { 2_000, 8_000 })
        {
            await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= progress, TimeSpan.FromSeconds(90), $"ingest passes {progress}", Ct);
            var before = await scenario.CheckpointedAsync(db);
            var retries = metrics.RetriesTotal;
            server.Kill();
            kills++;
            // Events that arrive while the store is down: the job may have read the whole topic before the kill,
            // and these it must write, so it meets the outage whatever its speed.
            scenario.Produce(kafka.BootstrapServers, count: 200, users: 300, seed: (persistence ? 60 : 70) + kills, nowMs: now, firstIndex: 24_000 + (kills * 1_000));
            await Eventually.TrueAsync(() => metrics.RetriesTotal > retries, TimeSpan.FromSeconds(30), "the job notices the outage and retries", Ct);
            Assert.False(run.IsCompleted, "the job must ride out the outage, not stop");
            await server.RestartAsync(Ct);
            long after = 0;
            await Eventually.TrueAsync(async () =>
            {
                after = await scenario.CheckpointedAsync(db); // this test's own client reconnects too
                return true;
            }, TimeSpan.FromSeconds(30), "the store readable again", Ct);
            lostCheckpoints += Math.Max(0, before - after);
            if (persistence)
            {
                Assert.True(after >= before, $"with fsync'd AOF nothing written may be lost ({before} → {after})");
            }
        }

        if (!persistence)
        {
            // Without persistence a partition already read to its end when the store lost its checkpoint is
            // replayed only once it moves again (scenario 2c, docs/reliability.md): new events move every one.
            scenario.Produce(kafka.BootstrapServers, count: 400, users: 300, seed: 43, nowMs: now, firstIndex: 30_000);
        }

        try
        {
            await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(150), Ct);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; job running: {!run.IsCompleted}; log tail:\n{string.Join('\n', logs.Records.TakeLast(60))}", ex);
        }

        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        Figures.Report($"online store faults / ingest, persistence {(persistence ? "on (AOF fsync always)" : "off")}",
            $"kills={kills} events={scenario.Count} applied={metrics.EventsTotal} (replayed {metrics.EventsTotal - scenario.Count}) checkpointed_events_lost_with_store={lostCheckpoints} retries={metrics.RetriesTotal} lost=0 doubled=0");
    }

    [Fact]
    public async Task Without_persistence_state_lost_after_catching_up_returns_with_the_next_events_of_each_partition()
    {
        await using var server = await RedisServer.StartAsync(persistence: false, Ct);
        await using var store = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        var db = store.Database;
        var scenario = new IngestScenario(kafka.CreateTopic("noaof-idle", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 6_000, users: 200, seed: 43, nowMs: now);

        using var metrics = new IngestMetrics();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics).RunAsync(cts.Token), Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(90), Ct);

        // Caught up and idle: the store dies with every state and checkpoint, and comes back empty.
        server.Kill();
        await server.RestartAsync(Ct);
        await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) == 0, TimeSpan.FromSeconds(30), "the store back, empty", Ct);
        var keys = new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project);
        var (values, _) = await new OnlineStoreValues(db, keys).ReadAsync([new ViewRead(scenario.Compiled.Views[0], ["u1"])], scenario.MaxTime);
        Assert.Equal(Core.Windows.ValueStatus.NotFound, values[0][0][0].Status); // nothing to replay until a partition moves

        // New events on every partition: each partition's next write finds its checkpoint gone (fenced),
        // and the job replays that partition from its first offset. The values end exact.
        scenario.Produce(kafka.BootstrapServers, count: 2_000, users: 200, seed: 44, nowMs: now);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(90), Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        Figures.Report("online store faults / persistence off, store lost while idle",
            $"kills=1 events={scenario.Count} applied={metrics.EventsTotal} (replayed {metrics.EventsTotal - scenario.Count}) values NOT_FOUND until new events, then exact");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Lookups_fail_fast_with_unavailable_while_redis_is_down_and_recover_by_themselves(bool persistence)
    {
        await using var server = await RedisServer.StartAsync(persistence, Ct);
        var scenario = new IngestScenario(kafka.CreateTopic("lookfault", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: 100, seed: 45, nowMs: now);
        await using (var ingestStore = await OnlineStoreConnection.ConnectAsync(server.Endpoint))
        {
            using var metrics = new IngestMetrics();
            await scenario.IngestAllAsync(kafka.BootstrapServers, ingestStore.Database, metrics, Ct);
        }

        var storeTimeout = TimeSpan.FromSeconds(1);
        await using var store = await OnlineStoreConnection.ConnectAsync(server.Endpoint, null, o => FeatureServer.ConfigureStoreClient(o, storeTimeout));
        var repository = FeatureRepositoryLoader.LoadFromText(scenario.RepositoryYaml, "itest.yaml").Repository!;
        await using var host = FeatureServer.Create(new FeatureServerOptions
        {
            Repository = repository,
            KeyPrefix = scenario.KeyPrefix,
            GrpcPort = FreePort.Next(),
            HttpPort = FreePort.Next(),
            StoreTimeout = storeTimeout,
        }, store.Multiplexer);
        await host.StartAsync(Ct);
        using var client = new FeatureStoreClient(host.GrpcAddress);
        using var http = new HttpClient { BaseAddress = host.HttpAddress, Timeout = TimeSpan.FromSeconds(10) };
        var at = DateTimeOffset.FromUnixTimeMilliseconds(scenario.MaxTime);
        var request = new GetOnlineFeaturesRequest { Features = { "user_stats:n_all" }, AsOf = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(at) };
        request.Entities.Add(new EntityRow { JoinKeys = { ["user_id"] = "u1" } });
        var body = Google.Protobuf.JsonFormatter.Default.Format(request);
        var expectedBefore = (await client.Online.GetOnlineFeaturesAsync(request, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: Ct)).Rows[0].Values[0].Int64Value;
        Assert.True(expectedBefore > 0);

        server.Kill();
        var failures = new List<(string Transport, string Status, TimeSpan Elapsed)>();
        var attempts = 0;
        while (failures.Count < 20 && attempts < 200)
        {
            attempts++;
            var clock = Stopwatch.StartNew();
            if (attempts % 2 == 0)
            {
                var e = await Assert.ThrowsAsync<RpcException>(() => client.Online.GetOnlineFeaturesAsync(request, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: Ct).ResponseAsync);
                failures.Add(("grpc", e.StatusCode.ToString(), clock.Elapsed));
            }
            else
            {
                using var response = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), new StringContent(body), Ct);
                failures.Add(("http", ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture), clock.Elapsed));
            }
        }

        Assert.All(failures, f => Assert.True(f.Status is "Unavailable" or "503", $"{f.Transport}: {f.Status}"));
        Assert.All(failures, f => Assert.True(f.Elapsed < FailFastBound, $"{f.Transport} took {f.Elapsed.TotalMilliseconds:0} ms"));
        using (var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }

        await server.RestartAsync(Ct);
        var recovery = Stopwatch.StartNew();
        long after = -1;
        await Eventually.TrueAsync(async () =>
        {
            var response = await client.Online.GetOnlineFeaturesAsync(request, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: Ct);
            after = response.Rows[0].Values[0].Int64Value;
            return true;
        }, TimeSpan.FromSeconds(30), "lookups answer again once redis-server is back", Ct);
        recovery.Stop();
        using (var ok = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), new StringContent(body), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        // With the append-only file the values come back as they were; without it the store restarts empty.
        Assert.Equal(persistence ? expectedBefore : 0, after);
        Figures.Report($"online store faults / lookups, persistence {(persistence ? "on" : "off")}",
            $"failed_lookups={failures.Count} all UNAVAILABLE/503, slowest {failures.Max(f => f.Elapsed).TotalMilliseconds:0} ms (bound {FailFastBound.TotalMilliseconds:0} ms), recovered {recovery.Elapsed.TotalMilliseconds:0} ms after restart, value after: {after} (before: {expectedBefore})");
    }
}
