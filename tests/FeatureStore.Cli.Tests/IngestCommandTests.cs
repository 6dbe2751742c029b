using System.Reflection;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Registry;
using FeatureStore.Testing;

namespace FeatureStore.Cli.Tests;

/// <summary><c>featurestore ingest</c> as a separate process against embedded Kafka and a real redis-server: the registry version it runs.</summary>
[Trait("Category", "Integration")]
public sealed class IngestCommandTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private static readonly string Cli = Path.GetFullPath(typeof(IngestCommandTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!);

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-ingest-cmd-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Ingest_prints_the_registry_version_it_runs_and_its_move_to_a_version_applied_meanwhile()
    {
        var topic = kafka.CreateTopic("cli-follow", partitions: 2);
        var yaml = PaymentsRepository.WindowsYaml("clifollow").Replace("TOPIC", topic, StringComparison.Ordinal);
        var evolved = yaml.Replace("- { name: n_all, aggregation: count }", "- { name: n_all, aggregation: count }\n      - { name: n_all_again, aggregation: count }", StringComparison.Ordinal);
        var file = Path.Combine(_dir, "featurestore.yaml");
        await File.WriteAllTextAsync(file, yaml, Ct);
        var prefix = "ic" + Guid.NewGuid().ToString("N")[..8];
        var registry = new RegistryStore(redis.Connection.Database, prefix);
        await ApplyAsync(registry, yaml);

        await using var ingest = ChildProcess.StartDotnet(Cli,
            ["ingest", "-f", file, "--bootstrap-servers", kafka.BootstrapServers, "--redis", redis.Server.Endpoint, "--key-prefix", prefix, "--group", "cli"]);
        await ingest.WaitForLineAsync(l => l == "ingest: runs registry version 1", TimeSpan.FromSeconds(60), Ct);

        await ApplyAsync(registry, evolved);
        var moved = await ingest.WaitForLineAsync(l => l.StartsWith("ingest: moved ", StringComparison.Ordinal), TimeSpan.FromSeconds(60), Ct);
        Assert.Equal("ingest: moved from version 1 to registry version 2: it changes what ingest writes; resumed from the checkpoints", moved);

        ingest.Terminate();
        Assert.Equal(0, await ingest.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));
    }

    private static async Task ApplyAsync(RegistryStore registry, string yaml)
    {
        var load = FeatureRepositoryLoader.LoadFromText(yaml, "featurestore.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        var repository = load.Repository!;
        await registry.ApplyAsync(repository.Project, repository.ContentHash(), repository.ToCanonicalJson(), yaml, Ct);
    }
}
