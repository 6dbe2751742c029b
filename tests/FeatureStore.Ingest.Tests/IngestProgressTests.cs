namespace FeatureStore.Ingest.Tests;

public sealed class IngestProgressTests
{
    [Fact]
    public void Before_any_partition_is_assigned_the_lag_is_unknown_not_zero()
    {
        var line = IngestProgress.Unassigned.Line(0, 0, 0, 0, 0);
        Assert.Equal("ingest: 0 events applied (0/s), 0 dead-lettered, lag ? (no partition assigned yet)", line);
    }

    [Fact]
    public void While_some_partitions_are_not_measured_yet_the_lag_is_unknown()
    {
        var line = new IngestProgress(4, 1, 0).Line(1_200, 240, 3, 0, 0);
        Assert.Equal("ingest: 1200 events applied (240/s), 3 dead-lettered, lag ? (catching up: 1 of 4 partitions measured)", line);
    }

    [Fact]
    public void Once_every_partition_is_measured_the_lag_is_their_sum_and_events_read_again_are_apart()
    {
        Assert.Equal("ingest: 5000 events applied (0/s), 0 dead-lettered, lag 12", new IngestProgress(4, 4, 12).Line(5_000, 0, 0, 0, 0));
        Assert.Equal("ingest: 5000 events applied (10/s), 0 dead-lettered, 700 read again after a failed write, lag 0", new IngestProgress(4, 4, 0).Line(5_000, 10, 0, 0, 700));
        Assert.Equal("ingest: 5000 events applied (10/s), 1200 of them replayed (applied before, their checkpoints lost with the online store), 0 dead-lettered, lag 0",
            new IngestProgress(4, 4, 0).Line(5_000, 10, 0, 1_200, 0));
    }
}
