using System.Diagnostics;
using System.Globalization;
using System.Net;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Ingest;
using FeatureStore.Ingest.Tests;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Testing;
using Google.Protobuf;

namespace FeatureStore.Reliability;

/// <summary>
/// A bounded load test of `featurestore serve` as its own process while ingest writes the same store: a
/// fixed number of lookups from many concurrent gRPC and HTTP clients over loopback, in rounds; p50/p99
/// and errors per transport, and the server's resident memory sampled throughout, which must level off.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LoadTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private const int Rounds = 3;
    private const int GrpcClients = 8;
    private const int GrpcPerClient = 60;
    private const int HttpClients = 8;
    private const int HttpPerClient = 30;
    private const int EntitiesPerLookup = 10;

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-load-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Lookups_under_load_while_ingest_runs_have_no_error_and_bounded_memory()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("load", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 30_000, users: 500, seed: 81, nowMs: now);
        var file = Path.Combine(_dir, "load.yaml");
        await File.WriteAllTextAsync(file, scenario.RepositoryYaml, Ct);
        int grpcPort = FreePort.Next(), httpPort = FreePort.Next();
        await using var serve = ChildProcess.StartDotnet(TestCli.Path,
        [
            "serve", "-f", file, "--redis", redis.Connection.Endpoint, "--key-prefix", scenario.KeyPrefix,
            "--grpc-port", grpcPort.ToString(CultureInfo.InvariantCulture), "--http-port", httpPort.ToString(CultureInfo.InvariantCulture),
            "--store-timeout-ms", "5000", // this machine's two cores are shared: the default 1 s bound is for production hosts
        ],
        // A 32 MB gen0 budget: the server collects often, so its resident memory follows what it retains
        // (with the default budget, gen0 alone may grow by hundreds of MB before a first collection).
        new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0x2000000" });
        await serve.WaitForLineAsync(l => l.StartsWith("serving:", StringComparison.Ordinal), TimeSpan.FromSeconds(60), Ct);

        // Ingest runs in this process meanwhile, writing the keys the lookups read.
        var db = redis.Connection.Database;
        using var metrics = new IngestMetrics();
        using var stopIngest = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var ingest = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics).RunAsync(stopIngest.Token), Ct);

        using var memory = new MemorySampler(serve.Id);
        var grpcAddress = new Uri($"http://127.0.0.1:{grpcPort}");
        var channels = Enumerable.Range(0, 2).Select(_ => new FeatureStoreClient(grpcAddress)).ToArray();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = HttpClients }) { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            await RunRoundAsync(channels, http, 2, 20, 2, 10, seed: 0); // warm-up: JIT, pools, connections

            // The rounds measure lookups while ingest writes: they start once it has joined its group and applies events.
            await Eventually.TrueAsync(() => Task.FromResult(metrics.EventsTotal > 0), TimeSpan.FromSeconds(60), "ingest applied its first events", Ct);
            memory.Mark();
            var results = new List<RoundResult>();
            var ingestedAtStart = metrics.EventsTotal;

            // Events keep arriving while the lookups run (paced, at most 600 batches of 500), so ingest has work
            // throughout however fast this machine drains the first 30 000.
            using var stopProducing = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var producing = Task.Run(async () =>
            {
                for (var batch = 0; batch < 600 && !stopProducing.IsCancellationRequested; batch++)
                {
                    scenario.Produce(kafka.BootstrapServers, count: 500, users: 500, seed: 1000 + batch, nowMs: now, firstIndex: 30_000 + (batch * 500));
                    await Task.WhenAny(Task.Delay(100, stopProducing.Token));
                }
            }, Ct);
            try
            {
                for (var round = 1; round <= Rounds; round++)
                {
                    results.Add(await RunRoundAsync(channels, http, GrpcClients, GrpcPerClient, HttpClients, HttpPerClient, seed: round));
                    memory.Mark();
                }
            }
            finally
            {
                await stopProducing.CancelAsync();
                await producing.WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
            }

            var ingestedDuring = metrics.EventsTotal - ingestedAtStart;
            var grpc = results.SelectMany(r => r.Grpc).Order().ToArray();
            var httpTimes = results.SelectMany(r => r.Http).Order().ToArray();
            var errors = results.Sum(r => r.Errors.Count);
            var peaks = memory.PeaksMb();
            Assert.True(errors == 0, "errors: " + string.Join("; ", results.SelectMany(r => r.Errors).Take(10)));
            Assert.Equal(Rounds * GrpcClients * GrpcPerClient, grpc.Length);
            Assert.Equal(Rounds * HttpClients * HttpPerClient, httpTimes.Length);
            Assert.True(ingestedDuring > 0, $"ingest must run during the load: {ingestedAtStart} events applied before it, as many after; the job is {ingest.Status} {ingest.Exception?.GetBaseException().Message}");

            // Memory levels off: the last round's peak within 25% (plus 48 MB of GC slack) of the first's.
            Assert.True(peaks[^1] <= (peaks[1] * 1.25) + 48, $"resident memory per round (MB): {string.Join(", ", peaks.Select(p => p.ToString("0", CultureInfo.InvariantCulture)))}");
            Figures.Report("load / lookups while ingest runs",
                $"requests={grpc.Length + httpTimes.Length} (gRPC {grpc.Length} from {GrpcClients} clients, HTTP {httpTimes.Length} from {HttpClients} clients, {EntitiesPerLookup} entities × 10 features each) errors={errors}; "
                + $"gRPC p50={Percentile(grpc, 0.5):0.0} ms p99={Percentile(grpc, 0.99):0.0} ms; HTTP p50={Percentile(httpTimes, 0.5):0.0} ms p99={Percentile(httpTimes, 0.99):0.0} ms; "
                + $"events ingested meanwhile={ingestedDuring}; server RSS peak per round (MB, warm-up first)={string.Join(" → ", peaks.Select(p => p.ToString("0", CultureInfo.InvariantCulture)))}");
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }

            await stopIngest.CancelAsync();
            await ingest.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        }
    }

    private static GetOnlineFeaturesRequest Request(Random random)
    {
        var request = new GetOnlineFeaturesRequest { Features = { "user_stats", "merchant_stats:n_1h" } };
        for (var e = 0; e < EntitiesPerLookup; e++)
        {
            request.Entities.Add(new EntityRow
            {
                JoinKeys = { ["user_id"] = "u" + random.Next(500).ToString(CultureInfo.InvariantCulture), ["merchant_id"] = "m" + random.Next(50).ToString(CultureInfo.InvariantCulture) },
            });
        }

        return request;
    }

    private static async Task<RoundResult> RunRoundAsync(FeatureStoreClient[] channels, HttpClient http, int grpcClients, int grpcEach, int httpClients, int httpEach, int seed)
    {
        var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
        var grpcTimes = new List<double>[grpcClients];
        var httpTimes = new List<double>[httpClients];
        var grpcTasks = Enumerable.Range(0, grpcClients).Select(c => Task.Run(async () =>
        {
            var random = new Random((seed * 1000) + c);
            var times = grpcTimes[c] = new List<double>(grpcEach);
            var client = channels[c % channels.Length];
            for (var i = 0; i < grpcEach; i++)
            {
                var clock = Stopwatch.StartNew();
                try
                {
                    var response = await client.Online.GetOnlineFeaturesAsync(Request(random), deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: Ct);
                    Assert.Equal(EntitiesPerLookup, response.Rows.Count);
                    times.Add(clock.Elapsed.TotalMilliseconds);
                }
                catch (Grpc.Core.RpcException ex)
                {
                    errors.Add($"gRPC {ex.StatusCode} after {clock.Elapsed.TotalMilliseconds:0} ms: {ex.Status.Detail}");
                }
            }
        }, Ct));
        var httpTasks = Enumerable.Range(0, httpClients).Select(c => Task.Run(async () =>
        {
            var random = new Random((seed * 1000) + 500 + c);
            var times = httpTimes[c] = new List<double>(httpEach);
            for (var i = 0; i < httpEach; i++)
            {
                var clock = Stopwatch.StartNew();
                try
                {
                    using var response = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), new StringContent(JsonFormatter.Default.Format(Request(random))), Ct);
                    _ = await response.Content.ReadAsByteArrayAsync(Ct);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        times.Add(clock.Elapsed.TotalMilliseconds);
                    }
                    else
                    {
                        errors.Add($"HTTP {(int)response.StatusCode} after {clock.Elapsed.TotalMilliseconds:0} ms");
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    errors.Add($"HTTP {ex.GetType().Name} after {clock.Elapsed.TotalMilliseconds:0} ms: {ex.Message}");
                }
            }
        }, Ct));
        await Task.WhenAll(grpcTasks.Concat(httpTasks));
        return new RoundResult([.. grpcTimes.SelectMany(t => t)], [.. httpTimes.SelectMany(t => t)], [.. errors]);
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private sealed record RoundResult(double[] Grpc, double[] Http, IReadOnlyList<string> Errors);

    /// <summary>Samples a process's resident set size (VmRSS) every 100 ms; <see cref="Mark"/> closes a period.</summary>
    private sealed class MemorySampler : IDisposable
    {
        private readonly int _pid;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private readonly List<double> _peaks = [];
        private double _peak;

        public MemorySampler(int pid)
        {
            _pid = pid;
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    Sample();
                    await Task.Delay(100, CancellationToken.None);
                }
            });
        }

        public void Mark()
        {
            Sample();
            lock (_peaks)
            {
                _peaks.Add(_peak);
                _peak = 0;
            }
        }

        public double[] PeaksMb()
        {
            lock (_peaks)
            {
                return [.. _peaks];
            }
        }

        private void Sample()
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{_pid}/status"))
                {
                    if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    {
                        var kb = double.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                        lock (_peaks)
                        {
                            _peak = Math.Max(_peak, kb / 1024);
                        }
                    }
                }
            }
            catch (IOException)
            {
                // the process ended
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _loop.Wait(TimeSpan.FromSeconds(5));
            _stop.Dispose();
        }
    }
}
