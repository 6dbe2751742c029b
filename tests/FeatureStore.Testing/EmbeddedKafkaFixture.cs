using Confluent.Kafka;
using FeatureStore.Kafka.Embedded;
using Xunit;

namespace FeatureStore.Testing;

/// <summary>An embedded Kafka cluster shared by one test class; tests use unique topic names.</summary>
public sealed class EmbeddedKafkaFixture : IAsyncLifetime
{
    private EmbeddedKafkaCluster? _cluster;

    /// <summary>The cluster (three brokers, so leader changes and broker faults can be tested).</summary>
    public EmbeddedKafkaCluster Cluster => _cluster ?? throw new InvalidOperationException("fixture not initialised");

    /// <summary>Bootstrap servers of the cluster.</summary>
    public string BootstrapServers => Cluster.BootstrapServers;

    /// <summary>A topic name no other test uses.</summary>
    public static string UniqueTopic(string prefix = "t") => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>Creates a topic with a unique name and returns it.</summary>
    public string CreateTopic(string prefix, int partitions)
    {
        var name = UniqueTopic(prefix);
        Cluster.CreateTopic(name, partitions);
        return name;
    }

    /// <summary>A producer that waits for every broker ack and never duplicates.</summary>
    public IProducer<string, string> CreateProducer() =>
        new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 2,
        }).Build();

    /// <inheritdoc />
    public ValueTask InitializeAsync()
    {
        _cluster = EmbeddedKafkaCluster.Start(brokers: 3);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _cluster?.Dispose();
        return ValueTask.CompletedTask;
    }
}
