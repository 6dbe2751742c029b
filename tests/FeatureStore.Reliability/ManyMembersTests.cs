using System.Diagnostics;
using System.Globalization;
using FeatureStore.Client;
using FeatureStore.Ingest.Tests;
using FeatureStore.Redis;
using FeatureStore.Redis.Online;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Testing;

namespace FeatureStore.Reliability;

/// <summary>
/// Scaling out (DESIGN.md §8b, docs/scaling.md): three <c>featurestore ingest</c> members of one consumer group over a
/// twelve-partition topic, and two <c>featurestore serve</c> replicas, answer exactly the §4 reference, on one
/// redis-server and on a six-node Redis Cluster; a member SIGKILLed mid-stream leaves its partitions to the other two
/// without a lost or doubled event (§5).
/// </summary>
[Trait("Category", "Integration")]
public sealed class ManyMembersTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis, RedisClusterFixture cluster)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IClassFixture<RedisClusterFixture>, IDisposable
{
    private const int Partitions = 12;
    private const int Members = 3;
    private const int Events = 60_000;
    private const int Users = 400;
    private const int Merchants = 50; // IngestScenario draws merchants m0 … m49
    private const int BatchEvents = 2_000; // many batches per member, so a kill lands between and inside them
    private const int SessionTimeoutMs = 4_000; // the group notices the killed member this soon
    private static readonly TimeSpan CatchUp = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-members-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("redis-server")]
    [InlineData("redis-cluster")]
    public async Task Three_ingest_members_over_twelve_partitions_and_two_servers_answer_the_reference(string kind)
    {
        var clock = Stopwatch.StartNew();
        var store = Store(kind);
        var run = await StartAsync(store, "members");
        await using var processes = run.Processes;
        try
        {
            // Half the stream waits in the topic while the group forms (the members catch up); the other half comes
            // once every member owns partitions, so that each one has work whatever order they joined in.
            run.Scenario.Produce(kafka.BootstrapServers, count: Events / 2, users: Users, seed: 71, nowMs: run.NowMs);
            var pids = run.Members.Select(m => m.Id).ToHashSet();
            var owners = await WaitUntilEachMemberOwnsPartitionsAsync(run);
            var formed = clock.Elapsed;
            run.Scenario.Produce(kafka.BootstrapServers, count: Events / 2, users: Users, seed: 72, nowMs: run.NowMs, firstIndex: Events / 2);
            var expected = ExpectAsync(run);

            var ends = run.Progress.Ends(kafka.BootstrapServers);
            await WaitUntilCaughtUpAsync(run, ends);
            var caughtUp = clock.Elapsed;

            // The twelve partitions were spread over the three members, and each one wrote batches of its own.
            await WaitAsync(run, async () =>
            {
                var statuses = await run.Progress.StatusesAsync(Ct);
                return pids.All(pid => statuses.Any(s => GroupProgress.MemberPid(s) == pid && s!.LastWriteMs is not null));
            }, TimeSpan.FromSeconds(15), "each member's published status shows a write of its own");
            var reference = await LookUpThroughTwoServersAsync(run, expected);
            Figures.Report($"many members / {kind}",
                $"members={Members} partitions={Partitions} owned={Owned(owners)} events={run.Scenario.Count} fenced={run.Fenced} servers=2 values={reference.Compared} mismatches={reference.MismatchCount} reference={reference.ReferenceTime.TotalSeconds:0.0}s "
                + $"seconds: formed={formed.TotalSeconds:0.0} caught up={caughtUp.TotalSeconds:0.0} checked={clock.Elapsed.TotalSeconds:0.0}");

            // No member was refused a batch: with the group formed before the stream, no partition moved mid-write
            // (on a cluster a refusal here meant a write sent with another batch's checks).
            Assert.Equal(0, run.Fenced);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw WithLogs(ex, processes);
        }
    }

    [Theory]
    [InlineData("redis-server")]
    [InlineData("redis-cluster")]
    public async Task A_member_killed_mid_stream_rebalances_without_loss_or_double(string kind)
    {
        var clock = Stopwatch.StartNew();
        var store = Store(kind);
        var run = await StartAsync(store, "memberkill");
        await using var processes = run.Processes;
        try
        {
            // The group forms on the empty topic; the victim is the first member, whatever it owns then.
            var pids = run.Members.Select(m => m.Id).ToHashSet();
            var owners = await WaitUntilEachMemberOwnsPartitionsAsync(run);
            var victim = run.Members[0];
            var victimPartitions = Enumerable.Range(0, Partitions).Where(p => owners[p] == victim.Id).ToArray();
            var formed = clock.Elapsed;

            // The stream arrives while the members apply it; the victim dies once it has written a few batches of its own.
            var production = Task.Run(() => run.Scenario.Produce(kafka.BootstrapServers, count: Events, users: Users, seed: 73, nowMs: run.NowMs), Ct);
            await WaitAsync(run, async () =>
            {
                var checkpoints = await run.Progress.CheckpointsAsync();
                return victimPartitions.Sum(p => checkpoints[p]) > 2 * BatchEvents || production.IsFaulted;
            }, CatchUp, "the victim writes a few batches");
            var producing = !production.IsCompleted;
            var killed = clock.Elapsed;
            run.Killed.Add(victim.Id);
            victim.KillHard();
            await victim.WaitForExitAsync(TimeSpan.FromSeconds(10), Ct);

            // No one else had the victim's partitions when it died (the group notices after the session timeout).
            var atKill = await run.Progress.CheckpointsAsync();
            var statusesAtKill = await run.Progress.StatusesAsync(Ct);
            Assert.All(victimPartitions, p => Assert.Equal(victim.Id, GroupProgress.MemberPid(statusesAtKill[p])));

            await production;
            var expected = ExpectAsync(run);
            var ends = run.Progress.Ends(kafka.BootstrapServers);
            var leftByVictim = victimPartitions.Sum(p => ends[p] - atKill[p]);
            Assert.True(leftByVictim > 0, $"the victim must die with events of its partitions still to apply (checkpoints {string.Join(",", atKill)}, ends {string.Join(",", ends)})");
            await WaitUntilCaughtUpAsync(run, ends);
            var caughtUp = clock.Elapsed;

            // The survivors took the victim's partitions over, and wrote those it left events in.
            var survivors = pids.Where(pid => pid != victim.Id).ToHashSet();
            IngestPartitionStatus?[] after = [];
            await WaitAsync(run, async () =>
            {
                after = await run.Progress.StatusesAsync(Ct);
                return victimPartitions.All(p => GroupProgress.MemberPid(after[p]) is { } pid && survivors.Contains(pid)
                    && (after[p]!.LastWriteMs is not null || atKill[p] == ends[p]));
            }, TimeSpan.FromSeconds(15), "the victim's partitions published by the survivors, written where the victim left events",
                () => string.Join("; ", victimPartitions.Select(p => $"{p}: {(p < after.Length ? after[p] : null)}")));
            var reference = await LookUpThroughTwoServersAsync(run, expected);
            Figures.Report($"many members / member SIGKILLed / {kind}",
                $"members={Members} partitions={Partitions} owned before={Owned(owners)} after={Owned([.. after.Select(GroupProgress.MemberPid)])} victim partitions={victimPartitions.Length} "
                + $"applied by victim={victimPartitions.Sum(p => atKill[p])} left by victim={leftByVictim} killed while producing={producing} events={run.Scenario.Count} fenced={run.Fenced} "
                + $"values={reference.Compared} mismatches={reference.MismatchCount} reference={reference.ReferenceTime.TotalSeconds:0.0}s "
                + $"seconds: formed={formed.TotalSeconds:0.0} killed={killed.TotalSeconds:0.0} caught up={caughtUp.TotalSeconds:0.0} checked={clock.Elapsed.TotalSeconds:0.0}");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw WithLogs(ex, processes);
        }
    }

    /// <summary>The class's redis-server, or its six-node Redis Cluster; tests keep apart by key prefix.</summary>
    private StoreUnderTest Store(string kind) => kind == "redis-server"
        ? new StoreUnderTest(redis.Server.Endpoint, redis.Connection, IsCluster: false)
        : new StoreUnderTest(cluster.Cluster.Configuration, cluster.Connection, IsCluster: true);

    /// <summary>
    /// A scenario on a fresh twelve-partition topic, its repository file, three members of a fresh group, and two
    /// servers starting beside them (asked once ingest is over).
    /// </summary>
    private async Task<Run> StartAsync(StoreUnderTest store, string name)
    {
        var scenario = new IngestScenario(kafka.CreateTopic(name, Partitions));
        var file = Path.Combine(_dir, name + ".yaml");
        await File.WriteAllTextAsync(file, scenario.RepositoryYaml, Ct);
        var group = name + "-" + Guid.NewGuid().ToString("N")[..8];
        var progress = new GroupProgress(store.Connection.Database, new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project), group, scenario.Topic, Partitions);
        var processes = new CliProcesses(file, store.Configuration, scenario.KeyPrefix);
        var members = Enumerable.Range(0, Members).Select(_ => processes.StartIngest(kafka.BootstrapServers, group, SessionTimeoutMs, BatchEvents)).ToList();
        var servers = Task.WhenAll(processes.StartServeAsync(store.IsCluster, Ct), processes.StartServeAsync(store.IsCluster, Ct));
        return new Run(scenario, progress, processes, members, servers, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    /// <summary>Waits until the published statuses show each member owning partitions; returns each partition's owner.</summary>
    private static async Task<int?[]> WaitUntilEachMemberOwnsPartitionsAsync(Run run)
    {
        var pids = run.Members.Select(m => m.Id).ToHashSet();
        int?[] owners = [];
        await WaitAsync(run, async () =>
        {
            owners = [.. (await run.Progress.StatusesAsync(Ct)).Select(GroupProgress.MemberPid)];
            return owners.All(o => o is not null) && owners.Select(o => o!.Value).ToHashSet().SetEquals(pids);
        }, TimeSpan.FromSeconds(90), $"each of the {Members} members owns partitions");
        return owners;
    }

    /// <summary>Waits until every partition's checkpoint reaches its end offset, and not past it.</summary>
    private static async Task WaitUntilCaughtUpAsync(Run run, long[] ends)
    {
        long[] checkpoints = [];
        await WaitAsync(run, async () => GroupProgress.Lag(ends, checkpoints = await run.Progress.CheckpointsAsync()) == 0,
            CatchUp, $"every partition's checkpoint at its end ({string.Join(",", ends)})");
        Assert.Equal(ends, checkpoints);
    }

    /// <summary>
    /// Waits for <paramref name="condition"/>, failing at once when a member the test did not kill has exited; a
    /// timeout's message ends with <paramref name="detail"/>, what was seen last.
    /// </summary>
    private static async Task WaitAsync(Run run, Func<Task<bool>> condition, TimeSpan timeout, string what, Func<string>? detail = null)
    {
        bool Died() => run.Members.Any(m => m.HasExited && !run.Killed.Contains(m.Id));
        try
        {
            await Eventually.TrueAsync(async () => Died() || await condition(), timeout, what, Ct);
        }
        catch (TimeoutException ex) when (detail is not null)
        {
            throw new TimeoutException($"{ex.Message}; last seen: {detail()}", ex);
        }

        Assert.False(Died(), $"an ingest member exited on its own while the test waited for: {what}");
    }

    /// <summary>
    /// The lookups of a test and their reference, computed on another thread (the test waits for ingest meanwhile):
    /// every user (and one who never paid) and every merchant, at the newest event's time; an hour later, the hour
    /// windows empty and the longer ones partly; a day later, past every ttl.
    /// </summary>
    private static Task<ServedReference> ExpectAsync(Run run)
    {
        string[] users = [.. Enumerable.Range(0, Users + 1).Select(i => "u" + i.ToString(CultureInfo.InvariantCulture))];
        string[] merchants = [.. Enumerable.Range(0, Merchants).Select(i => "m" + i.ToString(CultureInfo.InvariantCulture))];
        var reference = new ServedReference(run.Scenario,
            [(run.Scenario.Compiled.FindView("user_stats")!, users), (run.Scenario.Compiled.FindView("merchant_stats")!, merchants)],
            [run.Scenario.MaxTime, run.NowMs + (61 * 60_000), run.NowMs + (25 * 3_600_000)]);
        return Task.Run(reference.Compute, Ct);
    }

    /// <summary>Looks every entity of <paramref name="expected"/> up through each of the two servers and compares with the reference.</summary>
    private static async Task<ServedReference> LookUpThroughTwoServersAsync(Run run, Task<ServedReference> expected)
    {
        var servers = await run.Servers;
        var reference = await expected;
        for (var s = 0; s < servers.Length; s++)
        {
            using var client = new FeatureStoreClient(servers[s], new FeatureStoreClientOptions { Timeout = TimeSpan.FromSeconds(30) });
            await reference.CompareAsync(client, $"server {s + 1}", Ct);
        }

        Assert.True(reference.MismatchCount == 0,
            $"{reference.MismatchCount} of {reference.Compared} values differ from the reference; the first:\n{string.Join('\n', reference.Mismatches)}");
        return reference;
    }

    /// <summary>Partitions per member, as <c>4+4+4</c>.</summary>
    private static string Owned(int?[] owners) =>
        string.Join("+", owners.GroupBy(o => o).Select(g => g.Count()).OrderDescending());

    private static Exception WithLogs(Exception ex, CliProcesses processes) =>
        new InvalidOperationException($"{ex.Message}\nprocess output:{processes.Logs()}", ex);

    /// <summary>One test's scenario, group progress, processes, ingest members (and those it killed), servers' gRPC addresses, and instant of reference.</summary>
    private sealed record Run(IngestScenario Scenario, GroupProgress Progress, CliProcesses Processes, List<ChildProcess> Members, Task<Uri[]> Servers, long NowMs)
    {
        public HashSet<int> Killed { get; } = [];

        /// <summary>
        /// The fences the members logged: a batch refused by its checks, one line per partition of it. Without a member
        /// writing a partition another one owns, a correct member is never fenced.
        /// </summary>
        public int Fenced => Members.Sum(m => m.Lines.Count(l => l.Contains(" fenced: ", StringComparison.Ordinal)));
    }

    /// <summary>The online store of a test: its configuration string (the processes' <c>--redis</c>) and the test's own connection.</summary>
    private sealed record StoreUnderTest(string Configuration, OnlineStoreConnection Connection, bool IsCluster);
}
