using FeatureStore.Kafka.Consuming;

namespace FeatureStore.Kafka.Tests.Consuming;

public sealed class RetryBackoffUnitTests
{
    [Fact]
    public void The_delay_starts_at_the_initial_one_and_doubles_after_each_failure_up_to_the_greatest()
    {
        var backoff = new RetryBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(700));
        Assert.False(backoff.IsBackingOff);
        var delays = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            delays.Add(backoff.Delay.TotalMilliseconds);
            backoff.Failed();
        }

        Assert.Equal([100, 200, 400, 700, 700], delays);
        Assert.True(backoff.IsBackingOff);
    }

    [Fact]
    public void A_success_starts_the_delay_over_and_tells_whether_it_was_backing_off()
    {
        var backoff = new RetryBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        Assert.False(backoff.Reset());
        backoff.Failed();
        backoff.Failed();
        Assert.True(backoff.Reset());
        Assert.Equal(TimeSpan.FromMilliseconds(100), backoff.Delay);
        Assert.False(backoff.Reset());
    }

    [Fact]
    public void A_greatest_delay_below_the_initial_one_caps_the_delay_after_the_first_failure()
    {
        var backoff = new RetryBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(10));
        Assert.Equal(TimeSpan.FromSeconds(1), backoff.Delay);
        backoff.Failed();
        Assert.Equal(TimeSpan.FromMilliseconds(10), backoff.Delay);
    }
}
