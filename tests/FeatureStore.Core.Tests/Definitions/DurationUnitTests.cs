using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Tests.Definitions;

public sealed class DurationUnitTests
{
    [Theory]
    [InlineData("250ms", 250L)]
    [InlineData("30s", 30_000L)]
    [InlineData("5m", 300_000L)]
    [InlineData("1h", 3_600_000L)]
    [InlineData("7d", 604_800_000L)]
    [InlineData("1d12h", 129_600_000L)]
    [InlineData("1h30m15s500ms", 5_415_500L)]
    public void Reads_durations(string text, long ms)
    {
        Assert.True(Duration.TryParse(text, out var value, out _));
        Assert.Equal(ms, value);
        Assert.Equal(ms, Duration.TryParse(Duration.Format(ms), out var again, out _) ? again : -1);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("5 minutes")]
    [InlineData("h")]
    [InlineData("1x")]
    [InlineData("5m5m")]
    [InlineData("1.5h")]
    public void Rejects_non_durations(string text) => Assert.False(Duration.TryParse(text, out _, out _));

    [Theory]
    [InlineData("99999999999999d")]
    [InlineData("999999999999d")]
    [InlineData("10675200d")]
    [InlineData("10675199d24h")]
    public void Out_of_range_durations_are_refused_with_the_maximum_as_hint(string text)
    {
        Assert.False(Duration.TryParse(text, out _, out var hint));
        Assert.Equal($"too long: the longest duration is {Duration.Format(Duration.MaxMilliseconds)}", hint);
    }

    [Fact]
    public void The_longest_duration_is_read()
    {
        Assert.True(Duration.TryParse(Duration.Format(Duration.MaxMilliseconds), out var ms, out _));
        Assert.Equal(Duration.MaxMilliseconds, ms);
        Assert.Equal(TimeSpan.MaxValue.Days, TimeSpan.FromMilliseconds(ms).Days);
    }
}
