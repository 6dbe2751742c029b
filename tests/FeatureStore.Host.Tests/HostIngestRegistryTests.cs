using FeatureStore.Core.Definitions;
using FeatureStore.Ingest;
using FeatureStore.Ingest.Tests;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Host.Tests;

/// <summary>The host's ingest job follows the registry as <c>featurestore ingest</c> does: in process, on embedded Kafka and a real redis-server.</summary>
[Trait("Category", "Integration")]
public sealed class HostIngestRegistryTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-host-registry-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_host_ingest_job_moves_to_an_applied_version_and_marks_where_it_began_writing_its_building_group()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("host-follow", partitions: 4));
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
            jobs:
              ingest: {"{"} group: ingest, batchEvents: 500 {"}"}
              offline: {"{"} enabled: false {"}"}
              serve: {"{"} enabled: false {"}"}
              monitor: {"{"} enabled: false {"}"}
            """);
        var db = redis.Connection.Database;
        var registry = new RegistryStore(db, scenario.KeyPrefix);
        await ApplyAsync(registry, scenario.RepositoryYaml);

        await using var host = await FeatureStoreHost.CreateAsync(HostConfiguration.Load(config), NullLoggerFactory.Instance, cancellationToken: Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = host.RunAsync(stop.Token);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 2_000, users: 200, seed: 41, nowMs: now);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        var checkpoints = new IngestCheckpoints(db, new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project), "ingest");
        var before = new long[4];
        for (var p = 0; p < 4; p++)
        {
            before[p] = PartitionCheckpoint.Parse((await checkpoints.ReadAsync(scenario.Topic, p))!).NextOffset;
        }

        await ApplyAsync(registry, scenario.EvolvedYaml);
        var group = (await registry.LoadCurrentAsync(IngestScenario.Project))!.Compile().FindView("user_stats")!.BuildingGroup!;
        scenario.Produce(kafka.BootstrapServers, count: 2_000, users: 200, seed: 42, nowMs: now, firstIndex: 2_000);

        // Every partition gets events after the apply: each marks where the new version's job began writing the group.
        await Eventually.TrueAsync(async () =>
        {
            for (var p = 0; p < 4; p++)
            {
                if (await checkpoints.ReadBuildStartAsync("user_stats", group.Signature, scenario.Topic, p) is null)
                {
                    return false;
                }
            }

            return true;
        }, TimeSpan.FromSeconds(60), "every partition marked", Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(60), Ct);

        for (var p = 0; p < 4; p++)
        {
            Assert.Equal(before[p], await checkpoints.ReadBuildStartAsync("user_stats", group.Signature, scenario.Topic, p));
        }

        Assert.Equal(4_000, host.IngestMetrics!.EventsTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
    }

    private static async Task ApplyAsync(RegistryStore registry, string yaml)
    {
        var load = FeatureRepositoryLoader.LoadFromText(yaml, "featurestore.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        var repository = load.Repository!;
        await registry.ApplyAsync(repository, yaml, Ct);
    }
}
