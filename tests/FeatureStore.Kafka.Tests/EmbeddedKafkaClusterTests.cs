using Confluent.Kafka;
using FeatureStore.Testing;

namespace FeatureStore.Kafka.Tests;

[Trait("Category", "Integration")]
public sealed class EmbeddedKafkaClusterTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Bootstrap_servers_are_loopback_tcp_listeners()
    {
        var servers = kafka.BootstrapServers.Split(',');
        Assert.Equal(3, servers.Length);
        Assert.All(servers, s => Assert.StartsWith("127.0.0.1:", s, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_consumer_group_reads_every_message_once()
    {
        var topic = kafka.CreateTopic("once", partitions: 4);
        const int Count = 1000;
        using (var producer = kafka.CreateProducer())
        {
            for (var i = 0; i < Count; i++)
            {
                producer.Produce(topic, new Message<string, string> { Key = $"k{i}", Value = $"v{i}" });
            }

            producer.Flush(Ct);
        }

        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = EmbeddedKafkaFixture.UniqueTopic("g"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe(topic);
        var seen = new Dictionary<string, int>();
        var partitions = new HashSet<int>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (seen.Count < Count && DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is not null)
            {
                seen[result.Message.Key] = seen.GetValueOrDefault(result.Message.Key) + 1;
                partitions.Add(result.Partition.Value);
            }
        }

        consumer.Close();
        Assert.Equal(Count, seen.Count);
        Assert.All(seen.Values, n => Assert.Equal(1, n));
        Assert.Equal(4, partitions.Count);
    }

    [Fact]
    public async Task Producer_rides_out_request_errors_without_duplicates()
    {
        var topic = kafka.CreateTopic("errors", partitions: 1);
        using var producer = kafka.CreateProducer();
        // Warm up metadata so the injected errors hit Produce requests.
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "warm", Value = "0" }, Ct);

        kafka.Cluster.PushRequestErrors(0, ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.NotEnoughReplicas);
        var deliveries = await Task.WhenAll(Enumerable.Range(0, 50)
            .Select(i => producer.ProduceAsync(topic, new Message<string, string> { Key = $"k{i}", Value = $"{i}" }, Ct)));
        Assert.All(deliveries, d => Assert.Equal(PersistenceStatus.Persisted, d.Status));

        Assert.Equal(51, QueryHigh(topic)); // every message once: the idempotent producer deduplicated its retries
    }

    [Fact]
    public async Task Broker_down_delays_delivery_until_it_is_back()
    {
        var topic = kafka.CreateTopic("down", partitions: 1);
        kafka.Cluster.SetPartitionLeader(topic, 0, brokerId: 2);
        using var producer = kafka.CreateProducer();
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "before", Value = "0" }, Ct);

        kafka.Cluster.SetBrokerDown(2);
        var pending = producer.ProduceAsync(topic, new Message<string, string> { Key = "during", Value = "1" }, Ct);
        var early = await Task.WhenAny(pending, Task.Delay(TimeSpan.FromSeconds(1), Ct));
        Assert.NotSame(pending, early); // not delivered while its leader is down

        kafka.Cluster.SetBrokerUp(2);
        var delivered = await pending.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
        Assert.Equal(2, QueryHigh(topic));
    }

    private long QueryHigh(string topic)
    {
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "watermarks" }).Build();
        return consumer.QueryWatermarkOffsets(new TopicPartition(topic, 0), TimeSpan.FromSeconds(10)).High.Value;
    }
}
