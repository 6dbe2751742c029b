using FeatureStore.Monitor.Job;

namespace FeatureStore.Monitor.Tests;

/// <summary>How far the monitor may commit each partition while windows are open (no broker, no store).</summary>
public sealed class CommitBoundsUnitTests
{
    private static readonly PartitionKey P0 = new("predictions", 0);
    private static readonly PartitionKey P1 = new("predictions", 1);
    private static readonly PartitionKey P2 = new("predictions", 2);

    [Fact]
    public void A_partition_is_committed_up_to_the_first_offset_an_open_window_holds()
    {
        var bounds = new CommitBounds();
        var window = new WindowOffsets();
        for (var offset = 10L; offset < 15; offset++)
        {
            Assert.True(bounds.Read(P0, offset));
            window.Hold(P0, offset);
        }

        Assert.Equal(10, Compute(bounds, window)[P0]);
    }

    [Fact]
    public void A_count_window_spanning_partitions_holds_back_each_of_them()
    {
        var bounds = new CommitBounds();
        var window = new WindowOffsets();
        (PartitionKey Partition, long Offset)[] reads = [(P0, 100), (P1, 7), (P0, 101), (P1, 8), (P0, 102)];
        foreach (var (partition, offset) in reads)
        {
            bounds.Read(partition, offset);
            window.Hold(partition, offset);
        }

        var result = Compute(bounds, window);
        Assert.Equal(100, result[P0]);
        Assert.Equal(7, result[P1]);
        Assert.Equal(new HeldRange(100, 102), window.Held[P0]);
        Assert.Equal(new HeldRange(7, 8), window.Held[P1]);
    }

    [Fact]
    public void Once_the_window_closes_the_commit_passes_what_it_covered_but_not_the_next_window()
    {
        var bounds = new CommitBounds();
        var window = new WindowOffsets();
        for (var offset = 0L; offset < 4; offset++)
        {
            bounds.Read(P0, offset);
            window.Hold(P0, offset);
        }

        window.Clear(); // evaluated and persisted
        Assert.Equal(4, Compute(bounds, window)[P0]);

        bounds.Read(P0, 4);
        window.Hold(P0, 4); // the next window opens
        bounds.Read(P0, 5);
        window.Hold(P0, 5);
        Assert.Equal(4, Compute(bounds, window)[P0]);
    }

    [Fact]
    public void The_lowest_first_offset_of_every_monitor_bounds_the_partition()
    {
        // Two monitors over the same predictions: `score` closed its window at 7, `segment` (by time) still holds 3…9.
        var bounds = new CommitBounds();
        var score = new WindowOffsets();
        var segment = new WindowOffsets();
        for (var offset = 3L; offset < 10; offset++)
        {
            bounds.Read(P0, offset);
            segment.Hold(P0, offset);
            if (offset >= 8)
            {
                score.Hold(P0, offset);
            }
        }

        Assert.Equal(3, Compute(bounds, score, segment)[P0]);
        segment.Clear();
        Assert.Equal(8, Compute(bounds, score, segment)[P0]);
    }

    [Fact]
    public void An_idle_partition_or_one_whose_predictions_were_all_skipped_commits_its_read_position()
    {
        var bounds = new CommitBounds();
        var window = new WindowOffsets();
        bounds.Read(P0, 41); // dead-lettered or skipped by every monitor: held by no window
        bounds.Read(P1, 5);
        window.Hold(P1, 5);

        var result = Compute(bounds, window);
        Assert.Equal(42, result[P0]);
        Assert.Equal(5, result[P1]);
        Assert.False(result.ContainsKey(P2)); // never read since the assignment: nothing to store
    }

    [Fact]
    public void A_redelivered_offset_is_refused_until_the_partitions_are_given_up()
    {
        var bounds = new CommitBounds();
        Assert.True(bounds.Read(P0, 5));
        Assert.True(bounds.Read(P0, 6));
        Assert.False(bounds.Read(P0, 5));
        Assert.False(bounds.Read(P0, 6));
        Assert.True(bounds.Read(P1, 5));

        bounds.Forget(); // revoked: the windows went too, so a re-read after the next assignment counts
        Assert.True(bounds.Read(P0, 5));
        Assert.Equal(6, Compute(bounds)[P0]);
    }

    [Theory]
    [InlineData("predictions:0", "predictions", 0)]
    [InlineData("my.topic-v2:17", "my.topic-v2", 17)]
    public void A_partition_field_names_topic_and_partition(string field, string topic, int partition)
    {
        Assert.True(PartitionKey.TryParseField(field, out var key));
        Assert.Equal(new PartitionKey(topic, partition), key);
        Assert.Equal(field, key.Field);
    }

    [Theory]
    [InlineData("closed_end_ms")]
    [InlineData("topic:")]
    [InlineData(":3")]
    [InlineData("topic:-1")]
    public void Other_fields_are_not_partitions(string field) => Assert.False(PartitionKey.TryParseField(field, out _));

    private static Dictionary<PartitionKey, long> Compute(CommitBounds bounds, params WindowOffsets[] open)
    {
        var result = new Dictionary<PartitionKey, long>();
        bounds.Compute(open, result);
        return result;
    }
}
