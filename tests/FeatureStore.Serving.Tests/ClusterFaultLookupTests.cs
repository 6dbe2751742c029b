using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// Lookups served from a real six-node Redis Cluster while it suffers faults: a master killed and failed over, slots
/// resharded between masters, a master paused. States are written with HSET of known encoded states whose values are
/// known in closed form; every answer is checked exactly, and every failure must be a precise status in bounded time.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ClusterFaultLookupTests : IAsyncLifetime
{
    private const string Prefix = "fs";
    private static readonly string Cli = typeof(ClusterFaultLookupTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!;

    private readonly List<IAsyncDisposable> _owned = [];
    private RedisCluster? _cluster;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private RedisCluster Cluster => _cluster!;

    public async ValueTask InitializeAsync() => _cluster = await RedisCluster.StartAsync(Ct);

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_master_killed_during_lookups_gives_unavailable_or_exact_values_while_its_replica_takes_over_then_exact_values_again()
    {
        var setup = await SetUpAsync(_ => [.. Enumerable.Range(0, 60).Select(Merchant)], TimeSpan.FromSeconds(1));
        var victim = await Cluster.MasterOfAsync(setup.Keys[0], Ct);
        var onVictim = (await Cluster.MastersOfAsync(setup.Keys, Ct)).Count(m => m.Port == victim.Port);
        Assert.InRange(onVictim, 5, 55);

        var loop = new LookupLoop(setup);
        var running = loop.RunAsync(Ct);
        await loop.WaitForExactAsync(3, "lookups before the kill");

        loop.Phase = 1;
        var clock = Stopwatch.StartNew();
        var replica = await Cluster.KillMasterAsync(victim, Ct);
        var failover = clock.Elapsed;
        loop.Phase = 2;
        await loop.WaitForExactAsync(3, "lookups after the failover");

        loop.Phase = 3;
        clock.Restart();
        await Cluster.RejoinAsync(victim, Ct);
        var rejoin = clock.Elapsed;
        Assert.Equal(replica.Port, (await Cluster.MasterOfAsync(setup.Keys[0], Ct)).Port);
        loop.Phase = 4;
        await loop.WaitForExactAsync(3, "lookups after the killed master rejoined as a replica");
        await loop.StopAsync(running);

        loop.Report($"{onVictim} of 60 entities on the killed master; failed over in {failover.TotalSeconds:0.0} s, rejoined in {rejoin.TotalSeconds:0.0} s");
        loop.AssertNothingWrong();
        Assert.True(loop.Unavailable(1) > 0, "no lookup met the failover");
    }

    [Fact]
    public async Task Slots_resharded_during_lookups_are_followed_by_every_lookup_and_each_answer_is_exact()
    {
        // The reshard moves the source's lowest slots: 40 entities are chosen in them, 20 anywhere else.
        const int Slots = 300;
        var source = await Cluster.MasterOfSlotAsync(0, Ct);
        var target = (await Cluster.MastersAsync(Ct)).First(m => m.Port != source.Port);
        var moving = (await Cluster.SlotsOfAsync(source, Ct)).Take(Slots).ToHashSet();
        const int Moving = 40;
        IReadOnlyList<string> Choose(Func<string, string> keyOf)
        {
            var chosen = new List<string>();
            var staying = new List<string>();
            for (var j = 0; chosen.Count < Moving || staying.Count < 20; j++)
            {
                var name = "r" + j.ToString(CultureInfo.InvariantCulture);
                var inMoving = moving.Contains(RedisCluster.SlotOf(keyOf(name)));
                if (inMoving && chosen.Count < Moving)
                {
                    chosen.Add(name);
                }
                else if (!inMoving && staying.Count < 20)
                {
                    staying.Add(name);
                }
            }

            return [.. chosen, .. staying];
        }

        // A slow machine must not pass for a lookup that failed to follow a slot: a generous store timeout here.
        var setup = await SetUpAsync(Choose, TimeSpan.FromSeconds(5));
        var before = await Cluster.MastersOfAsync(setup.Keys, Ct);
        Assert.All(before.Take(Moving), m => Assert.Equal(source.Port, m.Port));

        var loop = new LookupLoop(setup);
        var running = loop.RunAsync(Ct);
        await loop.WaitForExactAsync(3, "lookups before the reshard");

        loop.Phase = 1;
        var clock = Stopwatch.StartNew();
        var moved = await Cluster.ReshardAsync(source, target, Slots, Ct);
        var took = clock.Elapsed;
        loop.Phase = 2;
        await loop.WaitForExactAsync(3, "lookups after the reshard");
        await loop.StopAsync(running);

        loop.Report($"{Slots} slots moved in {took.TotalSeconds:0.0} s");
        loop.AssertNothingWrong();
        Assert.True(loop.Unavailable(0) + loop.Unavailable(1) + loop.Unavailable(2) == 0, $"lookups failed during the reshard: {loop.Problems()}");
        Assert.True(loop.Exact(1) >= 3, $"only {loop.Exact(1)} lookups ran during the reshard ({took.TotalSeconds:0.0} s)");
        Assert.Equal(moving.Order(), moved);
        // Every chosen key moved to the target; the others stayed where they were.
        var after = await Cluster.MastersOfAsync(setup.Keys, Ct);
        Assert.All(after.Take(Moving), m => Assert.Equal(target.Port, m.Port));
        Assert.Equal(before.Skip(Moving).Select(m => m.Port), after.Skip(Moving).Select(m => m.Port));
    }

    [Fact]
    public async Task A_master_paused_past_the_store_timeout_fails_its_lookups_unavailable_while_the_others_answer_then_all_answer_exactly()
    {
        var storeTimeout = TimeSpan.FromSeconds(1);
        var setup = await SetUpAsync(_ => [.. Enumerable.Range(0, 60).Select(Merchant)], storeTimeout);
        var paused = await Cluster.MasterOfAsync(setup.Keys[0], Ct);
        var masters = await Cluster.MastersOfAsync(setup.Keys, Ct);
        var onPaused = Enumerable.Range(0, setup.Keys.Count).Where(k => masters[k].Port == paused.Port).ToList();
        var elsewhere = Enumerable.Range(0, setup.Keys.Count).Where(k => masters[k].Port != paused.Port).ToList();

        using var client = setup.Client();
        var pausedRequest = setup.Request(onPaused);
        var otherRequest = setup.Request(elsewhere);
        setup.AssertExact(await client.GetOnlineFeaturesAsync(pausedRequest, Ct), onPaused);

        var pause = TimeSpan.FromSeconds(6);
        var clock = Stopwatch.StartNew();
        await Cluster.PauseAsync(paused, pause, Ct);
        var refusals = new List<TimeSpan>();
        var answers = new List<TimeSpan>();
        // Stop early enough that the pause still holds when the last paused lookup gives up.
        while (clock.Elapsed < pause - storeTimeout - TimeSpan.FromSeconds(1.5))
        {
            var failed = TimedAsync(() => client.GetOnlineFeaturesAsync(pausedRequest, Ct));
            var other = await TimedAsync(() => client.GetOnlineFeaturesAsync(otherRequest, Ct));
            setup.AssertExact(other.Answer ?? throw other.Error!, elsewhere);
            answers.Add(other.Took);
            var refused = await failed;
            refusals.Add(refused.Took);
            var error = Assert.IsType<RpcException>(refused.Error);
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            Assert.Equal($"the online store did not answer within {storeTimeout.TotalMilliseconds:0} ms", error.Status.Detail);
        }

        TestContext.Current.SendDiagnosticMessage(
            $"pause: lookups of the paused master refused in {string.Join(", ", refusals.Select(r => r.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)))} ms; "
            + $"the others answered exactly in {string.Join(", ", answers.Select(r => r.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)))} ms");
        Assert.True(refusals.Count >= 2, $"only {refusals.Count} lookups of the paused master's entities ran during the pause");
        Assert.All(refusals, r => Assert.InRange(r, storeTimeout - TimeSpan.FromMilliseconds(50), storeTimeout + TimeSpan.FromSeconds(2)));

        var all = setup.Request([.. Enumerable.Range(0, setup.Keys.Count)]);
        await Eventually.TrueAsync(
            async () =>
            {
                try
                {
                    setup.AssertExact(await client.GetOnlineFeaturesAsync(all, Ct), [.. Enumerable.Range(0, setup.Keys.Count)]);
                    return true;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
                {
                    return false;
                }
            },
            pause + TimeSpan.FromSeconds(10), "exact answers once the pause ended", Ct);
        for (var i = 0; i < 5; i++)
        {
            setup.AssertExact(await client.GetOnlineFeaturesAsync(all, Ct), [.. Enumerable.Range(0, setup.Keys.Count)]);
        }
    }

    [Fact]
    public async Task Serving_chooses_pipelined_reads_on_a_cluster_and_scripts_on_a_single_server_and_refuses_a_single_command_strategy_on_a_cluster()
    {
        var store = await ConnectAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(OnlineReadStrategy.Pipeline, new OnlineStateReader(store.GetDatabase(), OnlineReadStrategy.Auto).Strategy);
        foreach (var strategy in new[] { OnlineReadStrategy.Script, OnlineReadStrategy.Transaction })
        {
            var refused = Assert.Throws<NotSupportedException>(() => FeatureServer.Create(new FeatureServerOptions { Project = "p", ReadStrategy = strategy }, store));
            Assert.Contains("which Redis Cluster refuses across slots", refused.Message, StringComparison.Ordinal);
        }

        await using (var single = await RedisServer.StartAsync(cancellationToken: Ct))
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(single.Endpoint))
        {
            Assert.Equal(OnlineReadStrategy.Script, new OnlineStateReader(connection.GetDatabase(), OnlineReadStrategy.Auto).Strategy);
        }

        await using var serve = ChildProcess.StartDotnet(Cli,
            ["serve", "--project", "p", "--redis", Cluster.Configuration, "--read-strategy", "script",
             "--grpc-port", FreePort.Next().ToString(CultureInfo.InvariantCulture), "--http-port", FreePort.Next().ToString(CultureInfo.InvariantCulture)]);
        Assert.Equal(2, await serve.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));
        Assert.Contains("--read-strategy: the read strategy script reads every key of a lookup in one command, which Redis Cluster refuses across slots", serve.ErrorText, StringComparison.Ordinal);
    }

    private static async Task<(OnlineFeatureSet? Answer, Exception? Error, TimeSpan Took)> TimedAsync(Func<Task<OnlineFeatureSet>> lookup)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var answer = await lookup();
            return (answer, null, clock.Elapsed);
        }
        catch (RpcException ex)
        {
            return (null, ex, clock.Elapsed);
        }
    }

    private static string Merchant(int k) => "m" + k.ToString(CultureInfo.InvariantCulture);

    /// <summary>A client of the cluster configured as <c>serve</c> configures its own.</summary>
    private async Task<ConnectionMultiplexer> ConnectAsync(TimeSpan storeTimeout)
    {
        var options = ConfigurationOptions.Parse(Cluster.Configuration);
        FeatureServer.ConfigureStoreClient(options, storeTimeout);
        var store = await ConnectionMultiplexer.ConnectAsync(options);
        _owned.Add(store);
        return store;
    }

    /// <summary>
    /// The registry and the states of the merchants <paramref name="choose"/> picks (given the key of a
    /// merchant's state) written and replicated, and a server with default options (so it chooses its read strategy)
    /// answering them with <paramref name="storeTimeout"/>.
    /// </summary>
    private async Task<Setup> SetUpAsync(Func<Func<string, string>, IReadOnlyList<string>> choose, TimeSpan storeTimeout)
    {
        var store = await ConnectAsync(storeTimeout);
        var yaml = PaymentsRepository.Yaml("payments");
        var repository = FeatureRepositoryLoader.LoadFromText(yaml, "r.yaml").Repository!;
        var db = store.GetDatabase();
        var registry = new RegistryStore(db, Prefix);
        await registry.ApplyAsync(repository, yaml, Ct);
        var view = (await registry.LoadCurrentAsync(repository.Project))!.Compile().FindView("merchant_stats")!;
        var group = Assert.Single(view.Groups);
        var keys = new OnlineKeys(Prefix, repository.Project);
        var merchants = choose(name => (string)keys.Entity(group, name)!);
        var atMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var written = new List<string>();
        for (var k = 0; k < merchants.Count; k++)
        {
            var key = keys.Entity(group, merchants[k]);
            await db.HashSetAsync(key, OnlineKeys.PartitionField("payments", k % 4),
                StateGroupLookupTests.Encode(group.Features, group.InputSlots, group.TtlMs, Setup.Events(k, atMs)));
            written.Add((string)key!);
        }

        // A failover keeps only what reached the replica: every state is there before any fault.
        await Cluster.WaitForReplicasAsync(Ct);
        // Over real ports, as `serve` runs.
        var logs = new CapturedLogs();
        var server = await RunningServer.OnPortsAsync(
            (grpc, http) => new FeatureServerOptions { Project = repository.Project, KeyPrefix = Prefix, StoreTimeout = storeTimeout, GrpcPort = grpc, HttpPort = http },
            store,
            builder => builder.Logging.AddProvider(logs));
        _owned.Add(server);
        var setup = new Setup(server, merchants, written, atMs, storeTimeout, logs);
        using (var client = setup.Client())
        {
            await Eventually.TrueAsync(async () => (await client.ListDefinitionsAsync(Ct)).Repository.Version == 1, TimeSpan.FromSeconds(10), "version 1 served", Ct);
        }

        return setup;
    }

    /// <summary>A served set of merchants: merchant k has n = k % 40 + 1 payments of 10 i + k (i = 1…n), 20 s apart, in the last hour.</summary>
    private sealed record Setup(RunningServer Server, IReadOnlyList<string> Merchants, IReadOnlyList<string> Keys, long AtMs, TimeSpan StoreTimeout, CapturedLogs Logs)
    {
        /// <summary>A client whose deadline lies well past the server's store timeout: a call that meets it hung.</summary>
        public FeatureStoreClient Client() =>
            new(Server.Server.GrpcAddress, new FeatureStoreClientOptions { Timeout = (StoreTimeout * 2) + TimeSpan.FromSeconds(20) });

        /// <summary>The longest a lookup may take: the store timeout (which bounds a key read again too), and room for a busy machine.</summary>
        public TimeSpan Longest => StoreTimeout + TimeSpan.FromSeconds(4);

        public static IEnumerable<(long Time, double Amount)> Events(int k, long atMs) =>
            Enumerable.Range(1, (k % 40) + 1).Select(i => (atMs - (i * 20_000L), (10.0 * i) + k));

        /// <summary>A lookup of merchant_stats for the merchants numbered <paramref name="rows"/>, at the states' instant.</summary>
        public GetOnlineFeaturesRequest Request(IReadOnlyList<int> rows)
        {
            var request = new GetOnlineFeaturesRequest
            {
                Features = { "merchant_stats" },
                AsOf = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(AtMs)),
            };
            foreach (var k in rows)
            {
                request.Entities.Add(new EntityRow { JoinKeys = { ["merchant_id"] = Merchants[k] } });
            }

            return request;
        }

        /// <summary>What is wrong in <paramref name="answer"/> to the lookup of <paramref name="rows"/>, or null when every value is exact.</summary>
        public static string? Wrong(OnlineFeatureSet answer, IReadOnlyList<int> rows)
        {
            if (answer.RowCount != rows.Count)
            {
                return $"{answer.RowCount} rows for {rows.Count} entities";
            }

            for (var row = 0; row < rows.Count; row++)
            {
                var k = rows[row];
                long n = (k % 40) + 1;
                var sum = (10.0 * n * (n + 1) / 2) + (n * k);
                var count = answer.GetInt64(row, "merchant_stats:n_1h");
                var total = answer.GetDouble(row, "merchant_stats:sum_1h");
                var mean = answer.GetDouble(row, "merchant_stats:mean_1h");
                if (count != n || total is not { } t || Math.Abs(t - sum) > 1e-9 * sum || mean is not { } m || Math.Abs(m - (sum / n)) > 1e-9 * sum)
                {
                    return $"merchant {k}: n_1h {count}, sum_1h {total}, mean_1h {mean}; expected {n}, {sum}, {sum / n}";
                }
            }

            return null;
        }

        public void AssertExact(OnlineFeatureSet answer, IReadOnlyList<int> rows)
        {
            if (Wrong(answer, rows) is { } wrong)
            {
                Assert.Fail(wrong);
            }
        }
    }

    /// <summary>
    /// Looks every merchant of a <see cref="Setup"/> up, over and over, until stopped, counting per phase (set by the
    /// test as faults come and go) the exact answers, the UNAVAILABLE ones, and everything else as wrong: a wrong
    /// value, another status, or a call that takes longer than the server may (a hang).
    /// </summary>
    private sealed class LookupLoop(Setup setup)
    {
        private const int Phases = 5;
        private readonly int[] _calls = new int[Phases];
        private readonly int[] _exact = new int[Phases];
        private readonly int[] _unavailable = new int[Phases];
        private readonly List<string> _wrong = [];
        private readonly List<string> _details = [];
        private readonly CancellationTokenSource _stop = new();
        private TimeSpan _longest;

        public volatile int Phase;

        public int Exact(int phase) => Volatile.Read(ref _exact[phase]);

        public int Unavailable(int phase) => Volatile.Read(ref _unavailable[phase]);

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var rows = Enumerable.Range(0, setup.Keys.Count).ToArray();
            var request = setup.Request(rows);
            using var client = setup.Client();
            while (!_stop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                var phase = Phase;
                var clock = Stopwatch.StartNew();
                string? wrong = null;
                try
                {
                    var answer = await client.GetOnlineFeaturesAsync(request, cancellationToken);
                    wrong = Setup.Wrong(answer, rows);
                    if (wrong is null)
                    {
                        Interlocked.Increment(ref _exact[phase]);
                    }
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
                {
                    Interlocked.Increment(ref _unavailable[phase]);
                    lock (_details)
                    {
                        if (_details.Count < 10 && !_details.Contains(ex.Status.Detail))
                        {
                            _details.Add(ex.Status.Detail);
                        }
                    }
                }
                catch (RpcException ex)
                {
                    wrong = $"{ex.StatusCode}: {ex.Status.Detail}";
                }

                clock.Stop();
                if (clock.Elapsed > setup.Longest)
                {
                    wrong = (wrong is null ? "" : wrong + "; ") + $"took {clock.Elapsed.TotalMilliseconds:0} ms";
                }

                Interlocked.Increment(ref _calls[phase]);
                lock (_wrong)
                {
                    _longest = clock.Elapsed > _longest ? clock.Elapsed : _longest;
                    if (wrong is not null)
                    {
                        _wrong.Add($"phase {phase}: {wrong}");
                    }
                }
            }
        }

        /// <summary>Waits until the current phase has <paramref name="count"/> exact answers.</summary>
        public Task WaitForExactAsync(int count, string what)
        {
            var phase = Phase;
            return Eventually.TrueAsync(() => Exact(phase) >= count || _stop.IsCancellationRequested, TimeSpan.FromSeconds(30), what, Ct);
        }

        public async Task StopAsync(Task running)
        {
            await _stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(60), Ct);
            _stop.Dispose();
        }

        public void Report(string what) => TestContext.Current.SendDiagnosticMessage(
            $"{what}; per phase (calls/exact/unavailable): {string.Join(", ", Enumerable.Range(0, Phases).Select(p => $"{_calls[p]}/{_exact[p]}/{_unavailable[p]}"))}; "
            + $"longest call {_longest.TotalMilliseconds:0} ms; unavailable as: {string.Join(" | ", _details)}");

        public void AssertNothingWrong() =>
            Assert.True(_wrong.Count == 0, $"{_wrong.Count} wrong answers, first: {string.Join("\n", _wrong.Take(10))}\n{Problems()}");

        /// <summary>How the server failed: the UNAVAILABLE messages, and its log's errors.</summary>
        public string Problems() =>
            $"unavailable as: {string.Join(" | ", _details)}\nserver log:\n{string.Join("\n", setup.Logs.Records.Where(r => !r.StartsWith("scope", StringComparison.Ordinal) && (r.StartsWith("Error", StringComparison.Ordinal) || r.StartsWith("Warning", StringComparison.Ordinal))).Take(10))}";
    }
}
