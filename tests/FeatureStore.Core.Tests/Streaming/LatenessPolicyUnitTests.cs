using FeatureStore.Core.Events;
using FeatureStore.Core.Streaming;

namespace FeatureStore.Core.Tests.Streaming;

public sealed class LatenessPolicyUnitTests
{
    private const long Now = 1_000_000;

    [Fact]
    public void First_event_sets_the_watermark()
    {
        var policy = new LatenessPolicy(allowedLatenessMs: 100, maxFutureSkewMs: 50);
        Assert.Equal(long.MinValue, policy.Watermark(0));
        Assert.Equal(ParseError.None, policy.Admit(0, 500, Now));
        Assert.Equal(500, policy.Watermark(0));
    }

    [Fact]
    public void Events_within_the_lateness_count_and_older_ones_do_not()
    {
        var policy = new LatenessPolicy(100, 50);
        policy.Admit(0, 1000, Now);
        Assert.Equal(ParseError.None, policy.Admit(0, 900, Now));    // exactly at the limit
        Assert.Equal(ParseError.TooLate, policy.Admit(0, 899, Now));
        Assert.Equal(1000, policy.Watermark(0));                      // late events never move it
    }

    [Fact]
    public void Partitions_have_their_own_watermarks()
    {
        var policy = new LatenessPolicy(100, 50);
        policy.Admit(0, 5000, Now);
        Assert.Equal(ParseError.None, policy.Admit(1, 100, Now));
    }

    [Fact]
    public void Events_too_far_ahead_of_processing_time_are_rejected()
    {
        var policy = new LatenessPolicy(100, 50);
        Assert.Equal(ParseError.None, policy.Admit(0, Now + 50, Now));
        Assert.Equal(ParseError.TooFarInFuture, policy.Admit(0, Now + 51, Now));
        Assert.Equal(Now + 50, policy.Watermark(0));
    }

    [Fact]
    public void Restored_watermark_judges_replayed_events_the_same_way()
    {
        var original = new LatenessPolicy(100, 50);
        var times = new long[] { 1000, 950, 1200, 1050, 1099, 1100, 1300 };
        var verdicts = times.Select(t => original.Admit(0, t, Now)).ToArray();

        // Crash after the third event: the checkpoint holds the watermark at that point.
        var replay = new LatenessPolicy(100, 50);
        replay.Restore(0, 1200);
        var replayed = times.Skip(3).Select(t => replay.Admit(0, t, Now)).ToArray();

        Assert.Equal(verdicts.Skip(3), replayed);
        Assert.Equal([ParseError.TooLate, ParseError.TooLate, ParseError.None, ParseError.None], replayed);
    }
}
