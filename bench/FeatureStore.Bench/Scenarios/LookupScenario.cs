using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using FeatureStore.Bench.Harness;
using FeatureStore.Client;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Redis.Online;
using FeatureStore.Serving;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Online lookups over gRPC on loopback (the serving host in this process, a real client over a real
/// port), 1 and 100 entities × 10 features from two views, against raw StackExchange.Redis HGETALLs of the
/// same keys (one pipelined batch per lookup, bytes only) measured in the same run: p50, p99 of sequential
/// calls and throughput of concurrent callers. Each lookup's caller reads every value of the answer. Entity states are written directly (each user has ~20 events
/// in the last 3 h), the shape the ingest job leaves.
/// </summary>
internal static class LookupScenario
{
    private const int Users = 10_000;
    private const int Concurrency = 8;

    /// <summary>
    /// The rows of every read strategy in <paramref name="strategies"/> (all three when null) on <paramref name="store"/>.
    /// With <paramref name="rawValues"/> the baseline reads the values only (HVALS, as the pipeline strategy does, which
    /// a Redis Cluster's client sends to each key's node) instead of HGETALL.
    /// </summary>
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(
        string target, IConnectionMultiplexer store, int repetitions, bool quick, IReadOnlyList<OnlineReadStrategy>? strategies = null, bool rawValues = false)
    {
        var load = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("payments"), "bench.yaml");
        if (!load.Success)
        {
            throw new InvalidOperationException(string.Join("\n", load.Diagnostics));
        }

        var compiled = CompiledRepository.Compile(load.Repository!);
        var prefix = "bench" + Guid.NewGuid().ToString("N")[..8];
        var keys = new OnlineKeys(prefix, compiled.Repository.Project);
        var userViews = compiled.Views.Where(v => v.Definition.Entity == "user").ToList(); // 6 + 4 features
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await WriteStatesAsync(store.GetDatabase(), userViews, keys, now);
        var rows = new List<ResultRow>();
        foreach (var strategy in strategies ?? [OnlineReadStrategy.Pipeline, OnlineReadStrategy.Script, OnlineReadStrategy.Transaction])
        {
            await using var server = await StartServerAsync(compiled, prefix, strategy, store);
            using var client = new FeatureStoreClient(server.GrpcAddress);
            // The same registry reply from a minimal ASP.NET Core gRPC service, on the same kind of client.
            var reply = await client.Registry.DescribeEntityAsync(new Contracts.V1.DescribeRequest { Name = "user" });
            await using var minimal = await MinimalGrpcServer.StartAsync(reply);
            using var minimalClient = new FeatureStoreClient(minimal.Address);
            foreach (var entities in new[] { 1, 100 })
            {
                var calls = quick ? (entities == 1 ? 1000 : 200) : (entities == 1 ? 2000 : 300);
                rows.AddRange(await CompareAsync(
                    $"lookup ({target}, {strategy.ToString().ToLowerInvariant()})", entities, calls, repetitions, client, minimalClient, store.GetDatabase(), userViews, keys, rawValues));
            }
        }

        await CleanupAsync(store.GetDatabase(), userViews, keys);
        return rows;
    }

    private static async Task<IReadOnlyList<ResultRow>> CompareAsync(
        string scenario, int entities, int calls, int repetitions, FeatureStoreClient client, FeatureStoreClient minimal, IDatabase db, IReadOnlyList<CompiledView> views,
        OnlineKeys keys, bool rawValues)
    {
        string[] features = [.. views.Select(v => v.Name)];
        var random = new Random(entities);
        // The users of one lookup, as a model service scoring a batch has them: by the client's one-join-key call.
        string[] Request()
        {
            var users = new string[entities];
            for (var e = 0; e < entities; e++)
            {
                users[e] = User(random.Next(Users));
            }

            return users;
        }

        RedisKey[] RawKeys() => RandomKeys(random, entities, views, keys);

        // A model service reads every value of the answer: each is read as a number, as a feature vector is built.
        // Unary calls, and the same lookups over one stream shared by all callers (LookupStream).
        await using var stream = client.OpenLookupStream();
        Task Lookup() => Read(client.GetOnlineFeaturesAsync(features, "user_id", Request()));
        Task Streamed() => Read(stream.GetOnlineFeaturesAsync(features, "user_id", Request()));
        async Task Read(Task<OnlineFeatureSet> call)
        {
            var answer = await call;
            if (answer.RowCount != entities || answer.FeatureNames.Count != 10)
            {
                throw new InvalidOperationException("unexpected answer shape");
            }

            var sum = 0.0;
            for (var e = 0; e < entities; e++)
            {
                foreach (var feature in answer.FeatureNames)
                {
                    sum += answer.GetDouble(e, feature) ?? 0;
                }
            }

            if (double.IsNaN(sum))
            {
                throw new InvalidOperationException("a value is not a number");
            }
        }

        Task Raw() => rawValues ? RawValuesAsync(db, RawKeys()) : RawReadAsync(db, RawKeys());

        // The floor of any unary call to this host: a registry call answered from the cached registry (no store
        // read, a ~100-byte reply), over the same client and channel as the lookups.
        var describe = new Contracts.V1.DescribeRequest { Name = "user" };
        async Task Floor() => _ = await client.Registry.DescribeEntityAsync(describe);
        async Task MinimalFloor() => _ = await minimal.Registry.DescribeEntityAsync(describe);

        // Warm up both paths (connections, the script cache, the JIT) until the JIT is quiet: tiered compilation
        // goes on recompiling hot methods (instrumented, then optimized) in the background for seconds after
        // the first calls, and on two cores that takes a core from the calls measured. A serving process is in
        // this state after its first seconds; the rows are its steady state.
        // A round lasts a second at least (methods are recompiled 100 ms after their 30th call, in the
        // background) and ends with concurrent callers, as the throughput rows have.
        var warm = Stopwatch.StartNew();
        for (var round = 0; warm.Elapsed < TimeSpan.FromSeconds(60); round++)
        {
            var compiled = JitInfo.GetCompiledMethodCount();
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(1))
            {
                await Lookup();
                await Streamed();
                await Raw();
            }

            await Throughput(Lookup, 4 * Concurrency);
            await Throughput(Streamed, 4 * Concurrency);
            await Throughput(Floor, 4 * Concurrency);
            await Throughput(MinimalFloor, 4 * Concurrency);
            await Throughput(Raw, 4 * Concurrency);
            if (round >= 2 && JitInfo.GetCompiledMethodCount() == compiled)
            {
                break;
            }
        }

        var jitted = JitInfo.GetCompiledMethodCount();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {scenario}, {entities} × 10: warmed up in {warm.Elapsed.TotalSeconds:0.0} s"));
        var (p50, p99, throughput) = (new List<double>(), new List<double>(), new List<double>());
        var (rawP50, rawP99, rawThroughput) = (new List<double>(), new List<double>(), new List<double>());
        var (streamedP50, streamedP99, streamedThroughput) = (new List<double>(), new List<double>(), new List<double>());
        var (floorThroughput, minimalThroughput) = (new List<double>(), new List<double>());
        for (var rep = 0; rep < repetitions; rep++)
        {
            var lookup = await Latencies(Lookup, calls);
            var streamed = await Latencies(Streamed, calls);
            var raw = await Latencies(Raw, calls);
            p50.Add(Measure.Quantile(lookup, 0.5));
            p99.Add(Measure.Quantile(lookup, 0.99));
            streamedP50.Add(Measure.Quantile(streamed, 0.5));
            streamedP99.Add(Measure.Quantile(streamed, 0.99));
            rawP50.Add(Measure.Quantile(raw, 0.5));
            rawP99.Add(Measure.Quantile(raw, 0.99));
            throughput.Add(await Throughput(Lookup, calls));
            streamedThroughput.Add(await Throughput(Streamed, calls));
            rawThroughput.Add(await Throughput(Raw, calls));
            if (entities == 1)
            {
                floorThroughput.Add(await Throughput(Floor, calls));
                minimalThroughput.Add(await Throughput(MinimalFloor, calls));
            }
        }

        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {scenario}, {entities} × 10: {JitInfo.GetCompiledMethodCount() - jitted} methods compiled while measured"));
        var shape = $"{entities.ToString(CultureInfo.InvariantCulture)} × 10 features";
        var baseline = $"raw {(rawValues ? "HVALS" : "HGETALL")} ×{(entities * views.Count).ToString(CultureInfo.InvariantCulture)}, pipelined";
        var decode = await DecodeAndEvaluateAsync(db, views, RawKeys(), calls);
        List<ResultRow> floor = entities == 1
            ?
            [
                new ResultRow(scenario, $"any unary call's floor: DescribeEntity (cached registry, no store read), {Concurrency} callers", Measure.Median(floorThroughput), "calls/s", baseline, Measure.Median(rawThroughput)),
                new ResultRow(scenario, $"any unary call's floor, {Concurrency} callers", Measure.Median(floorThroughput), "calls/s",
                    "the same reply from a minimal ASP.NET Core gRPC service", Measure.Median(minimalThroughput)),
            ]
            : [];
        return
        [
            .. floor,
            new ResultRow(scenario, $"{shape}: of which decode + evaluate (§4 state, in memory)", decode, "ms"),
            new ResultRow(scenario, $"{shape}: p50", Measure.Median(p50), "ms", baseline, Measure.Median(rawP50)),
            new ResultRow(scenario, $"{shape}: p99", Measure.Median(p99), "ms", baseline, Measure.Median(rawP99)),
            new ResultRow(scenario, $"{shape}: throughput, {Concurrency} callers", Measure.Median(throughput), "lookups/s", baseline, Measure.Median(rawThroughput)),
            new ResultRow(scenario, $"{shape}, one lookup stream: p50", Measure.Median(streamedP50), "ms", baseline, Measure.Median(rawP50)),
            new ResultRow(scenario, $"{shape}, one lookup stream: p99", Measure.Median(streamedP99), "ms", baseline, Measure.Median(rawP99)),
            new ResultRow(scenario, $"{shape}, one lookup stream: throughput, {Concurrency} callers", Measure.Median(streamedThroughput), "lookups/s", baseline, Measure.Median(rawThroughput)),
        ];
    }

    /// <summary>
    /// Median ms to decode and evaluate the states of one lookup, fetched once beforehand, as the server
    /// does: each state loaded for evaluation now into one reused state per view, then evaluated.
    /// </summary>
    private static async Task<double> DecodeAndEvaluateAsync(IDatabase db, IReadOnlyList<CompiledView> views, RedisKey[] keys, int calls)
    {
        var perView = keys.Length / views.Count;
        var shares = await Task.WhenAll(keys.Select(k => db.HashValuesAsync(k)));
        var states = views.Select(v => new ViewWindowState(v.Features, v.TtlMs)).ToArray();
        var values = new Core.Windows.FeatureValue[16];
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var times = new double[Math.Min(calls, 500)];
        for (var i = 0; i < times.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            for (var k = 0; k < keys.Length; k++)
            {
                var v = k / perView;
                states[v].LoadForEvaluation(((ReadOnlyMemory<byte>)shares[k][0]).Span, now);
                states[v].Evaluate(now, values.AsSpan(0, views[v].Features.Count));
            }

            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        return Measure.Median(times);
    }

    /// <summary>Sorted latencies in ms of <paramref name="calls"/> sequential calls.</summary>
    internal static async Task<double[]> Latencies(Func<Task> call, int calls)
    {
        var latencies = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await call();
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(latencies);
        return latencies;
    }

    /// <summary>Calls per second with <see cref="Concurrency"/> callers making <paramref name="calls"/> calls in all.</summary>
    internal static async Task<double> Throughput(Func<Task> call, int calls)
    {
        var remaining = calls;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Decrement(ref remaining) >= 0)
            {
                await call();
            }
        })));
        return calls / clock.Elapsed.TotalSeconds;
    }

    /// <summary>The baseline: raw HGETALLs of <paramref name="keys"/>, one pipelined batch, bytes only.</summary>
    internal static async Task RawReadAsync(IDatabase db, RedisKey[] keys)
    {
        var batch = db.CreateBatch();
        var pending = new Task<HashEntry[]>[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            pending[i] = batch.HashGetAllAsync(keys[i]);
        }

        batch.Execute();
        await Task.WhenAll(pending);
    }

    /// <summary>
    /// The baseline on a Redis Cluster: raw HVALS of <paramref name="keys"/> in one pipelined batch, bytes only; the
    /// client sends each command to its key's node, so each node gets its keys' commands in one write, all at once.
    /// </summary>
    internal static async Task RawValuesAsync(IDatabase db, RedisKey[] keys)
    {
        var batch = db.CreateBatch();
        var pending = new Task<RedisValue[]>[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            pending[i] = batch.HashValuesAsync(keys[i]);
        }

        batch.Execute();
        await Task.WhenAll(pending);
    }

    /// <summary>A serving host on free loopback ports over <paramref name="store"/>, started.</summary>
    internal static async Task<FeatureServer> StartServerAsync(CompiledRepository compiled, string prefix, OnlineReadStrategy strategy, IConnectionMultiplexer store)
    {
        var server = FeatureServer.Create(new FeatureServerOptions
        {
            Repository = compiled.Repository,
            KeyPrefix = prefix,
            GrpcPort = FreePort.Next(),
            HttpPort = FreePort.Next(),
            ReadStrategy = strategy,
            // Eight callers decoding 200 states each saturate two cores: measure, do not time out.
            StoreTimeout = TimeSpan.FromSeconds(30),
        }, store);
        await server.StartAsync();
        return server;
    }

    /// <summary>The keys a lookup of <paramref name="entities"/> random users reads: every view's key of each, view by view.</summary>
    internal static RedisKey[] RandomKeys(Random random, int entities, IReadOnlyList<CompiledView> views, OnlineKeys keys)
    {
        var raw = new RedisKey[entities * views.Count];
        for (var e = 0; e < entities; e++)
        {
            var user = User(random.Next(Users));
            for (var v = 0; v < views.Count; v++)
            {
                raw[(v * entities) + e] = keys.Entity(views[v].Groups[0], user);
            }
        }

        return raw;
    }

    internal static string User(int i) => "u" + i.ToString(CultureInfo.InvariantCulture);

    internal static async Task WriteStatesAsync(IDatabase db, IReadOnlyList<CompiledView> views, OnlineKeys keys, long now)
    {
        var random = new Random(1);
        var buffer = new ArrayBufferWriter<byte>(8192);
        var pending = new List<Task>();
        for (var u = 0; u < Users; u++)
        {
            var events = UserEvents(random, now);
            foreach (var view in views)
            {
                pending.Add(db.HashSetAsync(keys.Entity(view.Groups[0], User(u)), OnlineKeys.PartitionField("payments", 0), EncodedState(view, events, buffer)));
            }

            if (pending.Count >= 1000)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }

        await Task.WhenAll(pending);
    }

    /// <summary>A user's 20 payments in the 3 h before <paramref name="now"/> (50 merchants).</summary>
    internal static List<(long Time, double Amount, string Merchant)> UserEvents(Random random, long now) =>
        [.. Enumerable.Range(0, 20).Select(_ => (Time: now - random.NextInt64(3 * 3_600_000), Amount: random.NextDouble() * 500, Merchant: "m" + random.Next(50)))];

    /// <summary>The stored form of <paramref name="view"/>'s state after <paramref name="events"/>, as ingest leaves it.</summary>
    internal static byte[] EncodedState(CompiledView view, List<(long Time, double Amount, string Merchant)> events, ArrayBufferWriter<byte> buffer)
    {
        var state = new ViewWindowState(view.Features, view.TtlMs);
        var inputs = new FeatureInput[view.Features.Count];
        var sequence = 0L;
        foreach (var e in events)
        {
            for (var f = 0; f < inputs.Length; f++)
            {
                inputs[f] = view.Definition.Features[f].Field switch
                {
                    null => FeatureInput.Absent,
                    "merchant_id" => FeatureInput.OfText(e.Merchant),
                    "country" => FeatureInput.OfText("FR"),
                    _ => FeatureInput.OfNumber(e.Amount),
                };
            }

            state.Add(e.Time, sequence++, inputs);
        }

        buffer.Clear();
        state.WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    // One key per DEL, pipelined: a DEL of many keys spans slots on a Redis Cluster.
    internal static async Task CleanupAsync(IDatabase db, IReadOnlyList<CompiledView> views, OnlineKeys keys)
    {
        foreach (var chunk in Enumerable.Range(0, Users).Chunk(500))
        {
            var batch = db.CreateBatch();
            var pending = chunk.SelectMany(u => views.Select(v => batch.KeyDeleteAsync(keys.Entity(v.Groups[0], User(u))))).ToList();
            batch.Execute();
            await Task.WhenAll(pending);
        }
    }
}
