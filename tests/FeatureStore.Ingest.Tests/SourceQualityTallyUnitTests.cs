using FeatureStore.Core.Events;

namespace FeatureStore.Ingest.Tests;

/// <summary>The consumed and dead-lettered counts ingest adds to the source quality buckets.</summary>
public sealed class SourceQualityTallyUnitTests
{
    [Fact]
    public void Rejects_count_with_their_batch_and_every_count_is_taken_once()
    {
        using var metrics = new IngestMetrics();
        metrics.DeadLettered("payments", ParseError.MalformedJson);
        metrics.DeadLettered("payments", ParseError.MalformedJson);
        metrics.DeadLettered("payments", ParseError.TooLate);
        Assert.Empty(metrics.Quality.Take()); // held until their batch is written

        metrics.BatchWritten(TimeSpan.FromMilliseconds(1), TimeSpan.Zero);
        metrics.EventsAccepted("payments", 7);
        metrics.EventsAccepted("orders", 2);
        Assert.Equal(
            [new("orders:consumed", 2), new("payments:consumed", 10), new("payments:dead:malformed_json", 2), new("payments:dead:too_late", 1)],
            metrics.Quality.Take().OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Empty(metrics.Quality.Take());
    }
}
