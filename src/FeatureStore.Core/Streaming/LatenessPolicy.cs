using FeatureStore.Core.Events;

namespace FeatureStore.Core.Streaming;

/// <summary>
/// Decides which events are too late or too far in the future (DESIGN.md §4). Each source partition keeps
/// a watermark: the greatest event time it has accepted. An event older than the watermark minus the
/// allowed lateness is late; one later than the processing time plus the allowed future skew is rejected.
/// Both go to the dead-letter topic; neither stops the job.
/// </summary>
public sealed class LatenessPolicy
{
    private readonly Dictionary<int, long> _watermarks = [];

    /// <summary>Creates a policy.</summary>
    /// <param name="allowedLatenessMs">How far behind its partition's watermark an event may be and still count.</param>
    /// <param name="maxFutureSkewMs">How far ahead of the processing time an event may be.</param>
    public LatenessPolicy(long allowedLatenessMs, long maxFutureSkewMs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(allowedLatenessMs);
        ArgumentOutOfRangeException.ThrowIfNegative(maxFutureSkewMs);
        AllowedLatenessMs = allowedLatenessMs;
        MaxFutureSkewMs = maxFutureSkewMs;
    }

    /// <summary>Allowed lateness in ms.</summary>
    public long AllowedLatenessMs { get; }

    /// <summary>Allowed future skew in ms.</summary>
    public long MaxFutureSkewMs { get; }

    /// <summary>The watermark of a partition, or <see cref="long.MinValue"/> before its first event.</summary>
    public long Watermark(int partition) => _watermarks.TryGetValue(partition, out var w) ? w : long.MinValue;

    /// <summary>
    /// Checks an event and, when it is accepted, advances its partition's watermark.
    /// </summary>
    public ParseError Admit(int partition, long eventTimeMs, long nowMs)
    {
        if (eventTimeMs > nowMs && eventTimeMs - nowMs > MaxFutureSkewMs)
        {
            return ParseError.TooFarInFuture;
        }

        ref var watermark = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_watermarks, partition, out var existed);
        if (!existed)
        {
            watermark = eventTimeMs;
            return ParseError.None;
        }

        if (eventTimeMs < watermark && watermark - eventTimeMs > AllowedLatenessMs)
        {
            return ParseError.TooLate;
        }

        if (eventTimeMs > watermark)
        {
            watermark = eventTimeMs;
        }

        return ParseError.None;
    }

    /// <summary>Sets a partition's watermark (restored state after an assignment).</summary>
    public void Restore(int partition, long watermarkMs) => _watermarks[partition] = watermarkMs;

    /// <summary>Forgets a partition (revoked).</summary>
    public void Forget(int partition) => _watermarks.Remove(partition);
}
