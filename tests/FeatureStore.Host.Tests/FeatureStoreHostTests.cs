using System.Globalization;
using System.Text.Json;
using FeatureStore.Host.Supervision;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Host.Tests;

/// <summary>The host in process on its embedded defaults (mock Kafka cluster, Garnet): health per job over HTTP.</summary>
[Trait("Category", "Integration")]
public sealed class FeatureStoreHostTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-host-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_failing_job_shows_degraded_in_healthz_until_its_restart_succeeds()
    {
        File.WriteAllText(Path.Combine(_dir, "featurestore.yaml"), PaymentsRepository.Yaml("payments"));
        var http = FreePort.Next();
        var grpc = FreePort.Next();
        var config = Path.Combine(_dir, "host.yaml");
        File.WriteAllText(config, $"""
            # no redis and no kafka: the embedded ones
            jobs:
              serve: {"{"} grpcPort: {grpc}, httpPort: {http} {"}"}
            supervision:
              initialBackoff: 200ms
              maxBackoff: 2s
            """);
        var settings = HostConfiguration.Load(config);
        var flaky = new GatedJob();
        await using var host = await FeatureStoreHost.CreateAsync(settings, NullLoggerFactory.Instance, [flaky], cancellationToken: Ct);
        Assert.Equal(["ingest", "offline", "rebuild", "serve", "monitor", "gated"], host.Jobs);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = host.RunAsync(stop.Token);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http.ToString(CultureInfo.InvariantCulture)}") };

        // The gated job fails on every start while closed: degraded (200), with the job restarting.
        var degraded = await HealthAsync(client, "/healthz", "Degraded");
        var jobs = degraded.GetProperty("checks").GetProperty("jobs");
        Assert.StartsWith("restarting", jobs.GetProperty("data").GetProperty("gated").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("running", jobs.GetProperty("data").GetProperty("ingest").GetString(), StringComparison.Ordinal);
        await HealthAsync(client, "/readyz", "Degraded");
        Assert.True(host.Health["gated"]!.Restarts >= 1);

        // gRPC health answers per job too: the restarting one is not serving, the others are.
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://127.0.0.1:{grpc.ToString(CultureInfo.InvariantCulture)}");
        var grpcHealth = new Grpc.Health.V1.Health.HealthClient(channel);
        await GrpcHealthAsync(grpcHealth, "gated", Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.NotServing);
        foreach (var job in new[] { "ingest", "offline", "serve", "monitor" })
        {
            await GrpcHealthAsync(grpcHealth, job, Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving);
        }

        // Opened: the next restart succeeds and the process is healthy again.
        flaky.Open();
        await HealthAsync(client, "/healthz", "Healthy");
        await HealthAsync(client, "/readyz", "Healthy");
        await GrpcHealthAsync(grpcHealth, "gated", Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving);

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.All(host.Health.Jobs, j => Assert.Contains(j.State, new[] { JobState.Stopped, JobState.Completed }));
    }

    [Fact]
    public async Task The_embedded_cluster_has_the_label_topics_before_any_label_is_produced()
    {
        // A consumer subscribed to a topic that does not exist yet sees it only at its next metadata refresh (5 minutes
        // by default): the performance job would read no label produced after the start for that long.
        var config = Path.Combine(_dir, "host.yaml");
        File.WriteAllText(config, $"""
            repository: {RepositoryPaths.FraudExample}
            jobs:
              serve: {"{"} grpcPort: {FreePort.Next()}, httpPort: {FreePort.Next()} {"}"}
            """);
        await using var host = await FeatureStoreHost.CreateAsync(HostConfiguration.Load(config), NullLoggerFactory.Instance, cancellationToken: Ct);
        using var admin = new Confluent.Kafka.AdminClientBuilder(new Confluent.Kafka.AdminClientConfig { BootstrapServers = host.BootstrapServers }).Build();

        // Every topic the cluster has, not one by name: a request for one topic would create it.
        var topics = admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.ToDictionary(t => t.Topic, t => t.Partitions.Count, StringComparer.Ordinal);
        Assert.Equal(host.Settings.Kafka.EmbeddedPartitions, topics.GetValueOrDefault("fraud_labels"));
        Assert.Contains("fraud_predictions", topics.Keys);
    }

    private static async Task<JsonElement> HealthAsync(HttpClient client, string path, string status)
    {
        JsonElement body = default;
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                using var response = await client.GetAsync(new Uri(path, UriKind.Relative), Ct);
                body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone();
                return body.GetProperty("status").GetString() == status;
            }
            catch (HttpRequestException)
            {
                return false; // not listening yet
            }
        }, TimeSpan.FromSeconds(90), $"{path} says {status}", Ct);
        return body;
    }

    private static Task GrpcHealthAsync(Grpc.Health.V1.Health.HealthClient health, string service, Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus status) =>
        Eventually.TrueAsync(async () =>
        {
            var answer = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest { Service = service }, cancellationToken: Ct);
            return answer.Status == status;
        }, TimeSpan.FromSeconds(60), $"gRPC health says {status} for '{service}'", Ct);

    /// <summary>Fails at once while closed; runs until stopped once opened.</summary>
    private sealed class GatedJob : ISupervisedJob
    {
        private volatile bool _open;

        public string Name => "gated";

        public void Open() => _open = true;

        public Task RunAsync(CancellationToken cancellationToken) =>
            _open ? Task.Delay(Timeout.Infinite, cancellationToken) : throw new InvalidOperationException("gate closed");
    }
}
