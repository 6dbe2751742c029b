namespace FeatureStore.Kafka.Consuming;

/// <summary>
/// The delay before a consumer retries after a failure of what it writes to: starts at an initial delay, doubles
/// after each failure up to a greatest delay, and starts over after a success.
/// </summary>
public sealed class RetryBackoff
{
    private readonly TimeSpan _initial;
    private readonly TimeSpan _max;

    /// <summary>A backoff from <paramref name="initial"/>, doubling up to <paramref name="max"/>.</summary>
    public RetryBackoff(TimeSpan initial, TimeSpan max)
    {
        _initial = initial;
        _max = max;
        Delay = initial;
    }

    /// <summary>How long to wait before the next retry.</summary>
    public TimeSpan Delay { get; private set; }

    /// <summary>True after a failure, until <see cref="Reset"/>.</summary>
    public bool IsBackingOff => Delay != _initial;

    /// <summary>Records a failure: the next retry waits twice as long, at most the greatest delay.</summary>
    public void Failed() => Delay = TimeSpan.FromTicks(Math.Min(_max.Ticks, Delay.Ticks * 2));

    /// <summary>Records a success: the next failure waits the initial delay again. True when it was backing off.</summary>
    public bool Reset()
    {
        var was = IsBackingOff;
        Delay = _initial;
        return was;
    }
}
