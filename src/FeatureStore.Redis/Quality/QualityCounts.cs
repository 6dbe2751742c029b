using StackExchange.Redis;

namespace FeatureStore.Redis.Quality;

/// <summary>
/// Adds counts to the current bucket (HINCRBY, so every serving replica's and ingest member's counts add up) and
/// reads them back over a window (<see cref="QualityKeys"/>).
/// </summary>
public sealed class QualityCounts(IDatabase database, QualityKeys keys)
{
    /// <summary>The key layout.</summary>
    public QualityKeys Keys { get; } = keys;

    /// <summary>Adds <paramref name="counts"/> to the served-value bucket of <paramref name="nowMs"/>.</summary>
    public Task AddServedAsync(long nowMs, IReadOnlyCollection<KeyValuePair<string, long>> counts) =>
        AddAsync(Keys.Served(QualityKeys.Bucket(nowMs)), counts);

    /// <summary>Adds <paramref name="counts"/> to the source bucket of <paramref name="nowMs"/>.</summary>
    public Task AddSourcesAsync(long nowMs, IReadOnlyCollection<KeyValuePair<string, long>> counts) =>
        AddAsync(Keys.Sources(QualityKeys.Bucket(nowMs)), counts);

    /// <summary>The served-value counts of every bucket that overlaps the <paramref name="windowMs"/> up to <paramref name="nowMs"/>, by bucket.</summary>
    public Task<IReadOnlyList<(long BucketStartMs, Dictionary<string, long> Counts)>> ReadServedAsync(long nowMs, long windowMs) =>
        ReadAsync(Keys.Served, nowMs, windowMs);

    /// <summary>The source counts of every bucket that overlaps the <paramref name="windowMs"/> up to <paramref name="nowMs"/>, by bucket.</summary>
    public Task<IReadOnlyList<(long BucketStartMs, Dictionary<string, long> Counts)>> ReadSourcesAsync(long nowMs, long windowMs) =>
        ReadAsync(Keys.Sources, nowMs, windowMs);

    private async Task AddAsync(RedisKey key, IReadOnlyCollection<KeyValuePair<string, long>> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        if (counts.Count == 0)
        {
            return;
        }

        var batch = database.CreateBatch();
        var writes = new List<Task>(counts.Count + 1);
        foreach (var (field, count) in counts)
        {
            writes.Add(batch.HashIncrementAsync(key, field, count));
        }

        writes.Add(batch.KeyExpireAsync(key, QualityKeys.BucketLifetime));
        batch.Execute();
        await Task.WhenAll(writes).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<(long BucketStartMs, Dictionary<string, long> Counts)>> ReadAsync(Func<long, RedisKey> key, long nowMs, long windowMs)
    {
        var last = QualityKeys.Bucket(nowMs);
        var first = QualityKeys.Bucket(nowMs - windowMs) + 1;
        var batch = database.CreateBatch();
        var reads = new List<(long Bucket, Task<HashEntry[]> Read)>();
        for (var b = first; b <= last; b++)
        {
            reads.Add((b, batch.HashGetAllAsync(key(b))));
        }

        batch.Execute();
        var result = new List<(long, Dictionary<string, long>)>(reads.Count);
        foreach (var (bucket, read) in reads)
        {
            var counts = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var entry in await read.ConfigureAwait(false))
            {
                if (entry.Value.TryParse(out long count))
                {
                    counts[entry.Name.ToString()] = count;
                }
            }

            result.Add((bucket * QualityKeys.BucketMs, counts));
        }

        return result;
    }
}
