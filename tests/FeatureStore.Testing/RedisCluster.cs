using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace FeatureStore.Testing;

/// <summary>
/// A real Redis Cluster: six <c>redis-server</c> nodes on free 127.0.0.1 ports (three masters, three replicas),
/// joined by <c>redis-cli --cluster create</c>, and the faults tests inflict on it: a master killed (its replica
/// promoted), slots resharded between masters (a real migration, clients meet <c>MOVED</c> and <c>ASK</c>), a
/// node paused. Every operation is bounded in time and fails with what the nodes said. Dispose stops every node
/// and deletes their directories.
/// </summary>
public sealed partial class RedisCluster : IAsyncDisposable
{
    /// <summary>How long a master may be unreachable before the cluster fails it over (<c>cluster-node-timeout</c>).</summary>
    public static readonly TimeSpan NodeTimeout = TimeSpan.FromMilliseconds(2000);

    private const int Nodes = 6;

    // A failover takes the node timeout, the failure report's spread and the replica's election delay (half a
    // second plus up to half a second more): seconds. This bound leaves room for a busy machine.
    private static readonly TimeSpan FailoverTimeout = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(15);

    private readonly List<RedisServer> _nodes = [];
    private readonly string _cli;

    private RedisCluster(string cli) => _cli = cli;

    /// <summary>The nodes (masters and replicas, in the order they were created), running or killed.</summary>
    public IReadOnlyList<RedisServer> Servers => _nodes;

    /// <summary>StackExchange.Redis configuration string naming every node.</summary>
    public string Configuration => string.Join(",", _nodes.Select(n => n.Endpoint));

    /// <summary>Starts the nodes, creates the cluster and waits until every node says it is ok and all agree on the slots.</summary>
    public static async Task<RedisCluster> StartAsync(CancellationToken cancellationToken = default)
    {
        var cli = RedisServer.Locate("redis-cli") ?? throw ServiceRequirement.Missing(RedisServer.NotInstalled);
        var cluster = new RedisCluster(cli);
        try
        {
            var starting = Enumerable.Range(0, Nodes).Select(_ => RedisServer.StartClusterNodeAsync(NodeTimeout, cancellationToken)).ToList();
            try
            {
                await Task.WhenAll(starting);
            }
            finally
            {
                // Every node that did start is the cluster's to stop, even when another failed.
                cluster._nodes.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
            }

            await cluster.RunCliAsync(
                ["--cluster", "create", .. cluster._nodes.Select(n => n.Endpoint), "--cluster-replicas", "1", "--cluster-yes"],
                TimeSpan.FromSeconds(60), cancellationToken);
            await cluster.WaitSettledAsync(TimeSpan.FromSeconds(30), "the new cluster", cancellationToken);
            // Every replica in sync with its master (a fresh cluster's replicas take a moment to sync): a write's
            // WAIT for one replica then measures replication, not the cluster's start.
            foreach (var node in cluster._nodes)
            {
                await Eventually.TrueAsync(async () =>
                {
                    var info = await cluster.NodeCommandAsync(node, ["INFO", "replication"], cancellationToken);
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

    /// <summary>The master serving <paramref name="slot"/> now.</summary>
    public async Task<RedisServer> MasterOfSlotAsync(int slot, CancellationToken cancellationToken = default)
    {
        var view = await ViewAsync(cancellationToken);
        return Server(view.Masters.FirstOrDefault(m => m.Owns(slot))
            ?? throw new InvalidOperationException($"no master serves slot {slot}:\n{view.Text}"));
    }

    /// <summary>The master serving <paramref name="key"/>'s slot now.</summary>
    public Task<RedisServer> MasterOfAsync(string key, CancellationToken cancellationToken = default) =>
        MasterOfSlotAsync(SlotOf(key), cancellationToken);

    /// <summary>The master serving each of <paramref name="keys"/> now, in order (one look at the cluster for all).</summary>
    public async Task<IReadOnlyList<RedisServer>> MastersOfAsync(IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var view = await ViewAsync(cancellationToken);
        return [.. keys.Select(key => Server(view.Masters.FirstOrDefault(m => m.Owns(SlotOf(key)))
            ?? throw new InvalidOperationException($"no master serves slot {SlotOf(key)} of {key}:\n{view.Text}")))];
    }

    /// <summary>The masters serving slots now.</summary>
    public async Task<IReadOnlyList<RedisServer>> MastersAsync(CancellationToken cancellationToken = default) =>
        [.. (await ViewAsync(cancellationToken)).Masters.Select(Server)];

    /// <summary>The slots <paramref name="master"/> serves now, in ascending order.</summary>
    public async Task<IReadOnlyList<int>> SlotsOfAsync(RedisServer master, CancellationToken cancellationToken = default)
    {
        var view = await ViewAsync(cancellationToken);
        return view.Masters.FirstOrDefault(m => m.Port == master.Port)?.Slots()
            ?? throw new InvalidOperationException($"{master.Endpoint} serves no slot:\n{view.Text}");
    }

    /// <summary>The running replica of <paramref name="master"/>.</summary>
    public async Task<RedisServer> ReplicaOfAsync(RedisServer master, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(master);
        var view = await ViewAsync(cancellationToken);
        var id = view.Nodes.FirstOrDefault(n => n.Port == master.Port && n.IsMaster)?.Id
            ?? throw new InvalidOperationException($"{master.Endpoint} is not a master:\n{view.Text}");
        var replica = view.Nodes.FirstOrDefault(n => n.MasterId == id && !n.IsFailed)
            ?? throw new InvalidOperationException($"{master.Endpoint} has no live replica:\n{view.Text}");
        return Server(replica);
    }

    /// <summary>
    /// Kills <paramref name="master"/> (SIGKILL, as a crash would) and waits until its replica serves its slots and
    /// every surviving node says <c>cluster_state:ok</c> and agrees on who serves what. Returns the promoted replica.
    /// </summary>
    public async Task<RedisServer> KillMasterAsync(RedisServer master, CancellationToken cancellationToken = default)
    {
        var replica = await ReplicaOfAsync(master, cancellationToken);
        var slots = await SlotsOfAsync(master, cancellationToken);
        master.Kill();
        await WaitSettledAsync(
            FailoverTimeout,
            $"failover of {master.Endpoint} to {replica.Endpoint}",
            cancellationToken,
            views => views.All(view => view.Masters.Any(m => m.Port == replica.Port && slots.All(m.Owns))
                && view.Nodes.Any(n => n.Port == master.Port && n.IsFailed)));
        return replica;
    }

    /// <summary>
    /// Starts a killed node again (same port, same nodes file) and waits until it has rejoined as a replica and
    /// every node says <c>cluster_state:ok</c>.
    /// </summary>
    public async Task RejoinAsync(RedisServer node, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        await node.RestartAsync(cancellationToken);
        await WaitSettledAsync(
            FailoverTimeout,
            $"{node.Endpoint} rejoining as a replica",
            cancellationToken,
            views => views.All(view => view.Nodes.Any(n => n.Port == node.Port && !n.IsMaster && !n.IsFailed)));
    }

    /// <summary>
    /// Moves <paramref name="slots"/> slots, keys and all, from <paramref name="from"/> to <paramref name="to"/>
    /// with <c>redis-cli --cluster reshard</c>: slot by slot, each marked migrating and importing, its keys moved
    /// by <c>MIGRATE</c>, then given to the new master — so clients meet <c>MOVED</c> and <c>ASK</c>. Returns the
    /// slots moved (the lowest of <paramref name="from"/>'s), once every node agrees on the new owners. Start it
    /// without awaiting to run it while a test does other work.
    /// </summary>
    public async Task<IReadOnlyList<int>> ReshardAsync(RedisServer from, RedisServer to, int slots, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        var view = await ViewAsync(cancellationToken);
        var source = view.Masters.FirstOrDefault(m => m.Port == from.Port) ?? throw new InvalidOperationException($"{from.Endpoint} is not a master:\n{view.Text}");
        var target = view.Masters.FirstOrDefault(m => m.Port == to.Port) ?? throw new InvalidOperationException($"{to.Endpoint} is not a master:\n{view.Text}");
        var output = await RunCliAsync(
            [
                "--cluster", "reshard", from.Endpoint,
                "--cluster-from", source.Id, "--cluster-to", target.Id,
                "--cluster-slots", slots.ToString(CultureInfo.InvariantCulture), "--cluster-yes",
            ],
            TimeSpan.FromSeconds(120), cancellationToken);
        var moved = MovedSlot().Matches(output).Select(m => int.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture)).Distinct().Order().ToList();
        if (moved.Count != slots)
        {
            throw new InvalidOperationException($"redis-cli --cluster reshard moved {moved.Count} slots, not {slots}:\n{Tail(output)}");
        }

        await WaitSettledAsync(
            TimeSpan.FromSeconds(30),
            $"slots {moved[0]}…{moved[^1]} served by {to.Endpoint}",
            cancellationToken,
            views => views.All(view => view.Masters.Any(m => m.Port == to.Port && moved.All(m.Owns))));
        return moved;
    }

    /// <summary>
    /// Pauses every client of <paramref name="node"/> for <paramref name="duration"/> (<c>CLIENT PAUSE ms ALL</c>):
    /// it reads and answers nothing until then, while its cluster bus goes on (no failover). Returns once the pause
    /// has begun.
    /// </summary>
    public async Task PauseAsync(RedisServer node, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        var reply = await NodeCommandAsync(node, ["CLIENT", "PAUSE", ((long)duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture), "ALL"], cancellationToken);
        if (reply.Trim() != "OK")
        {
            throw new InvalidOperationException($"CLIENT PAUSE on {node.Endpoint} answered: {reply}");
        }
    }

    /// <summary>
    /// Waits until every running replica holds everything its master had when called (replication offsets): writes
    /// made before are then kept by a failover.
    /// </summary>
    public async Task WaitForReplicasAsync(CancellationToken cancellationToken = default)
    {
        var view = await ViewAsync(cancellationToken);
        foreach (var master in view.Masters)
        {
            var offset = Field(await NodeCommandAsync(Server(master), ["INFO", "replication"], cancellationToken), "master_repl_offset");
            foreach (var replica in view.Nodes.Where(n => n.MasterId == master.Id && !n.IsFailed))
            {
                string? last = null;
                try
                {
                    await Eventually.TrueAsync(
                        async () =>
                        {
                            last = await NodeCommandAsync(Server(replica), ["INFO", "replication"], cancellationToken);
                            return Field(last, "master_link_status") == "up" && long.Parse(Field(last, "slave_repl_offset"), CultureInfo.InvariantCulture) >= long.Parse(offset, CultureInfo.InvariantCulture);
                        },
                        CommandTimeout, $"replica on port {replica.Port} at offset {offset} of the master on port {master.Port}", cancellationToken);
                }
                catch (TimeoutException ex)
                {
                    throw new TimeoutException($"{ex.Message}; the replica says:\n{last}", ex);
                }
            }
        }
    }

    /// <summary>The hash slot of <paramref name="key"/>: CRC16 (XMODEM) of the key, or of its hash tag <c>{…}</c>, modulo 16384.</summary>
    public static int SlotOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var bytes = Encoding.UTF8.GetBytes(key).AsSpan();
        var open = bytes.IndexOf((byte)'{');
        if (open >= 0)
        {
            var close = bytes[(open + 1)..].IndexOf((byte)'}');
            if (close > 0)
            {
                bytes = bytes.Slice(open + 1, close);
            }
        }

        var crc = 0;
        foreach (var b in bytes)
        {
            crc ^= b << 8;
            for (var i = 0; i < 8; i++)
            {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }
        }

        return (crc & 0xFFFF) % 16384;
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

    private RedisServer Server(ClusterNode node) =>
        _nodes.FirstOrDefault(n => n.Port == node.Port) ?? throw new InvalidOperationException($"node {node.Id} on port {node.Port} is none of this cluster's");

    /// <summary>The cluster as the first running node that answers sees it.</summary>
    private async Task<ClusterView> ViewAsync(CancellationToken cancellationToken)
    {
        Exception? last = null;
        foreach (var node in _nodes.Where(n => n.IsRunning))
        {
            try
            {
                return ClusterView.Parse(await NodeCommandAsync(node, ["CLUSTER", "NODES"], cancellationToken));
            }
            catch (InvalidOperationException ex)
            {
                last = ex;
            }
        }

        throw new InvalidOperationException("no node of the cluster answers CLUSTER NODES", last);
    }

    /// <summary>
    /// Waits until every running node says <c>cluster_state:ok</c>, all see the same masters serving the same
    /// slots (every slot served), and their views satisfy <paramref name="condition"/>; fails with each node's view.
    /// </summary>
    private async Task WaitSettledAsync(TimeSpan timeout, string what, CancellationToken cancellationToken, Func<IReadOnlyList<ClusterView>, bool>? condition = null)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            await Eventually.TrueAsync(
                async () =>
                {
                    seen.Clear();
                    string? agreed = null;
                    var views = new List<ClusterView>();
                    var settled = true;
                    foreach (var node in _nodes.Where(n => n.IsRunning))
                    {
                        var info = await NodeCommandAsync(node, ["CLUSTER", "INFO"], cancellationToken);
                        var nodes = await NodeCommandAsync(node, ["CLUSTER", "NODES"], cancellationToken);
                        seen[node.Endpoint] = Field(info, "cluster_state") + "\n" + nodes;
                        var view = ClusterView.Parse(nodes);
                        views.Add(view);
                        agreed ??= view.Ownership;
                        settled &= Field(info, "cluster_state") == "ok" && view.Ownership == agreed && view.ServesEverySlot;
                    }

                    return settled && views.Count > 0 && (condition is null || condition(views));
                },
                timeout, what, cancellationToken);
        }
        catch (TimeoutException ex)
        {
            var views = string.Join("\n", seen.Select(s => $"--- {s.Key}: {s.Value}"));
            var logs = string.Join("\n", _nodes.Select(n => $"--- log of {n.Endpoint} ({(n.IsRunning ? "running" : "stopped")}):\n{Tail(n.LogTail)}"));
            throw new TimeoutException($"{ex.Message}\nwhat each node says:\n{views}\n{logs}", ex);
        }
    }

    private Task<string> NodeCommandAsync(RedisServer node, string[] command, CancellationToken cancellationToken) =>
        RunCliAsync(["-h", "127.0.0.1", "-p", node.Port.ToString(CultureInfo.InvariantCulture), .. command], CommandTimeout, cancellationToken);

    /// <summary>Runs <c>redis-cli</c> and returns its output; a failure, an error reply or a run past <paramref name="timeout"/> throws with its output.</summary>
    private async Task<string> RunCliAsync(string[] arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(_cli) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("redis-cli did not start");
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var errors = process.StandardError.ReadToEndAsync(CancellationToken.None);
        var shown = "redis-cli " + string.Join(' ', arguments);
        try
        {
            await process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"{shown} did not finish within {timeout.TotalSeconds:0} s:\n{Tail(await output + await errors)}");
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var text = await output;
        var error = await errors;
        // redis-cli exits 0 after an error reply: the reply's first word tells.
        if (process.ExitCode != 0 || text.StartsWith("ERR", StringComparison.Ordinal) || text.Contains("[ERR]", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{shown} failed ({process.ExitCode}):\n{Tail(text + error)}");
        }

        return text;
    }

    private static string Field(string info, string name)
    {
        foreach (var line in info.Split('\n'))
        {
            if (line.StartsWith(name + ":", StringComparison.Ordinal))
            {
                return line[(name.Length + 1)..].Trim();
            }
        }

        throw new InvalidOperationException($"no {name} in:\n{info}");
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : "…" + text[^4000..];

    [System.Text.RegularExpressions.GeneratedRegex(@"Moving slot (\d+) from")]
    private static partial System.Text.RegularExpressions.Regex MovedSlot();

    /// <summary>One line of <c>CLUSTER NODES</c>: id, port, flags, master id, served slot ranges.</summary>
    private sealed record ClusterNode(string Id, int Port, string[] Flags, string? MasterId, (int First, int Last)[] Ranges)
    {
        public bool IsMaster => Flags.Contains("master");

        public bool IsFailed => Flags.Contains("fail") || Flags.Contains("fail?") || Flags.Contains("noaddr");

        public bool Owns(int slot) => Ranges.Any(r => r.First <= slot && slot <= r.Last);

        public List<int> Slots() => [.. Ranges.SelectMany(r => Enumerable.Range(r.First, r.Last - r.First + 1)).Order()];
    }

    /// <summary>The cluster as one node sees it (<c>CLUSTER NODES</c>).</summary>
    private sealed record ClusterView(string Text, IReadOnlyList<ClusterNode> Nodes)
    {
        /// <summary>The masters that serve slots and are not failed.</summary>
        public IEnumerable<ClusterNode> Masters => Nodes.Where(n => n.IsMaster && !n.IsFailed && n.Ranges.Length > 0);

        /// <summary>Who serves which slots, as text to compare views by.</summary>
        public string Ownership => string.Join(";", Masters.OrderBy(m => m.Port).Select(m => $"{m.Port}:{string.Join(',', m.Ranges.Order().Select(r => $"{r.First}-{r.Last}"))}"));

        public bool ServesEverySlot => Masters.Sum(m => m.Ranges.Sum(r => r.Last - r.First + 1)) == 16384;

        // <id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> …
        public static ClusterView Parse(string text)
        {
            var nodes = new List<ClusterNode>();
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var parts = line.Split(' ');
                if (parts.Length < 8)
                {
                    throw new InvalidOperationException($"not a CLUSTER NODES line: {line}");
                }

                var address = parts[1].Split('@')[0];
                var port = int.Parse(address[(address.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
                var ranges = new List<(int, int)>();
                foreach (var slot in parts.Skip(8).Where(s => !s.StartsWith('['))) // [slot->-id]: a migration under way
                {
                    var dash = slot.IndexOf('-', StringComparison.Ordinal);
                    ranges.Add(dash < 0
                        ? (int.Parse(slot, CultureInfo.InvariantCulture), int.Parse(slot, CultureInfo.InvariantCulture))
                        : (int.Parse(slot[..dash], CultureInfo.InvariantCulture), int.Parse(slot[(dash + 1)..], CultureInfo.InvariantCulture)));
                }

                nodes.Add(new ClusterNode(parts[0], port, parts[2].Split(','), parts[3] == "-" ? null : parts[3], [.. ranges]));
            }

            return new ClusterView(text, nodes);
        }
    }
}
