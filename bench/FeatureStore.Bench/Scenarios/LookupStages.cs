using System.Diagnostics;
using System.Globalization;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Online;
using FeatureStore.Serving.Internal;
using FeatureStore.Testing;
using Google.Protobuf;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Where the time of a lookup goes: each stage of 100 × 10 and 1 × 10 lookups timed alone in this process
/// (raw reads, the server's read by each strategy, request parsing, the lookup without gRPC, the client's
/// reading of an answer, the whole gRPC call), each warmed up until the JIT is quiet, with its CPU time, bytes
/// allocated, collections, GC pauses and methods compiled per call. A profiling aid, not a scenario with a
/// baseline: <c>lookup-stages</c>. With LOOKUP_STAGES_PROFILE=SECONDS it only makes one stage's calls for that long
/// (to record with <c>perf</c>, DOTNET_PerfMapEnabled=1): the stage whose name holds LOOKUP_STAGES_STAGE (the last,
/// lookups over a lookup stream, by default), of LOOKUP_STAGES_ENTITIES entities (100 by default, or 1) by
/// LOOKUP_STAGES_CALLERS callers at once (1 by default; the throughput rows have 8), and prints their rate.
/// LOOKUP_STAGES_STORE=redis-server runs it on a redis-server of its own; LOOKUP_STAGES_STRATEGY=transaction (or
/// script, pipeline) reads by that strategy only. One row reads the states cut to 60% of
/// their bytes: what a lookup's fetch would cost if raw entries were stored apart from the tiles.
/// </summary>
internal static class LookupStages
{
    private const int Users = 10_000;

    public static async Task RunAsync(IConnectionMultiplexer store, int calls)
    {
        var load = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("payments"), "bench.yaml");
        var compiled = CompiledRepository.Compile(load.Repository!);
        var prefix = "stages" + Guid.NewGuid().ToString("N")[..8];
        var keys = new OnlineKeys(prefix, compiled.Repository.Project);
        var views = compiled.Views.Where(v => v.Definition.Entity == "user").ToList();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var db = store.GetDatabase();
        var random = new Random(1);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(8192);
        var writes = new List<Task>();
        for (var u = 0; u < Users; u++)
        {
            var events = LookupScenario.UserEvents(random, now);
            foreach (var view in views)
            {
                writes.Add(db.HashSetAsync(keys.Entity(view.Groups[0], User(u)), OnlineKeys.PartitionField("payments", 0), LookupScenario.EncodedState(view, events, buffer)));
            }
        }

        await Task.WhenAll(writes);

        // The same states cut to 60% of their bytes, under other keys: what reading them would cost if the
        // raw entries (~40% of a state) were stored apart from the tiles (a what-if: these do not decode).
        var cut = new RedisKey[Users * views.Count];
        writes.Clear();
        for (var u = 0; u < Users; u++)
        {
            for (var v = 0; v < views.Count; v++)
            {
                var key = keys.Entity(views[v].Groups[0], User(u));
                cut[(v * Users) + u] = "cut:" + (string?)key;
                var state = (byte[])(await db.HashGetAsync(key, OnlineKeys.PartitionField("payments", 0)))!;
                writes.Add(db.HashSetAsync(cut[(v * Users) + u], OnlineKeys.PartitionField("payments", 0), state.AsSpan(0, state.Length * 6 / 10).ToArray()));
            }
        }

        await Task.WhenAll(writes);
        Console.WriteLine($"GC: server={System.Runtime.GCSettings.IsServerGC} latency={System.Runtime.GCSettings.LatencyMode} cores={Environment.ProcessorCount}");
        // LOOKUP_STAGES_STRATEGY=script|transaction|pipeline: that strategy alone.
        OnlineReadStrategy[] strategies = Environment.GetEnvironmentVariable("LOOKUP_STAGES_STRATEGY") is { } chosen
            ? [Enum.Parse<OnlineReadStrategy>(chosen, ignoreCase: true)]
            : [OnlineReadStrategy.Script, OnlineReadStrategy.Transaction, OnlineReadStrategy.Pipeline];
        foreach (var strategy in strategies)
        {
            await using var server = await LookupScenario.StartServerAsync(compiled, prefix, strategy, store);
            using var client = new FeatureStoreClient(server.GrpcAddress);
            await using var stream = client.OpenLookupStream();
            var lookup = server.Services.GetService(typeof(OnlineLookup)) as OnlineLookup ?? throw new InvalidOperationException();
            var reader = server.Services.GetService(typeof(OnlineStateReader)) as OnlineStateReader ?? throw new InvalidOperationException();
            var only = Environment.GetEnvironmentVariable("LOOKUP_STAGES_PROFILE") is null ? null : Environment.GetEnvironmentVariable("LOOKUP_STAGES_ENTITIES");
            foreach (var entities in only is null ? new[] { 100, 1 } : [int.Parse(only, CultureInfo.InvariantCulture)])
            {
                string[] features = [.. views.Select(v => v.Name)];
                GetOnlineFeaturesRequest Request(string user = "u")
                {
                    var request = new GetOnlineFeaturesRequest { Features = { features } };
                    for (var e = 0; e < entities; e++)
                    {
                        request.Entities.Add(new EntityRow { JoinKeys = { ["user_id"] = user + Random.Shared.Next(Users).ToString(CultureInfo.InvariantCulture) } });
                    }

                    return request;
                }

                RedisKey[] RawKeys() => LookupScenario.RandomKeys(random, entities, views, keys);

                Task RawBatchAsync() => LookupScenario.RawReadAsync(db, RawKeys());

                var sample = Request();
                var requestBytes = sample.ToByteArray();
                var answerSample = await lookup.LookupAsync(LookupRequest.From(sample), null, CancellationToken.None);
                var answerBytes = LookupAnswerEncoding.Encode(answerSample);
                answerSample.Release();
                // Every value of an answer read as a number, as a model service builds its feature vector.
                double ReadValues(OnlineFeatureSet answer)
                {
                    var sum = 0.0;
                    for (var e = 0; e < entities; e++)
                    {
                        foreach (var feature in answer.FeatureNames)
                        {
                            sum += answer.GetDouble(e, feature) ?? 0;
                        }
                    }

                    return sum;
                }

                var stages = new (string Name, Func<Task> Call)[]
                {
                    ("raw HGETALL batch", RawBatchAsync),
                    ("raw HGETALL batch, states cut to 60%", async () =>
                    {
                        var batch = db.CreateBatch();
                        var pending = new Task<HashEntry[]>[entities * views.Count];
                        for (var e = 0; e < entities; e++)
                        {
                            var user = random.Next(Users);
                            for (var v = 0; v < views.Count; v++)
                            {
                                pending[(v * entities) + e] = batch.HashGetAllAsync(cut[(v * Users) + user]);
                            }
                        }

                        batch.Execute();
                        await Task.WhenAll(pending);
                    }),
                    ("raw HGETALL batch (again)", RawBatchAsync),
                    ($"server read ({strategy})", async () =>
                    {
                        var raw = RawKeys();
                        using var shares = await reader.ReadAsync(raw, raw.Length, TimeSpan.FromSeconds(30), CancellationToken.None);
                    }),
                    ("request parse", () =>
                    {
                        GetOnlineFeaturesRequest.Parser.ParseFrom(requestBytes);
                        return Task.CompletedTask;
                    }),
                    ("request parse (LookupRequest)", () =>
                    {
                        LookupRequest.Parse(requestBytes);
                        return Task.CompletedTask;
                    }),
                    ("request build+serialize", () =>
                    {
                        Request().ToByteArray();
                        return Task.CompletedTask;
                    }),
                    ("lookup (no gRPC)", async () =>
                    {
                        var answer = await lookup.LookupAsync(LookupRequest.Parse(Request().ToByteArray()), null, CancellationToken.None);
                        answer.Release();
                    }),
                    ("lookup of absent keys (no gRPC)", async () =>
                    {
                        var answer = await lookup.LookupAsync(LookupRequest.Parse(Request("absent").ToByteArray()), null, CancellationToken.None);
                        answer.Release();
                    }),
                    ("answer read (client index)", () =>
                    {
                        var set = OnlineFeatureSet.FromWire(new System.Buffers.ReadOnlySequence<byte>(answerBytes));
                        var sum = 0.0;
                        for (var e = 0; e < entities; e++)
                        {
                            foreach (var feature in set.FeatureNames)
                            {
                                sum += set.GetDouble(e, feature) ?? 0;
                            }
                        }

                        return Task.CompletedTask;
                    }),
                    ("gRPC lookup of absent keys", async () =>
                    {
                        await client.GetOnlineFeaturesAsync(Request("absent"));
                    }),
                    ("gRPC lookup + read values", async () => ReadValues(await client.GetOnlineFeaturesAsync(Request()))),
                    ("gRPC lookup over a stream + read values", async () => ReadValues(await stream.GetOnlineFeaturesAsync(Request()))),
                };

                if (Environment.GetEnvironmentVariable("LOOKUP_STAGES_PROFILE") is { } profile
                    && entities == int.Parse(Environment.GetEnvironmentVariable("LOOKUP_STAGES_ENTITIES") ?? "100", CultureInfo.InvariantCulture))
                {
                    // Callers at once (LOOKUP_STAGES_CALLERS, 1 by default): 8 is the throughput rows' shape.
                    var callers = int.Parse(Environment.GetEnvironmentVariable("LOOKUP_STAGES_CALLERS") ?? "1", CultureInfo.InvariantCulture);
                    // The stage whose name holds LOOKUP_STAGES_STAGE, the last (streamed lookups) by default.
                    var stage = Environment.GetEnvironmentVariable("LOOKUP_STAGES_STAGE");
                    var profiled = stage is null ? stages[^1] : stages.First(s => s.Name.Contains(stage, StringComparison.Ordinal));
                    var seconds = double.Parse(profile, CultureInfo.InvariantCulture);
                    var until = Stopwatch.StartNew();
                    var count = 0;
                    await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
                    {
                        while (until.Elapsed.TotalSeconds < seconds)
                        {
                            await profiled.Call();
                            Interlocked.Increment(ref count);
                        }
                    })));

                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"profiled {count} lookups by {callers} callers: {count / until.Elapsed.TotalSeconds:F0}/s"));
                    return;
                }

                Console.WriteLine($"--- {strategy}, {entities} × 10 (request {requestBytes.Length} B, answer {answerBytes.Length} B)");
                foreach (var (name, call) in stages)
                {
                    await TimeAsync(name, call, entities == 1 ? calls * 5 : calls);
                }
            }
        }
    }

    /// <summary>
    /// Calls <paramref name="call"/> in rounds of <paramref name="round"/> until a round after the third compiles no
    /// method (the JIT is quiet), or for 30 s at most; answers how long it took.
    /// </summary>
    public static async Task<TimeSpan> WarmAsync(Func<Task> call, int round)
    {
        var warm = Stopwatch.StartNew();
        for (var rounds = 0; warm.Elapsed.TotalSeconds < 30; rounds++)
        {
            var before = System.Runtime.JitInfo.GetCompiledMethodCount();
            for (var i = 0; i < round; i++)
            {
                await call();
            }

            if (rounds >= 3 && System.Runtime.JitInfo.GetCompiledMethodCount() == before)
            {
                break;
            }
        }

        return warm.Elapsed;
    }

    /// <summary>
    /// Times <paramref name="n"/> calls of one stage after warming it until the JIT is quiet, and prints its p50, p99,
    /// CPU time, bytes allocated, collections, GC pauses and methods compiled per call.
    /// </summary>
    public static async Task TimeAsync(string name, Func<Task> call, int n)
    {
        var warm = await WarmAsync(call, 50);
        Console.Write($"(warm {warm.TotalSeconds:0.0} s) ");

        var times = new double[n];
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var gen0 = GC.CollectionCount(0);
        var gen1 = GC.CollectionCount(1);
        var pause = GC.GetTotalPauseDuration();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var jit = System.Runtime.JitInfo.GetCompilationTime();
        var jitted = System.Runtime.JitInfo.GetCompiledMethodCount();
        for (var i = 0; i < n; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await call();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        jit = System.Runtime.JitInfo.GetCompilationTime() - jit;
        jitted = System.Runtime.JitInfo.GetCompiledMethodCount() - jitted;
        Array.Sort(times);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-36} p50 {times[n / 2],7:0.000} ms  p99 {times[(int)(n * 0.99)],7:0.000} ms  cpu {cpu.TotalMilliseconds / n,7:0.000} ms  alloc {allocated / n / 1024.0,7:0.0} KiB  gen0 {(GC.CollectionCount(0) - gen0) / (double)n,5:0.00}/call gen1 {GC.CollectionCount(1) - gen1,3} pause {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds / n,6:0.000} ms/call jit {jitted} methods {jit.TotalMilliseconds:0} ms"));
    }

    private static string User(int i) => "u" + i.ToString(CultureInfo.InvariantCulture);
}
