using System.Collections.Concurrent;

namespace FeatureStore.Ingest;

/// <summary>
/// Per source, the events consumed (accepted or dead-lettered) and dead-lettered per reason since the last
/// <see cref="Take"/>: what the status writer adds to the source quality buckets, from which the evaluator computes
/// each source's dead-letter rate. Both count once their batch is written: a batch's rejects are held until then, so
/// a rate never sees them before the batch's accepted events.
/// </summary>
public sealed class SourceQualityTally
{
    private readonly ConcurrentDictionary<(string Source, string? Reason), long> _counts = new();
    private readonly ConcurrentDictionary<(string Source, string? Reason), long> _held = new();

    internal void Accepted(string source, long count) => _counts.AddOrUpdate((source, null), count, (_, c) => c + count);

    internal void DeadLettered(string source, string reason)
    {
        _held.AddOrUpdate((source, null), 1, (_, c) => c + 1);
        _held.AddOrUpdate((source, reason), 1, (_, c) => c + 1);
    }

    /// <summary>A batch was written: the rejects held so far count.</summary>
    internal void Landed()
    {
        foreach (var key in _held.Keys)
        {
            if (_held.TryRemove(key, out var count))
            {
                _counts.AddOrUpdate(key, count, (_, c) => c + count);
            }
        }
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
