using FeatureStore.Kafka.Embedded;
using FeatureStore.Testing;

namespace FeatureStore.Kafka.Tests;

[Trait("Category", "Integration")]
public sealed class TopicIncarnationTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    [Fact]
    public void A_cluster_keeps_its_incarnation_and_a_fresh_cluster_gets_another()
    {
        var topic = kafka.CreateTopic("incarnation", partitions: 2);
        using var here = new TopicIncarnation(kafka.BootstrapServers);
        var first = here.Read([topic, "other-" + topic]);
        Assert.Equal(first, here.Read([topic, "other-" + topic]));
        Assert.Equal(2, first.Count);
        Assert.False(string.IsNullOrEmpty(first[topic]));

        // A fresh cluster, same topic name: the embedded broker after a restart. (The embedded cluster's id is
        // drawn from its addresses in memory: a cluster started after another was freed in the same process may
        // get the same one, so both live here, as two processes' clusters would.)
        using var fresh = EmbeddedKafkaCluster.Start();
        fresh.CreateTopic(topic, 2);
        using var there = new TopicIncarnation(fresh.BootstrapServers);
        var second = there.Read([topic]);
        Assert.NotEqual(first[topic], second[topic]);
        Assert.NotNull(TopicIncarnation.Mismatch(first[topic], 0, second[topic], 0));
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
    [InlineData("c1", 10, "c1/t1", 10, null)]
    [InlineData("c1/t1", 10, "c1", 10, null)]
    [InlineData("c1", 10, "c2/t1", 50, "incarnation")]
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
