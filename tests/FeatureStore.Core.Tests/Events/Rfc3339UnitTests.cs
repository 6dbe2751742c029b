using System.Text;
using FeatureStore.Core.Events;

namespace FeatureStore.Core.Tests.Events;

public sealed class Rfc3339UnitTests
{
    // Expected values from Python's datetime.fromisoformat(...).timestamp() * 1000, an independent parser.
    [Theory]
    [InlineData("2026-11-28T15:18:10Z", 1795879090000L)]
    [InlineData("2026-11-28T15:18:10.123Z", 1795879090123L)]
    [InlineData("2026-11-28T16:18:10.123456+01:00", 1795879090123L)]
    [InlineData("2026-11-28 15:18:10z", 1795879090000L)]
    [InlineData("1969-12-31T23:59:59.999Z", -1L)]
    [InlineData("2000-02-29T00:00:00-05:30", 951802200000L)]
    [InlineData("0001-01-01T00:00:00Z", -62135596800000L)]
    [InlineData("9999-12-31T23:59:59.999Z", 253402300799999L)]
    public void Reads_valid_times(string text, long expected)
    {
        Assert.True(Rfc3339.TryParse(Encoding.UTF8.GetBytes(text), out var ms));
        Assert.Equal(expected, ms);
    }

    [Theory]
    [InlineData("2026-11-28T15:18:10")] // no offset
    [InlineData("2026-11-28")]
    [InlineData("2026-02-29T00:00:00Z")] // not a leap year
    [InlineData("2026-13-01T00:00:00Z")]
    [InlineData("2026-11-28T24:00:00Z")]
    [InlineData("2026-11-28T15:18:60Z")]
    [InlineData("2026-11-28T15:18:10.Z")]
    [InlineData("2026-11-28T15:18:10+1:00")]
    [InlineData("2026-11-28T15:18:10Zjunk")]
    [InlineData("28/11/2026 15:18:10Z")]
    [InlineData("")]
    public void Rejects_invalid_times(string text) =>
        Assert.False(Rfc3339.TryParse(Encoding.UTF8.GetBytes(text), out _));

    [Fact]
    public void Format_round_trips() =>
        Assert.Equal("2026-11-28T15:18:10.123Z", Rfc3339.Format(1795879090123L));
}
