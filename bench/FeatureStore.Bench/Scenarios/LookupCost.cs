using System.Diagnostics;
using System.Globalization;
using FeatureStore.Bench.Harness;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Online;
using FeatureStore.Serving.Internal;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// What one call costs this process, not how fast it goes: bytes allocated and CPU µs per call, which a busy
/// machine changes far less than a rate. Calls are made one after another by a client in this process (its share
/// is in every row, and alone in the "client alone" rows) against a redis-server of its own (whose CPU is not
/// counted): an empty call on a minimal ASP.NET Core gRPC service, the cheapest call on ours (DescribeEntity,
/// from the cached registry), and lookups of 1 and 100 entities × 10 features, with and without gRPC, by each
/// read strategy. A profiling aid (<c>lookup-cost</c>), not part of a full run.
/// </summary>
internal static class LookupCost
{
    public static async Task RunAsync(IConnectionMultiplexer store, int calls)
    {
        var load = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("payments"), "bench.yaml");
        var compiled = CompiledRepository.Compile(load.Repository!);
        var prefix = "cost" + Guid.NewGuid().ToString("N")[..8];
        var keys = new OnlineKeys(prefix, compiled.Repository.Project);
        var views = compiled.Views.Where(v => v.Definition.Entity == "user").ToList();
        await LookupScenario.WriteStatesAsync(store.GetDatabase(), views, keys, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        string[] features = [.. views.Select(v => v.Name)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"GC: server={System.Runtime.GCSettings.IsServerGC} cores={Environment.ProcessorCount}; {calls} calls per row (×5 for 1-entity rows); per call: CPU µs of this process, bytes allocated"));
        var random = new Random(7);
        string[] Users(int entities)
        {
            var users = new string[entities];
            for (var e = 0; e < entities; e++)
            {
                users[e] = LookupScenario.User(random.Next(10_000));
            }

            return users;
        }

        var describe = new DescribeRequest { Name = "user" };
        foreach (var strategy in new[] { OnlineReadStrategy.Pipeline, OnlineReadStrategy.Script, OnlineReadStrategy.Transaction })
        {
            await using var server = await LookupScenario.StartServerAsync(compiled, prefix, strategy, store);
            using var client = new FeatureStoreClient(server.GrpcAddress);
            var lookup = server.Services.GetService(typeof(OnlineLookup)) as OnlineLookup ?? throw new InvalidOperationException();
            var reply = await client.Registry.DescribeEntityAsync(describe);
            await using var minimal = await MinimalGrpcServer.StartAsync(reply);
            using var minimalClient = new FeatureStoreClient(minimal.Address);
            var name = strategy.ToString().ToLowerInvariant();
            if (strategy == OnlineReadStrategy.Pipeline)
            {
                await CostAsync("empty call, minimal gRPC service", async () => _ = await minimalClient.Registry.DescribeEntityAsync(describe), calls * 5);
                await CostAsync("empty call, ours (DescribeEntity)", async () => _ = await client.Registry.DescribeEntityAsync(describe), calls * 5);
            }

            foreach (var entities in new[] { 1, 100 })
            {
                var n = entities == 1 ? calls * 5 : calls;
                var sample = await client.GetOnlineFeaturesAsync(features, "user_id", Users(entities));
                var encoded = new GetOnlineFeaturesRequest { Features = { features } };
                foreach (var user in Users(entities))
                {
                    encoded.Entities.Add(new EntityRow { JoinKeys = { ["user_id"] = user } });
                }

                var requestBytes = Google.Protobuf.MessageExtensions.ToByteArray(encoded);
                if (strategy == OnlineReadStrategy.Pipeline)
                {
                    await CostAsync($"{entities} × 10, client alone (request built, answer read)", () =>
                    {
                        _ = Users(entities);
                        Read(sample);
                        return Task.CompletedTask;
                    }, n);
                }

                await CostAsync($"{entities} × 10, {name}, lookup without gRPC", async () =>
                {
                    var answer = await lookup.LookupAsync(LookupRequest.Parse(requestBytes), null, CancellationToken.None);
                    answer.Release();
                }, n);
                await CostAsync($"{entities} × 10, {name}, unary gRPC lookup", async () => Read(await client.GetOnlineFeaturesAsync(features, "user_id", Users(entities))), n);
            }
        }

        await LookupScenario.CleanupAsync(store.GetDatabase(), views, keys);
    }

    private static double Read(OnlineFeatureSet answer)
    {
        var sum = 0.0;
        for (var e = 0; e < answer.RowCount; e++)
        {
            foreach (var feature in answer.FeatureNames)
            {
                sum += answer.GetDouble(e, feature) ?? 0;
            }
        }

        return sum;
    }

    /// <summary>Warms <paramref name="call"/> until the JIT is quiet, then prints CPU µs and bytes per call over <paramref name="n"/> sequential calls.</summary>
    private static async Task CostAsync(string name, Func<Task> call, int n)
    {
        await LookupStages.WarmAsync(call, 200);

        // Three runs, the median of each figure: another process's burst lands in one of them.
        var (cpu, bytes) = (new double[3], new double[3]);
        for (var run = 0; run < 3; run++)
        {
            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var start = Process.GetCurrentProcess().TotalProcessorTime;
            for (var i = 0; i < n; i++)
            {
                await call();
            }

            cpu[run] = (Process.GetCurrentProcess().TotalProcessorTime - start).TotalMicroseconds / n;
            bytes[run] = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)n;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {Measure.Median(bytes):0} | {Measure.Median(cpu):0} |"));
        if (Environment.GetEnvironmentVariable("LOOKUP_COST_TYPES") is { } types && name.Contains(types, StringComparison.Ordinal))
        {
            // What is allocated, by type: the runtime's allocation ticks (one per ~100 KB allocated), counted.
            using var listener = new AllocationTicks();
            for (var i = 0; i < n * 4; i++)
            {
                await call();
            }

            foreach (var (type, ticks) in listener.Top(25))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {ticks,5} {type}"));
            }
        }
    }

    /// <summary>Counts the runtime's GC allocation ticks by type name.</summary>
    private sealed class AllocationTicks : System.Diagnostics.Tracing.EventListener
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _ticks = new();

        public IEnumerable<(string Type, int Ticks)> Top(int n) => _ticks.OrderByDescending(t => t.Value).Take(n).Select(t => (t.Key, t.Value));

        protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs eventData)
        {
            if (eventData.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true && eventData.PayloadNames is { } names)
            {
                var type = eventData.Payload![names.IndexOf("TypeName")] as string ?? "?";
                _ticks.AddOrUpdate(type, 1, static (_, c) => c + 1);
            }
        }
    }
}
