using FeatureStore.Kafka.Embedded;
using FeatureStore.Testing;

namespace FeatureStore.Kafka.Tests;

[Trait("Category", "Integration")]
public sealed class TopicIncarnationTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    [Fact]
    public void A_topic_keeps_its_incarnation_and_the_same_name_on_a_fresh_cluster_gets_another()
    {
        var topic = kafka.CreateTopic("incarnation", partitions: 2);
        using var here = new TopicIncarnation(kafka.BootstrapServers);
        var first = here.Read([topic, "never-created-" + topic]);
        Assert.Equal(first, here.Read([topic, "never-created-" + topic]));
        Assert.Single(first); // a topic that does not exist has none yet
        Assert.Matches("^[^/]+/[^/]+$", first[topic]);

        // A fresh cluster, same topic name: the embedded broker after a restart.
        using var fresh = EmbeddedKafkaCluster.Start();
        fresh.CreateTopic(topic, 2);
        using var there = new TopicIncarnation(fresh.BootstrapServers);
        var second = Assert.Single(there.Read([topic]));
        Assert.NotEqual(first[topic], second.Value);
        Assert.NotEqual(first[topic].Split('/')[0], second.Value.Split('/')[0]);
    }

    [Fact]
    public void An_unreachable_cluster_gives_no_incarnation_within_the_timeout()
    {
        using var nowhere = new TopicIncarnation($"127.0.0.1:{FreePort.Next()}", timeout: TimeSpan.FromSeconds(2));
        Assert.Empty(nowhere.Read(["payments"]));
    }

    [Theory]
    [InlineData("c1/t1", 10, "c1/t1", 10, null)]
    [InlineData("c1/t1", 10, "c2/t1", 50, "incarnation")]
    [InlineData("c1/t1", 10, "c1/t2", 50, "incarnation")]
    [InlineData(null, 10, "c1/t1", 5, "beyond")]
    [InlineData("c1/t1", 11, "c1/t1", 10, "beyond")]
    [InlineData("c1/t1", 11, null, -1, null)]
    [InlineData(null, 0, null, -1, null)]
    public void A_stored_position_of_another_incarnation_or_past_the_end_is_a_mismatch(string? stored, long offset, string? live, long high, string? expected)
    {
        var why = TopicIncarnation.Mismatch(stored, offset, live, high);
        if (expected is null)
        {
            Assert.Null(why);
        }
        else
        {
            Assert.Contains(expected, why, StringComparison.Ordinal);
        }
    }
}
