using System.Globalization;
using Confluent.Kafka;
using FeatureStore.Client;
using FeatureStore.Core.Definitions;
using FeatureStore.Ingest;
using FeatureStore.Serving;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Cli.Tests;

/// <summary><c>featurestore push</c>: a JSON lines file through a running server to the embedded broker, applied by the real ingest job.</summary>
[Trait("Category", "Integration")]
public sealed class PushCommandTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fs-push-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Delete(recursive: true);

    private static string Payment(string user, long ts) =>
        $$"""{"user_id":"{{user}}","merchant_id":"m1","amount":12.5,"country":"FR","ts":{{ts}}}""";

    private (string Repository, string Topic) NewRepository()
    {
        var topic = kafka.CreateTopic("cli-push", partitions: 4);
        var path = Path.Combine(_dir.FullName, topic + ".yaml");
        File.WriteAllText(path, PaymentsRepository.Yaml(topic));
        return (path, topic);
    }

    private string Input(params string[] lines)
    {
        var path = Path.Combine(_dir.FullName, Guid.NewGuid().ToString("N")[..8] + ".jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    private long Count(string topic)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "probe" }).Build();
        return Enumerable.Range(0, 4).Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value);
    }

    [Fact]
    public async Task Push_sends_a_file_in_batches_and_with_wait_the_next_lookup_sees_every_event()
    {
        var (repository, topic) = NewRepository();
        var loaded = FeatureRepositoryLoader.Load(repository).Repository!;
        var prefix = "p" + Guid.NewGuid().ToString("N")[..8];
        using var metrics = new IngestMetrics();
        using var stop = new CancellationTokenSource();
        var job = IngestJobFactory.Create(CompiledRepository.Compile(loaded), new IngestOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "ingest",
            MaxBatchDelay = TimeSpan.FromMilliseconds(20),
            SessionTimeout = TimeSpan.FromSeconds(6),
        }, redis.Connection.Database, prefix, metrics, NullLogger.Instance);
        var ingest = Task.Run(() => job.RunAsync(stop.Token), Ct);
        await using var server = FeatureServer.Create(new FeatureServerOptions
        {
            Repository = loaded,
            KeyPrefix = prefix,
            GrpcPort = FreePort.Next(),
            HttpPort = FreePort.Next(),
            Push = new PushOptions { BootstrapServers = kafka.BootstrapServers, IngestGroup = "ingest" },
        }, redis.Connection.Multiplexer);
        await server.StartAsync(Ct);

        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var lines = Enumerable.Range(0, 2500).Select(i => Payment("u" + (i % 10).ToString(CultureInfo.InvariantCulture), now - 10_000 + i)).ToList();
        lines.Insert(1000, ""); // a blank line is skipped
        var (code, output, error) = await CliRun.RunAsync("push", "-f", repository, "--source", "payments", "--input", Input([.. lines]),
            "--server", server.GrpcAddress.ToString(), "--batch", "1000", "--wait", "--timeout", "60s");
        Assert.True(code == 0, error);
        Assert.Contains("pushed 2500 event(s) to payments", output, StringComparison.Ordinal);
        Assert.Contains("0 rejected", output, StringComparison.Ordinal);
        Assert.Contains("applied online", output, StringComparison.Ordinal);

        using var client = new FeatureStoreClient(server.GrpcAddress);
        var values = await client.GetOnlineFeaturesAsync(["user_stats:n_all"], [new Dictionary<string, string> { ["user_id"] = "u3", ["merchant_id"] = "m1" }], cancellationToken: Ct);
        Assert.Equal(250, values.GetInt64(0, "user_stats:n_all"));
        Assert.Equal(2500, Count(topic));

        await stop.CancelAsync();
        await ingest.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    [Fact]
    public async Task Bad_lines_are_reported_with_file_line_and_column_and_nothing_is_pushed()
    {
        var (repository, topic) = NewRepository();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var input = Input(Payment("u1", now), Payment("u2", now), """{"user_id": "u3", oops}""", Payment("u4", now), """{"merchant_id":"m1","amount":1,"country":"FR","ts":1}""");
        // No server runs: the file is refused before any is asked.
        var (code, output, error) = await CliRun.RunAsync("push", "-f", repository, "--source", "payments", "--input", input, "--server", $"http://127.0.0.1:{FreePort.Next()}");
        Assert.Equal(1, code);
        Assert.Contains($"{input}:3:19: malformed_json", error, StringComparison.Ordinal);
        Assert.Contains($"{input}:5: missing_key (user_id)", error, StringComparison.Ordinal);
        Assert.Contains("2 of 5 event(s) rejected; nothing pushed", error, StringComparison.Ordinal);
        Assert.Equal("", output);
        Assert.Equal(0, Count(topic));
    }

    [Fact]
    public async Task Skip_invalid_pushes_the_valid_lines_and_still_exits_1()
    {
        var (repository, topic) = NewRepository();
        var loaded = FeatureRepositoryLoader.Load(repository).Repository!;
        await using var server = FeatureServer.Create(new FeatureServerOptions
        {
            Repository = loaded,
            KeyPrefix = "p" + Guid.NewGuid().ToString("N")[..8],
            GrpcPort = FreePort.Next(),
            HttpPort = FreePort.Next(),
            Push = new PushOptions { BootstrapServers = kafka.BootstrapServers },
        }, redis.Connection.Multiplexer);
        await server.StartAsync(Ct);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var input = Input(Payment("u1", now), "[1,2]", Payment("u2", now));
        var (code, output, error) = await CliRun.RunAsync("push", "-f", repository, "--source", "payments", "--input", input, "--server", server.GrpcAddress.ToString(), "--skip-invalid");
        Assert.Equal(1, code);
        Assert.Contains($"{input}:2: malformed_json", error, StringComparison.Ordinal);
        Assert.Contains("pushed 2 event(s) to payments", output, StringComparison.Ordinal);
        Assert.Contains("1 rejected", output, StringComparison.Ordinal);
        Assert.Equal(2, Count(topic));
    }

    [Fact]
    public async Task An_unknown_source_or_a_missing_input_is_a_usage_error()
    {
        var (repository, _) = NewRepository();
        var input = Input(Payment("u1", 1));
        var (code, _, error) = await CliRun.RunAsync("push", "-f", repository, "--source", "payment", "--input", input);
        Assert.Equal(2, code);
        Assert.Contains("no source 'payment'", error, StringComparison.Ordinal);
        Assert.Contains("sources: payments", error, StringComparison.Ordinal);
        (code, _, error) = await CliRun.RunAsync("push", "-f", repository, "--source", "payments", "--input", input + ".missing");
        Assert.Equal(2, code);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
        (code, _, _) = await CliRun.RunAsync("push", "-f", repository, "--source", "payments", "--input", input, "--batch", "0");
        Assert.Equal(2, code);
    }
}
