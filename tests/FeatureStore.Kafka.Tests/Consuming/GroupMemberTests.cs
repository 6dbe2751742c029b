using Confluent.Kafka;
using FeatureStore.Kafka.Consuming;
using FeatureStore.Testing;

namespace FeatureStore.Kafka.Tests.Consuming;

/// <summary>A group member over the embedded cluster: its rebalances reach the listener, its commits and bounds Kafka.</summary>
[Trait("Category", "Integration")]
public sealed class GroupMemberTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_member_starts_where_its_listener_says_commits_and_knows_its_partitions_bounds()
    {
        var topic = kafka.CreateTopic("member", partitions: 2);
        using (var producer = kafka.CreateProducer())
        {
            for (var i = 0; i < 10; i++)
            {
                await producer.ProduceAsync(new TopicPartition(topic, i % 2), new Message<string, string> { Key = "k", Value = "v" + i }, Ct);
            }
        }

        var listener = new Listener(start: 3);
        var group = EmbeddedKafkaFixture.UniqueTopic("group");
        using var member = new GroupMember(new GroupMemberSettings { BootstrapServers = kafka.BootstrapServers, GroupId = group }, listener);
        member.Subscribe([topic]);
        var read = new List<long>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (read.Count < 4 && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (member.Consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result)
            {
                read.Add(result.Offset.Value);
            }
        }

        Assert.Equal(2, listener.Assigned.Count);
        Assert.Equal([3, 3, 4, 4], read.Order());
        var p0 = new TopicPartition(topic, 0);
        Assert.Equal(5, member.QueryBounds(p0).High.Value);
        Assert.Equal(0, member.Lag(p0, 5));

        member.Commit([new TopicPartitionOffset(p0, 4)]);
        Assert.Equal(4, member.Committed([p0, new TopicPartition(topic, 1)]).Single(kv => kv.Key == p0).Value);
        Assert.Empty(listener.Errors);

        member.Close();
        Assert.Equal(2, listener.Revoked);
    }

    private sealed class Listener(long start) : IRebalanceListener
    {
        public List<TopicPartition> Assigned { get; } = [];

        public int Revoked { get; private set; }

        public List<Error> Errors { get; } = [];

        IEnumerable<TopicPartitionOffset> IRebalanceListener.Assigned(List<TopicPartition> partitions)
        {
            Assigned.AddRange(partitions);
            return partitions.Select(p => new TopicPartitionOffset(p, start));
        }

        void IRebalanceListener.Revoked(List<TopicPartitionOffset> partitions) => Revoked += partitions.Count;

        void IRebalanceListener.Lost(List<TopicPartitionOffset> partitions)
        {
        }

        void IRebalanceListener.Error(Error error) => Errors.Add(error);
    }
}
