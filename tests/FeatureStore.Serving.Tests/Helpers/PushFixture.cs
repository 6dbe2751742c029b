using Confluent.Kafka;
using FeatureStore.Ingest;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Serving.Tests.Helpers;

/// <summary>
/// The embedded Kafka cluster and a real redis-server shared by the push tests; each test takes its own topic,
/// key prefix and ingest group (<see cref="NewCase"/>), so they run side by side.
/// </summary>
public sealed class PushFixture : IAsyncLifetime
{
    private readonly EmbeddedKafkaFixture _kafka = new();
    private readonly RedisServerFixture _redis = new();

    public string BootstrapServers => _kafka.BootstrapServers;

    public RedisServerFixture Redis => _redis;

    internal PushCase NewCase() => new(this, _kafka.CreateTopic("push", partitions: 4));

    /// <summary>Events on a topic: the sum of its partitions' high watermarks.</summary>
    public long Count(string topic)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = BootstrapServers, GroupId = "probe" }).Build();
        return Enumerable.Range(0, 4).Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value);
    }

    public async ValueTask InitializeAsync()
    {
        await _kafka.InitializeAsync();
        await _redis.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _redis.DisposeAsync();
        await _kafka.DisposeAsync();
    }
}

/// <summary>One test's payments repository on its own topic, key prefix and ingest group; runs ingest on demand.</summary>
internal sealed class PushCase(PushFixture fixture, string topic) : IAsyncDisposable
{
    private CancellationTokenSource? _stop;
    private Task? _ingest;
    private IngestMetrics? _metrics;

    public PaymentsScenario Scenario { get; } = new(topic);

    public string Topic => topic;

    public string IngestGroup { get; } = "ingest-" + Guid.NewGuid().ToString("N")[..8];

    public FeatureServerOptions Options(IReadOnlyList<ApiKey>? keys = null, int maxBodyBytes = 64 << 20, bool push = true) => new()
    {
        Repository = Scenario.Repository,
        KeyPrefix = Scenario.KeyPrefix,
        GrpcPort = 0,
        HttpPort = 0,
        ApiKeys = keys ?? [],
        Push = push ? new PushOptions { BootstrapServers = fixture.BootstrapServers, IngestGroup = IngestGroup, MaxBodyBytes = maxBodyBytes } : null,
    };

    /// <summary>Starts the real ingest job on the topic (stopped on dispose).</summary>
    public void StartIngest()
    {
        _metrics = new IngestMetrics();
        _stop = new CancellationTokenSource();
        var job = IngestJobFactory.Create(Scenario.Compiled, new IngestOptions
        {
            BootstrapServers = fixture.BootstrapServers,
            GroupId = IngestGroup,
            MaxBatchDelay = TimeSpan.FromMilliseconds(20),
            SessionTimeout = TimeSpan.FromSeconds(6),
        }, fixture.Redis.Connection.Database, Scenario.KeyPrefix, _metrics, NullLogger.Instance);
        _ingest = Task.Run(() => job.RunAsync(_stop.Token));
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop is not null)
        {
            await _stop.CancelAsync();
            try
            {
                await _ingest!.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (OperationCanceledException)
            {
                // stopped as asked
            }

            _stop.Dispose();
            _metrics!.Dispose();
        }
    }
}
