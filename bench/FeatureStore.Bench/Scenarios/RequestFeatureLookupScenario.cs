using System.Diagnostics;
using System.Globalization;
using FeatureStore.Bench.Harness;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Online;
using FeatureStore.Serving.Internal;
using FeatureStore.Testing;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Lookups of 10 stored features with 3 request-time features over them (each row's request context sent with
/// it) against the plain lookup of the same 10 stored features, same server, same entities, same run: the cost
/// of the request context and the expressions. 1 and 100 entities, p50 of sequential calls and throughput of
/// concurrent callers over gRPC on loopback; the states are those of <see cref="LookupScenario"/>. Twice: requests
/// built as messages (a <c>Value</c> per context value), and keyed lookups with the context as columns.
/// </summary>
internal static class RequestFeatureLookupScenario
{
    private const int Users = 10_000;
    private const int Concurrency = 8;
    private static readonly string[] StoredViews = ["user_stats", "user_spend"];
    private static readonly string[] AllViews = ["user_stats", "user_spend", "payment"];

    private const string RequestViews = """

        request_views:
          - name: payment
            context: { amount: double, country: string, placed_at: timestamp }
            features:
              - { name: amount_vs_mean_2h, type: double, expression: amount / user_stats.mean_2h }
              - { name: amount_share_2h, type: double, expression: 'amount / (coalesce(user_spend.sum_2h, 0) + amount)' }
              - { name: new_country_at_night, type: int, expression: 'user_stats.last_country != country && hour(placed_at) < 6 ? 1 : 0' }
        """;

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(string target, IConnectionMultiplexer store, int repetitions, bool quick)
    {
        var load = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("payments") + RequestViews, "bench.yaml");
        if (!load.Success)
        {
            throw new InvalidOperationException(string.Join("\n", load.Diagnostics));
        }

        var compiled = CompiledRepository.Compile(load.Repository!);
        var prefix = "bench" + Guid.NewGuid().ToString("N")[..8];
        var keys = new OnlineKeys(prefix, compiled.Repository.Project);
        var userViews = compiled.Views.Where(v => v.Definition.Entity == "user").ToList(); // 6 + 4 features
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await LookupScenario.WriteStatesAsync(store.GetDatabase(), userViews, keys, now);
        var rows = new List<ResultRow>();
        await using (var server = await LookupScenario.StartServerAsync(compiled, prefix, OnlineReadStrategy.Pipeline, store))
        {
            using var client = new FeatureStoreClient(server.GrpcAddress);
            foreach (var entities in new[] { 1, 100 })
            {
                var calls = quick ? (entities == 1 ? 1000 : 200) : (entities == 1 ? 2000 : 300);
                rows.AddRange(await CompareAsync($"request-time lookup ({target}, messages)", entities, calls, repetitions, client, now, keyed: false));
                rows.AddRange(await CompareAsync($"request-time lookup ({target}, keyed columns)", entities, calls, repetitions, client, now, keyed: true));
            }
        }

        await LookupScenario.CleanupAsync(store.GetDatabase(), userViews, keys);
        return rows;
    }

    /// <summary>
    /// A lookup of <paramref name="entities"/> random users' 10 stored features, with the 3 request-time features and
    /// each row's context when <paramref name="withRequestFeatures"/>, built as a model service builds it per call.
    /// </summary>
    private static GetOnlineFeaturesRequest BuildRequest(Random random, int entities, bool withRequestFeatures, long now)
    {
        var request = new GetOnlineFeaturesRequest { Features = { "user_stats", "user_spend" } };
        if (withRequestFeatures)
        {
            request.Features.Add("payment");
        }

        for (var e = 0; e < entities; e++)
        {
            var row = new EntityRow { JoinKeys = { ["user_id"] = LookupScenario.User(random.Next(Users)) } };
            if (withRequestFeatures)
            {
                row.RequestContext["amount"] = Value.ForNumber(Math.Round(random.NextDouble() * 500, 2));
                row.RequestContext["country"] = Value.ForString(random.Next(4) == 0 ? "FR" : "DE");
                row.RequestContext["placed_at"] = Value.ForNumber(now - random.Next(86_400_000));
            }

            request.Entities.Add(row);
        }

        return request;
    }

    /// <summary>
    /// Where the request-time part of a lookup costs: each stage of the plain and the request-time lookup timed alone
    /// in this process (building the request, parsing it, the lookup without gRPC, encoding and reading the answer,
    /// the whole gRPC call), with CPU time and bytes allocated per call. A profiling aid: <c>request-stages</c>.
    /// </summary>
    public static async Task StagesAsync(IConnectionMultiplexer store, int calls)
    {
        var load = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("payments") + RequestViews, "bench.yaml");
        var compiled = CompiledRepository.Compile(load.Repository!);
        var prefix = "bench" + Guid.NewGuid().ToString("N")[..8];
        var keys = new OnlineKeys(prefix, compiled.Repository.Project);
        var userViews = compiled.Views.Where(v => v.Definition.Entity == "user").ToList();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await LookupScenario.WriteStatesAsync(store.GetDatabase(), userViews, keys, now);
        await using (var server = await LookupScenario.StartServerAsync(compiled, prefix, OnlineReadStrategy.Pipeline, store))
        {
            using var client = new FeatureStoreClient(server.GrpcAddress);
            var lookup = server.Services.GetService(typeof(OnlineLookup)) as OnlineLookup ?? throw new InvalidOperationException();
            var random = new Random(1);
            if (Environment.GetEnvironmentVariable("REQUEST_STAGES_PROFILE") is { } profile)
            {
                // Only gRPC calls, for that many seconds by 8 callers (to record with perf, DOTNET_PerfMapEnabled=1):
                // REQUEST_STAGES_ENTITIES entities (1 by default), request-time ones unless REQUEST_STAGES_PLAIN=1.
                var rows = int.Parse(Environment.GetEnvironmentVariable("REQUEST_STAGES_ENTITIES") ?? "1", CultureInfo.InvariantCulture);
                var with = Environment.GetEnvironmentVariable("REQUEST_STAGES_PLAIN") != "1";
                var until = Stopwatch.StartNew();
                var count = 0;
                await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(c => Task.Run(async () =>
                {
                    var own = new Random(c);
                    while (until.Elapsed.TotalSeconds < double.Parse(profile, CultureInfo.InvariantCulture))
                    {
                        await client.GetOnlineFeaturesAsync(BuildRequest(own, rows, with, now));
                        Interlocked.Increment(ref count);
                    }
                })));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"profiled {count} lookups: {count / until.Elapsed.TotalSeconds:F0}/s"));
                return;
            }

            foreach (var entities in new[] { 1, 100 })
            {
                Console.WriteLine($"--- {entities} entities");
                foreach (var with in new[] { false, true })
                {
                    var kind = with ? "request" : "plain";
                    var bytes = BuildRequest(random, entities, with, now).ToByteArray();
                    var sample = await lookup.LookupAsync(LookupRequest.Parse(bytes), null, CancellationToken.None);
                    var answer = LookupAnswerEncoding.Encode(sample);
                    Console.WriteLine($"{kind}: request {bytes.Length} B, answer {answer.Length} B");
                    var n = entities == 1 ? calls * 5 : calls;
                    await LookupStages.TimeAsync($"{kind}: build+serialize", () =>
                    {
                        BuildRequest(random, entities, with, now).ToByteArray();
                        return Task.CompletedTask;
                    }, n);
                    await LookupStages.TimeAsync($"{kind}: parse (LookupRequest)", () =>
                    {
                        LookupRequest.Parse(bytes);
                        return Task.CompletedTask;
                    }, n);
                    await LookupStages.TimeAsync($"{kind}: lookup (no gRPC)", async () =>
                    {
                        var answered = await lookup.LookupAsync(LookupRequest.Parse(bytes), null, CancellationToken.None);
                        answered.Release();
                    }, n);
                    await LookupStages.TimeAsync($"{kind}: answer encode", () =>
                    {
                        LookupAnswerEncoding.Encode(sample);
                        return Task.CompletedTask;
                    }, n);
                    await LookupStages.TimeAsync($"{kind}: answer read", () =>
                    {
                        var set = OnlineFeatureSet.FromWire(new System.Buffers.ReadOnlySequence<byte>(answer));
                        var sum = 0.0;
                        for (var e = 0; e < entities; e++)
                        {
                            foreach (var feature in set.FeatureNames)
                            {
                                sum += set.GetDouble(e, feature) ?? 0;
                            }
                        }

                        return Task.CompletedTask;
                    }, n);
                    await LookupStages.TimeAsync($"{kind}: gRPC call", async () => await client.GetOnlineFeaturesAsync(BuildRequest(random, entities, with, now)), n);
                    sample.Release();
                }
            }
        }

        await LookupScenario.CleanupAsync(store.GetDatabase(), userViews, keys);
    }

    /// <summary>
    /// The same users' keyed lookup (<see cref="FeatureStoreClient.GetOnlineFeaturesAsync(IReadOnlyList{string}, string, IReadOnlyList{string}, DateTimeOffset?, CancellationToken)"/>),
    /// with the context as columns (<see cref="RequestContextColumns"/>) when <paramref name="withRequestFeatures"/>: how a
    /// model service scoring a batch of payments calls, with no message per row or value.
    /// </summary>
    private static Task<OnlineFeatureSet> KeyedAsync(FeatureStoreClient client, Random random, int entities, bool withRequestFeatures, long now)
    {
        var users = new string[entities];
        for (var e = 0; e < entities; e++)
        {
            users[e] = LookupScenario.User(random.Next(Users));
        }

        if (!withRequestFeatures)
        {
            return client.GetOnlineFeaturesAsync(StoredViews, "user_id", users);
        }

        var amounts = new double[entities];
        var countries = new string?[entities];
        var placed = new DateTimeOffset[entities];
        for (var e = 0; e < entities; e++)
        {
            amounts[e] = Math.Round(random.NextDouble() * 500, 2);
            countries[e] = random.Next(4) == 0 ? "FR" : "DE";
            placed[e] = DateTimeOffset.FromUnixTimeMilliseconds(now - random.Next(86_400_000));
        }

        var context = new RequestContextColumns(entities).Add("amount", amounts).Add("country", countries).Add("placed_at", placed);
        return client.GetOnlineFeaturesAsync(AllViews, "user_id", users, context);
    }

    private static async Task<IReadOnlyList<ResultRow>> CompareAsync(string scenario, int entities, int calls, int repetitions, FeatureStoreClient client, long now, bool keyed)
    {
        var random = new Random(entities);
        GetOnlineFeaturesRequest Request(bool withRequestFeatures) => BuildRequest(random, entities, withRequestFeatures, now);

        // As a model service builds its request per call and reads every value of the answer as a number.
        async Task Run(bool withRequestFeatures, int expected)
        {
            var answer = keyed ? await KeyedAsync(client, random, entities, withRequestFeatures, now) : await client.GetOnlineFeaturesAsync(Request(withRequestFeatures));
            if (answer.RowCount != entities || answer.FeatureNames.Count != expected)
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

        Task Plain() => Run(false, 10);
        Task WithRequest() => Run(true, 13);

        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Plain();
            await WithRequest();
        }

        await LookupScenario.Throughput(Plain, 4 * Concurrency);
        await LookupScenario.Throughput(WithRequest, 4 * Concurrency);
        var (p50, throughput, plainP50, plainThroughput) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
        for (var rep = 0; rep < repetitions; rep++)
        {
            // Interleaved, so a noisy moment of the machine falls on both.
            plainP50.Add(Measure.Quantile(await LookupScenario.Latencies(Plain, calls), 0.5));
            p50.Add(Measure.Quantile(await LookupScenario.Latencies(WithRequest, calls), 0.5));
            plainThroughput.Add(await LookupScenario.Throughput(Plain, calls));
            throughput.Add(await LookupScenario.Throughput(WithRequest, calls));
        }

        var shape = $"{entities.ToString(CultureInfo.InvariantCulture)} × (10 stored + 3 request-time)";
        var baseline = $"the same lookup of the 10 stored features";
        return
        [
            new ResultRow(scenario, $"{shape}: p50", Measure.Median(p50), "ms", baseline, Measure.Median(plainP50)),
            new ResultRow(scenario, $"{shape}: throughput, {Concurrency} callers", Measure.Median(throughput), "lookups/s", baseline, Measure.Median(plainThroughput)),
        ];
    }
}
