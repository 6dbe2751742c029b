using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using FeatureStore.Bench.Harness;
using FeatureStore.Client;
using FeatureStore.Core.Definitions;
using FeatureStore.Ingest;
using FeatureStore.Kafka.Embedded;
using FeatureStore.Serving;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// The push round trip over gRPC on loopback (the serving host in this process, a real client over a real port,
/// the embedded broker, the real ingest job writing to the store): one call of 1 and of 100 events, answered once
/// Kafka has them, and with wait online, once ingest has applied them; against a raw idempotent producer's
/// acknowledged send of the same events to the same broker, in the same run. Sequential calls; p50 and p99 per run,
/// medians of the runs. Ingest runs with its default batch delay (100 ms); with <c>fetchWaitMs</c> its consumer's
/// <c>fetch.wait.max.ms</c> is set (librdkafka's default is 500 ms, and the embedded mock broker holds an empty fetch
/// that long even when events arrive meanwhile, where Kafka answers it as soon as they do).
/// </summary>
internal static class PushScenario
{
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(string target, IConnectionMultiplexer store, EmbeddedKafkaCluster kafka, int repetitions, bool quick, int? fetchWaitMs = null)
    {
        var topic = "push-bench-" + Guid.NewGuid().ToString("N")[..8];
        kafka.CreateTopic(topic, 4);
        var load = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml(topic), "bench.yaml");
        var compiled = CompiledRepository.Compile(load.Repository!);
        var prefix = "pbench" + Guid.NewGuid().ToString("N")[..8];
        using var metrics = new IngestMetrics();
        using var stop = new CancellationTokenSource();
        var job = IngestJobFactory.Create(compiled, new IngestOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "ingest",
            KafkaSettings = fetchWaitMs is { } wait ? new Dictionary<string, string> { ["fetch.wait.max.ms"] = wait.ToString(CultureInfo.InvariantCulture) } : new Dictionary<string, string>(),
        }, store.GetDatabase(), prefix, metrics, NullLogger.Instance);
        var ingest = Task.Run(() => job.RunAsync(stop.Token));
        await using var server = FeatureServer.Create(new FeatureServerOptions
        {
            Repository = compiled.Repository,
            KeyPrefix = prefix,
            GrpcPort = FreePort.Next(),
            HttpPort = FreePort.Next(),
            StoreTimeout = TimeSpan.FromSeconds(30),
            Push = new PushOptions { BootstrapServers = kafka.BootstrapServers, IngestGroup = "ingest" },
        }, store);
        await server.StartAsync();
        using var client = new FeatureStoreClient(server.GrpcAddress, new FeatureStoreClientOptions { Timeout = TimeSpan.FromSeconds(60) });
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 1,
        }).Build();

        var random = new Random(11);
        (string User, string Json) Event()
        {
            var user = "u" + random.Next(10_000).ToString(CultureInfo.InvariantCulture);
            return (user, string.Create(CultureInfo.InvariantCulture,
                $$"""{"user_id":"{{user}}","merchant_id":"m{{random.Next(20)}}","amount":{{random.Next(50_000) / 100.0}},"country":"FR","ts":{{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}}}"""));
        }

        var rows = new List<ResultRow>();
        foreach (var events in new[] { 1, 100 })
        {
            (string User, string Json)[] Batch() => [.. Enumerable.Range(0, events).Select(_ => Event())];

            // The same events keyed by user, as push keys them, each acknowledged by the broker (acks=all).
            async Task Raw()
            {
                var sends = Batch().Select(e => producer.ProduceAsync(topic, new Message<byte[], byte[]> { Key = System.Text.Encoding.UTF8.GetBytes(e.User), Value = System.Text.Encoding.UTF8.GetBytes(e.Json) }));
                await Task.WhenAll(sends);
            }

            Task Push() => client.PushEventsAsync("payments", Batch().Select(e => e.Json));
            async Task PushOnline()
            {
                var answer = await client.PushEventsAsync("payments", Batch().Select(e => e.Json), waitOnline: true);
                if (!answer.Applied)
                {
                    throw new InvalidOperationException("a push waiting online answered before it was applied");
                }
            }

            // Warm up: the producer's connections, the consumer group's assignment, the JIT.
            var warm = Stopwatch.StartNew();
            while (warm.Elapsed < TimeSpan.FromSeconds(quick ? 5 : 10))
            {
                await Raw();
                await Push();
                await PushOnline();
            }

            var calls = quick ? 100 : 300;
            var onlineCalls = quick ? 50 : 150;
            var (raw50, raw99, push50, push99, online50, online99) = (new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>());
            for (var rep = 0; rep < repetitions; rep++)
            {
                (var a, var b) = await LatenciesAsync(Raw, calls);
                raw50.Add(a);
                raw99.Add(b);
                (a, b) = await LatenciesAsync(Push, calls);
                push50.Add(a);
                push99.Add(b);
                (a, b) = await LatenciesAsync(PushOnline, onlineCalls);
                online50.Add(a);
                online99.Add(b);
            }

            var name = $"push ({target}{(fetchWaitMs is { } w ? $", ingest fetch.wait.max.ms={w}" : "")}), {events} event{(events == 1 ? "" : "s")}";
            var baseline = $"raw idempotent produce, {events} event{(events == 1 ? "" : "s")}";
            rows.Add(new ResultRow(name, "p50", Measure.Median(push50), "ms", baseline, Measure.Median(raw50)));
            rows.Add(new ResultRow(name, "p99", Measure.Median(push99), "ms", baseline, Measure.Median(raw99)));
            rows.Add(new ResultRow(name + ", wait online", "p50", Measure.Median(online50), "ms", baseline, Measure.Median(raw50)));
            rows.Add(new ResultRow(name + ", wait online", "p99", Measure.Median(online99), "ms", baseline, Measure.Median(raw99)));
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name}: raw p50/p99 {Measure.Median(raw50):0.00}/{Measure.Median(raw99):0.00} ms, push {Measure.Median(push50):0.00}/{Measure.Median(push99):0.00} ms, wait online {Measure.Median(online50):0.00}/{Measure.Median(online99):0.00} ms"));
        }

        await stop.CancelAsync();
        await ingest;
        return rows;
    }

    /// <summary>p50 and p99 in ms of <paramref name="calls"/> sequential calls.</summary>
    private static async Task<(double P50, double P99)> LatenciesAsync(Func<Task> call, int calls)
    {
        var times = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await call();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(times);
        return (Measure.Quantile(times, 0.5), Measure.Quantile(times, 0.99));
    }
}
