using System.Diagnostics;
using StackExchange.Redis;

namespace FeatureStore.Testing;

/// <summary>
/// A real Redis Cluster: six <c>redis-server</c> nodes on free 127.0.0.1 ports (three masters, three replicas),
/// joined by <c>redis-cli --cluster create</c>. Dispose stops every node and deletes their directories.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private const int Nodes = 6;
    private readonly List<RedisServer> _nodes = [];

    private RedisCluster()
    {
    }

    /// <summary>The nodes (masters and replicas, in the order they were created).</summary>
    public IReadOnlyList<RedisServer> Servers => _nodes;

    /// <summary>StackExchange.Redis configuration string naming every node.</summary>
    public string Configuration => string.Join(",", _nodes.Select(n => n.Endpoint));

    /// <summary>Starts the nodes, creates the cluster and waits until every node says it is ok.</summary>
    public static async Task<RedisCluster> StartAsync(CancellationToken cancellationToken = default)
    {
        var cli = RedisServer.Locate("redis-cli") ?? throw ServiceRequirement.Missing(RedisServer.NotInstalled);
        var cluster = new RedisCluster();
        try
        {
            for (var i = 0; i < Nodes; i++)
            {
                cluster._nodes.Add(await RedisServer.StartClusterNodeAsync(cancellationToken));
            }

            var create = new ProcessStartInfo(cli) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { "--cluster", "create" }.Concat(cluster._nodes.Select(n => n.Endpoint)).Concat(["--cluster-replicas", "1", "--cluster-yes"]))
            {
                create.ArgumentList.Add(arg);
            }

            using (var process = Process.Start(create) ?? throw new InvalidOperationException("redis-cli did not start"))
            {
                var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
                var errors = process.StandardError.ReadToEndAsync(cancellationToken);
                await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
                if (process.ExitCode != 0)
                {
                    throw new InvalidOperationException($"redis-cli --cluster create failed ({process.ExitCode}): {await output}{await errors}");
                }
            }

            foreach (var node in cluster._nodes)
            {
                await Eventually.TrueAsync(async () =>
                {
                    await using var probe = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { node.Endpoint }, ConnectTimeout = 1000, AllowAdmin = true });
                    var info = (string?)await probe.GetServer(node.Endpoint).ExecuteAsync("CLUSTER", "INFO");
                    return info is not null && info.Contains("cluster_state:ok", StringComparison.Ordinal);
                }, TimeSpan.FromSeconds(30), $"cluster state ok on {node.Endpoint}", cancellationToken);
            }

            // Every replica in sync with its master (a fresh cluster's replicas take a moment to sync): a write's
            // WAIT for one replica then measures replication, not the cluster's start.
            foreach (var node in cluster._nodes)
            {
                await Eventually.TrueAsync(async () =>
                {
                    await using var probe = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { node.Endpoint }, ConnectTimeout = 1000, AllowAdmin = true });
                    var info = (string?)await probe.GetServer(node.Endpoint).ExecuteAsync("INFO", "replication") ?? "";
                    return info.Contains("role:master", StringComparison.Ordinal)
                        ? info.Contains("connected_slaves:1", StringComparison.Ordinal) && info.Contains("state=online", StringComparison.Ordinal)
                        : info.Contains("master_link_status:up", StringComparison.Ordinal);
                }, TimeSpan.FromSeconds(30), $"replication in sync on {node.Endpoint}", cancellationToken);
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops every node.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        _nodes.Clear();
    }
}
