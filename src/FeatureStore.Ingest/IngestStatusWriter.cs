using FeatureStore.Redis.Online;
using FeatureStore.Redis.Quality;

namespace FeatureStore.Ingest;

/// <summary>
/// Publishes an ingest member's partition statuses (lag, freshness) for the dashboard every
/// <paramref name="interval"/>, through <see cref="IngestStatusStore"/>; and with them, when given, the events
/// consumed and dead-lettered per source since the last round into the source quality buckets.
/// </summary>
internal sealed class IngestStatusWriter(IngestStatusStore store, TimeSpan interval, SourceQualityTally? tally = null, QualityCounts? counts = null)
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
        if (tally is not null && counts is not null && tally.Take() is { Count: > 0 } taken)
        {
            // Advisory like the status: a store that is down loses these counts, never holds ingestion up.
            _ = counts.AddSourcesAsync(nowMs, taken).ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
        }
    }
}
