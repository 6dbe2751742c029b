using System.Collections.Concurrent;

namespace FeatureStore.Ingest;

/// <summary>
/// Per source, the events consumed (accepted once their batch is written, or dead-lettered) and dead-lettered per
/// reason since the last <see cref="Take"/>: what the status writer adds to the source quality buckets, from
/// which the evaluator computes each source's dead-letter rate.
/// </summary>
public sealed class SourceQualityTally
{
    private readonly ConcurrentDictionary<(string Source, string? Reason), long> _counts = new();

    internal void Accepted(string source, long count) => _counts.AddOrUpdate((source, null), count, (_, c) => c + count);

    internal void DeadLettered(string source, string reason)
    {
        _counts.AddOrUpdate((source, null), 1, (_, c) => c + 1);
        _counts.AddOrUpdate((source, reason), 1, (_, c) => c + 1);
    }

    /// <summary>The counts so far as bucket fields (<c>SOURCE:consumed</c>, <c>SOURCE:dead:REASON</c>), reset to zero.</summary>
    public List<KeyValuePair<string, long>> Take()
    {
        var taken = new List<KeyValuePair<string, long>>();
        foreach (var key in _counts.Keys)
        {
            if (_counts.TryRemove(key, out var count) && count > 0)
            {
                taken.Add(new(key.Reason is null ? $"{key.Source}:consumed" : $"{key.Source}:dead:{key.Reason}", count));
            }
        }

        return taken;
    }
}
