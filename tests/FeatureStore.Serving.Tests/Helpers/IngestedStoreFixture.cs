using FeatureStore.Redis;
using FeatureStore.Testing;

namespace FeatureStore.Serving.Tests.Helpers;

/// <summary>
/// Shared by the lookup tests: the embedded Kafka cluster, a real redis-server, and a payments stream
/// ingested into it by the real ingest job, once; plus a store client set up the way <c>serve</c> sets it up.
/// </summary>
public sealed class IngestedStoreFixture : IAsyncLifetime
{
    private readonly EmbeddedKafkaFixture _kafka = new();
    private readonly RedisServerFixture _redis = new();
    private OnlineStoreConnection? _serving;

    internal PaymentsScenario Scenario { get; private set; } = null!;

    /// <summary>When the events were produced; every event is at most 3 h before it.</summary>
    public long NowMs { get; private set; }

    /// <summary>The redis-server the data lives in.</summary>
    public RedisServer Server => _redis.Server;

    /// <summary>A client configured by <see cref="FeatureServer.ConfigureStoreClient"/>, for the servers under test.</summary>
    public OnlineStoreConnection Store => _serving ?? throw new InvalidOperationException("fixture not initialised");

    public async ValueTask InitializeAsync()
    {
        await _kafka.InitializeAsync();
        await _redis.InitializeAsync();
        var ct = TestContext.Current.CancellationToken;
        Scenario = new PaymentsScenario(_kafka.CreateTopic("payments", partitions: 4));
        NowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Scenario.Produce(_kafka.BootstrapServers, count: 4_000, users: 150, seed: 7, nowMs: NowMs);
        await Scenario.IngestAllAsync(_kafka.BootstrapServers, _redis.Connection.Database, ct);
        _serving = await OnlineStoreConnection.ConnectAsync(Server.Endpoint, null, o => FeatureServer.ConfigureStoreClient(o, TimeSpan.FromSeconds(1)));
    }

    public async ValueTask DisposeAsync()
    {
        if (_serving is not null)
        {
            await _serving.DisposeAsync();
        }

        await _redis.DisposeAsync();
        await _kafka.DisposeAsync();
    }
}
