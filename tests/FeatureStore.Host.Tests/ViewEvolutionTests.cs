using System.Collections.Concurrent;
using System.Globalization;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Ingest.Tests;
using FeatureStore.Redis.Registry;
using FeatureStore.Testing;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Host.Tests;

/// <summary>
/// A view changed while everything runs (`run` with ingest, the offline log, rebuild and serve; embedded Kafka over
/// TCP, a real redis-server): an apply adds a lifetime sum and doubles a count's window. Lookups sampled all
/// through the change keep answering the unchanged features, the new ones answer BUILDING and then the reference.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ViewEvolutionTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private const int Users = 200;
    private static readonly string[] Built = ["n_1h", "spent_all"];
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-evolve-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_feature_added_and_a_window_changed_while_ingest_and_serve_run_are_built_beside_and_switched_in_while_the_others_keep_serving()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("evolve", partitions: 4));
        var grpc = FreePort.Next();
        File.WriteAllText(Path.Combine(_dir, "featurestore.yaml"), scenario.RepositoryYaml);
        var config = Path.Combine(_dir, "host.yaml");
        File.WriteAllText(config, $"""
            repository: featurestore.yaml
            redis:
              configuration: {redis.Connection.Endpoint}
              keyPrefix: {scenario.KeyPrefix}
            kafka:
              bootstrapServers: {kafka.BootstrapServers}
              sessionTimeout: 6s
            offline:
              directory: offline
            jobs:
              ingest: {"{"} group: ingest, batchEvents: 500 {"}"}
              offline: {"{"} batchEvents: 500, batchDelay: 200ms {"}"}
              rebuild: {"{"} pollInterval: 500ms {"}"}
              serve: {"{"} grpcPort: {grpc}, httpPort: {FreePort.Next()} {"}"}
              monitor: {"{"} enabled: false {"}"}
            """);
        var db = redis.Connection.Database;
        var registry = new RegistryStore(db, scenario.KeyPrefix);

        // The first start applies the file (nothing was applied yet); every job then follows the registry. The host's
        // log goes with any wait that times out, to say which job stalled.
        using var logs = new CapturedLogs();
        using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Information).AddProvider(logs));
        async Task Within(Func<Task> wait)
        {
            try
            {
                await wait();
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException(ex.Message + "\nhost log (newest last):\n" + string.Join('\n', logs.Records.TakeLast(60)), ex);
            }
        }

        await using var host = await FeatureStoreHost.CreateAsync(HostConfiguration.Load(config), loggers, cancellationToken: Ct);
        Assert.Equal(1, (await registry.GetCurrentAsync(IngestScenario.Project))!.Version);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = host.RunAsync(stop.Token);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: Users, seed: 51, nowMs: now);
        await Within(() => scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct));

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpc.ToString(CultureInfo.InvariantCulture)}");
        var client = new OnlineFeatures.OnlineFeaturesClient(channel);
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var samples = new ConcurrentQueue<GetOnlineFeaturesResponse>();
        var sampler = SampleAsync(client, samples, sampling.Token);
        await Eventually.TrueAsync(() => !samples.IsEmpty, TimeSpan.FromSeconds(30), "a first lookup answered", Ct);

        // v2: user_stats gets a lifetime sum and its 1h count becomes a 2h count; more events stream meanwhile.
        var evolved = ReplaceFirst(scenario.RepositoryYaml, "- { name: n_1h, aggregation: count, window: 1h }", "- { name: n_1h, aggregation: count, window: 2h }")
            .Replace("- { name: n_all, aggregation: count }", "- { name: n_all, aggregation: count }\n      - { name: spent_all, aggregation: sum, field: amount }", StringComparison.Ordinal);
        var v2 = FeatureRepositoryLoader.LoadFromText(evolved, "featurestore.yaml").Repository!;
        Assert.Equal(2, (await registry.ApplyAsync(v2, evolved, Ct)).Version);
        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: Users, seed: 52, nowMs: now, firstIndex: 3_000);

        // The rebuild job builds the new group from the event log and switches it in (version 3).
        await Within(() => Eventually.TrueAsync(async () => (await registry.LoadCurrentAsync(IngestScenario.Project))!.Layout.Views["user_stats"].BuildingGroup is null,
            TimeSpan.FromSeconds(180), "the built group switched in", Ct));
        await Within(() => scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct));
        var served = samples.Count;
        await Eventually.TrueAsync(() => samples.Skip(served).Any(r => Column(r, "spent_all") >= 0 && r.Rows[0].Values[Column(r, "spent_all")].Status == FeatureStatus.Present),
            TimeSpan.FromSeconds(30), "lookups after the switch", Ct);
        await sampling.CancelAsync();
        await sampler;

        AssertSamples([.. samples]);

        // Exactly once throughout, and every entity's every feature equals the reference: the unchanged ones kept
        // their state (the lifetime count went on), the built ones merge the rebuilt log with the stream after it.
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Equal(6_000, host.IngestMetrics!.EventsTotal);
        var current = (await registry.LoadCurrentAsync(IngestScenario.Project))!;
        Assert.Equal(3, current.Version);
        var compiled = current.Compile();
        Assert.Equal(2, compiled.FindView("user_stats")!.Groups.Count);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now, compiled);
    }

    // Samples the whole view for ten users, as fast as the server answers, until cancelled.
    private static async Task SampleAsync(OnlineFeatures.OnlineFeaturesClient client, ConcurrentQueue<GetOnlineFeaturesResponse> samples, CancellationToken cancellationToken)
    {
        var request = new GetOnlineFeaturesRequest { Features = { "user_stats" } };
        for (var u = 0; u < 10; u++)
        {
            request.Entities.Add(new EntityRow { JoinKeys = { ["user_id"] = "u" + u.ToString(CultureInfo.InvariantCulture) } });
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                samples.Enqueue(await client.GetOnlineFeaturesAsync(request, cancellationToken: cancellationToken));
                await Task.Delay(20, cancellationToken);
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is OperationCanceledException or Grpc.Core.RpcException)
            {
                return;
            }
        }
    }

    private static void AssertSamples(IReadOnlyList<GetOnlineFeaturesResponse> samples)
    {
        var lastCount = new long[10];
        var switched = new HashSet<string>(StringComparer.Ordinal);
        var sawBuilding = new HashSet<string>(StringComparer.Ordinal);
        var building = 0;
        foreach (var response in samples)
        {
            for (var c = 0; c < response.FeatureNames.Count; c++)
            {
                var feature = response.FeatureNames[c][(response.FeatureNames[c].IndexOf(':', StringComparison.Ordinal) + 1)..];
                for (var row = 0; row < response.Rows.Count; row++)
                {
                    var value = response.Rows[row].Values[c];
                    Assert.NotEqual(FeatureStatus.NotFound, value.Status);
                    if (!Built.Contains(feature))
                    {
                        Assert.True(value.Status is FeatureStatus.Present or FeatureStatus.NullValue, $"{feature} answered {value.Status} during the change");
                    }
                    else if (value.Status == FeatureStatus.Building)
                    {
                        Assert.False(switched.Contains(feature), $"{feature} answered BUILDING again after it was switched in");
                        Assert.Equal(FeatureValue.ValueOneofCase.None, value.ValueCase);
                        sawBuilding.Add(feature);
                        building++;
                    }
                    else
                    {
                        // n_1h is served by version 1's group before the apply, then builds, then is switched in.
                        Assert.True(value.Status is FeatureStatus.Present or FeatureStatus.NullValue, $"{feature} answered {value.Status}");
                        if (sawBuilding.Contains(feature))
                        {
                            switched.Add(feature);
                        }
                    }

                    if (feature == "n_all")
                    {
                        Assert.True(value.Int64Value > 0, "a lifetime count read 0 during the change");
                        Assert.True(value.Int64Value >= lastCount[row], $"the lifetime count of row {row} went back from {lastCount[row]} to {value.Int64Value}");
                        lastCount[row] = value.Int64Value;
                    }
                }
            }
        }

        Assert.True(building > 0, "no lookup saw the new features building");
        Assert.Equal(Built, switched.Order(StringComparer.Ordinal));
    }

    private static int Column(GetOnlineFeaturesResponse response, string feature) => response.FeatureNames.IndexOf("user_stats:" + feature);

    private static string ReplaceFirst(string text, string what, string with)
    {
        var at = text.IndexOf(what, StringComparison.Ordinal);
        Assert.True(at >= 0, what);
        return string.Concat(text.AsSpan(0, at), with, text.AsSpan(at + what.Length));
    }
}
