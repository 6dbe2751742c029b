using Confluent.Kafka;
using FeatureStore.Kafka.Consuming;

namespace FeatureStore.Kafka.Tests.Consuming;

public sealed class GroupMemberUnitTests
{
    [Fact]
    public void By_default_a_member_commits_explicitly_with_cooperative_sticky_assignment_from_the_earliest_offset()
    {
        var config = new GroupMemberSettings { BootstrapServers = "127.0.0.1:1", GroupId = "g", SessionTimeout = TimeSpan.FromSeconds(10) }.ToConfig();
        Assert.Equal("127.0.0.1:1", config.BootstrapServers);
        Assert.Equal("g", config.GroupId);
        Assert.False(config.EnableAutoCommit);
        Assert.False(config.EnableAutoOffsetStore);
        Assert.Equal(AutoOffsetReset.Earliest, config.AutoOffsetReset);
        Assert.Equal(PartitionAssignmentStrategy.CooperativeSticky, config.PartitionAssignmentStrategy);
        Assert.Equal(10_000, config.SessionTimeoutMs);
        Assert.Equal(2_000, config.HeartbeatIntervalMs);
        Assert.Null(config.ClientId);
        Assert.Null(config.Get("dotnet.consumer.consume.result.fields"));
        Assert.Null(config.FetchWaitMaxMs);
    }

    [Fact]
    public void A_fetch_wait_sets_fetch_wait_max_ms_unless_the_extra_settings_name_it()
    {
        Assert.Equal(10, new GroupMemberSettings { BootstrapServers = "b", GroupId = "g", FetchWait = TimeSpan.FromMilliseconds(10) }.ToConfig().FetchWaitMaxMs);
        Assert.Equal(250, new GroupMemberSettings
        {
            BootstrapServers = "b",
            GroupId = "g",
            FetchWait = TimeSpan.FromMilliseconds(10),
            KafkaSettings = new Dictionary<string, string> { ["fetch.wait.max.ms"] = "250" },
        }.ToConfig().FetchWaitMaxMs);
    }

    [Fact]
    public void The_monitor_settings_auto_commit_stored_offsets_with_eager_range_assignment()
    {
        var config = new GroupMemberSettings
        {
            BootstrapServers = "b",
            GroupId = "monitor",
            AutoCommitStoredOffsets = true,
            Assignment = PartitionAssignmentStrategy.Range,
        }.ToConfig();
        Assert.True(config.EnableAutoCommit);
        Assert.False(config.EnableAutoOffsetStore); // only what the job stored is committed
        Assert.Equal(PartitionAssignmentStrategy.Range, config.PartitionAssignmentStrategy);
    }

    [Fact]
    public void Heartbeats_go_five_times_per_session_timeout_but_never_more_often_than_every_100_ms()
    {
        Assert.Equal(100, new GroupMemberSettings { BootstrapServers = "b", GroupId = "g", SessionTimeout = TimeSpan.FromMilliseconds(300) }.ToConfig().HeartbeatIntervalMs);
    }

    [Fact]
    public void Extra_settings_are_applied_last_and_override_the_defaults()
    {
        var config = new GroupMemberSettings
        {
            BootstrapServers = "b",
            GroupId = "g",
            ClientId = "featurestore-ingest",
            ConsumeResultFields = "topic",
            KafkaSettings = new Dictionary<string, string> { ["security.protocol"] = "SSL", ["auto.offset.reset"] = "latest" },
        }.ToConfig();
        Assert.Equal("featurestore-ingest", config.ClientId);
        Assert.Equal("topic", config.Get("dotnet.consumer.consume.result.fields"));
        Assert.Equal(SecurityProtocol.Ssl, config.SecurityProtocol);
        Assert.Equal(AutoOffsetReset.Latest, config.AutoOffsetReset);
    }

    [Theory]
    [InlineData(100, 40, 60)]
    [InlineData(100, 100, 0)]
    [InlineData(100, 120, 0)] // read past the end the last fetch knew
    [InlineData(-1, 5, -1)] // no fetch told the end yet
    [InlineData(-1001, 5, -1)] // Offset.Unset
    public void The_lag_is_what_is_left_to_the_end_or_unknown(long high, long next, long lag)
    {
        Assert.Equal(lag, GroupMember.Lag(high, next));
    }
}
