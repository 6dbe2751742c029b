using FeatureStore.Redis.Online;

namespace FeatureStore.Ingest;

/// <summary>
/// Publishes an ingest member's partition statuses (lag, freshness) for the dashboard every
/// <paramref name="interval"/>, through <see cref="IngestStatusStore"/>.
/// </summary>
internal sealed class IngestStatusWriter(IngestStatusStore store, TimeSpan interval)
{
    private long _lastMs = long.MinValue / 2; // far enough in the past that the first round is due, without overflow

    /// <summary>True when the interval has passed since the last write.</summary>
    public bool IsDue(long nowMs) => nowMs - _lastMs >= interval.TotalMilliseconds;

    /// <summary>Writes the statuses of the partitions the member owns.</summary>
    public void Publish(long nowMs, IReadOnlyCollection<PartitionStatus> partitions)
    {
        if (partitions.Count == 0)
        {
            return; // nothing assigned yet: try again on the next round
        }

        _lastMs = nowMs;
        store.Write(nowMs, partitions);
    }
}
