using System.Globalization;
using FeatureStore.Bench.Harness;
using FeatureStore.Redis;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// The online store on a real Redis Cluster (six redis-server nodes on this machine: three masters, three replicas),
/// in one run: (1) gRPC lookups served from it (the serving host in this process, the <c>pipeline</c> read
/// strategy), 1 and 100 entities × 10 features, against raw pipelined HVALS of the same keys on the same cluster,
/// which the client sends node by node as the lookup's reader does (<see cref="LookupScenario"/>'s measurements and
/// states); (2) the ingest engine alone (events from memory → parse → tiles → store, <see cref="IngestScenario"/>)
/// on the cluster, against the same engine on one redis-server node in the same run.
/// </summary>
internal static class ClusterScenario
{
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(int engineEvents, int repetitions, bool quick)
    {
        var rows = new List<ResultRow>();
        Console.Error.WriteLine("cluster: starting six redis-server nodes (three masters, three replicas)");
        await using var cluster = await RedisCluster.StartAsync();
        await using var store = await OnlineStoreConnection.ConnectAsync(cluster.Configuration);
        if (!store.IsCluster)
        {
            throw new InvalidOperationException("the cluster's nodes do not answer as a Redis Cluster");
        }

        Console.Error.WriteLine("cluster: gRPC lookups (pipeline) against raw pipelined HVALS of the same keys");
        rows.AddRange(await LookupScenario.RunAsync("redis cluster, 3 masters", store.Multiplexer, repetitions, quick, [OnlineReadStrategy.Pipeline], rawValues: true));

        // Each store in the job's order: on the cluster, each write lands before the batch after next is sealed.
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cluster: the ingest engine alone over {engineEvents} events, on one redis-server node, then on the cluster"));
        ResultRow single;
        await using (var server = await RedisServer.StartAsync())
        await using (var redis = await OnlineStoreConnection.ConnectAsync(server.Endpoint))
        {
            single = (await IngestScenario.RunAsync("redis-server, one node", redis.Database, kafka: null, engineEvents, endToEndEvents: 0, repetitions))[0];
        }

        var clustered = (await IngestScenario.RunAsync("redis cluster, 3 masters", store.Database, kafka: null, engineEvents, endToEndEvents: 0, repetitions))[0];
        rows.Add(single);
        rows.Add(clustered);
        rows.Add(new ResultRow(
            "ingest (redis cluster, 3 masters)",
            $"engine alone on the cluster (shares slot by slot, WAIT 1, then checkpoints), {engineEvents / 1000}k events",
            clustered.Median,
            "events/s",
            "the same engine on one redis-server node",
            single.Median));
        return rows;
    }
}
