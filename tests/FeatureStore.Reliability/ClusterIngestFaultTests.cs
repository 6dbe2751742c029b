using System.Diagnostics;
using System.Globalization;
using FeatureStore.Ingest;
using FeatureStore.Ingest.Tests;
using FeatureStore.Redis;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Reliability;

/// <summary>
/// The ingest job on a real six-node Redis Cluster under its faults: a master killed (its replica takes over), slots
/// moved by <c>redis-cli --cluster reshard</c>, a master paused longer than the client's timeouts. Each run ends
/// exactly at the §4 reference: no event lost, none doubled.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ClusterIngestFaultTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_master_killed_mid_stream_fails_over_and_ingest_ends_exact()
    {
        var retries = await RunWithFaultAsync("failover", seed: 51, async (cluster, store, scenario) =>
        {
            // The master of the checkpoints' slot: every batch ends there.
            var checkpoints = new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project).Checkpoints("ingest");
            var master = NodeOf(cluster, store.Multiplexer.GetServer(checkpoints).EndPoint);
            master.Kill();
            await Eventually.TrueAsync(async () => await ClusterOkWithoutAsync(cluster, master), TimeSpan.FromSeconds(60), "a replica promoted in the killed master's place", Ct);
        });
        Assert.True(retries > 0, "the failover must have failed a batch, retried");
    }

    [Fact]
    public async Task Slots_resharded_mid_stream_lose_and_double_nothing()
    {
        await RunWithFaultAsync("reshard", seed: 52, async (cluster, store, scenario) =>
        {
            var masters = store.Multiplexer.GetServers().Where(s => !s.IsReplica).OrderBy(s => s.EndPoint.ToString(), StringComparer.Ordinal).ToList();
            var from = (string)(await OnNodeAsync(masters[0].EndPoint, "CLUSTER", "MYID"))!;
            var to = (string)(await OnNodeAsync(masters[1].EndPoint, "CLUSTER", "MYID"))!;
            await RedisCliAsync(["--cluster", "reshard", masters[0].EndPoint.ToString()!, "--cluster-from", from, "--cluster-to", to, "--cluster-slots", "1500", "--cluster-yes", "--cluster-pipeline", "20"]);
        });
    }

    [Fact]
    public async Task A_master_paused_longer_than_the_timeouts_delays_ingest_and_loses_nothing()
    {
        var retries = await RunWithFaultAsync("paused", seed: 53, async (cluster, store, scenario) =>
        {
            var checkpoints = new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project).Checkpoints("ingest");
            await OnNodeAsync(store.Multiplexer.GetServer(checkpoints).EndPoint, "CLIENT", "PAUSE", "7000", "ALL");
            await Task.Delay(TimeSpan.FromSeconds(7), Ct); // the fault itself lasts this long
        });
        Assert.True(retries > 0, "the pause must have timed a batch out, retried");
    }

    /// <summary>Runs the job over 30 000 events, then 20 000 more produced while it injects <paramref name="fault"/> mid-stream, checks the result; returns the job's retries.</summary>
    private async Task<long> RunWithFaultAsync(string name, int seed, Func<RedisCluster, OnlineStoreConnection, IngestScenario, Task> fault)
    {
        await using var cluster = await RedisCluster.StartAsync(Ct);
        await using var store = await OnlineStoreConnection.ConnectAsync(cluster.Configuration);
        var db = store.Database;
        var scenario = new IngestScenario(kafka.CreateTopic("cluster-" + name, partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 30_000, users: 400, seed: seed, nowMs: now);

        using var metrics = new IngestMetrics();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics, maxBatchEvents: 1_000).RunAsync(cts.Token), Ct);
        await Eventually.TrueAsync(async () => await scenario.CheckpointedAsync(db) >= 4_000, TimeSpan.FromSeconds(60), "ingest under way", Ct);

        // More events arrive while the fault lasts, so ingest is mid-stream through all of it.
        var faulted = fault(cluster, store, scenario);
        scenario.Produce(kafka.BootstrapServers, count: 20_000, users: 400, seed: seed + 1000, nowMs: now, firstIndex: scenario.Count);
        await faulted;

        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (61 * 60_000));
        return metrics.RetriesTotal;
    }

    private static RedisServer NodeOf(RedisCluster cluster, System.Net.EndPoint endpoint) =>
        cluster.Servers.Single(n => endpoint.ToString()!.EndsWith(":" + n.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));

    private static async Task<bool> ClusterOkWithoutAsync(RedisCluster cluster, RedisServer dead)
    {
        foreach (var node in cluster.Servers.Where(n => n != dead))
        {
            await using var probe = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { node.Endpoint }, ConnectTimeout = 1000, AllowAdmin = true });
            var info = (string?)await probe.GetServer(node.Endpoint).ExecuteAsync("CLUSTER", "INFO");
            if (info is null || !info.Contains("cluster_state:ok", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A command for one node, through an admin connection of its own.</summary>
    private static async Task<RedisResult> OnNodeAsync(System.Net.EndPoint endpoint, string command, params object[] arguments)
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { endpoint }, AllowAdmin = true, ConnectTimeout = 2000 });
        return await admin.GetServer(endpoint).ExecuteAsync(command, arguments);
    }

    private static async Task RedisCliAsync(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(RedisServer.Locate("redis-cli")!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var errors = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromSeconds(120), Ct);
        Assert.True(process.ExitCode == 0, $"redis-cli failed ({process.ExitCode}): {await output}{await errors}");
    }
}
