using FeatureStore.Bench.Harness;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Raw baselines of the online store: pipelined HSET and HMGET of feature-shaped hashes (10 fields of
/// 24 bytes per key) through StackExchange.Redis, against redis-server and embedded Garnet.
/// </summary>
internal static class RawRedisScenario
{
    private const int Fields = 10;

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(string target, IDatabase db, int keys, int repetitions)
    {
        var fieldNames = Enumerable.Range(0, Fields).Select(i => (RedisValue)$"f{i}").ToArray();
        var payload = new byte[24];
        Random.Shared.NextBytes(payload);
        var entries = fieldNames.Select(f => new HashEntry(f, payload)).ToArray();
        var prefix = $"bench:{Guid.NewGuid():N}:";
        var keyNames = Enumerable.Range(0, keys).Select(i => (RedisKey)(prefix + i)).ToArray();
        const int BatchSize = 1000;

        var writes = await Measure.MedianRateAsync(repetitions, async _ =>
        {
            for (var start = 0; start < keys; start += BatchSize)
            {
                var batch = db.CreateBatch();
                var pending = new Task[Math.Min(BatchSize, keys - start)];
                for (var i = 0; i < pending.Length; i++)
                {
                    pending[i] = batch.HashSetAsync(keyNames[start + i], entries);
                }

                batch.Execute();
                await Task.WhenAll(pending);
            }

            return keys;
        });

        var reads = await Measure.MedianRateAsync(repetitions, async _ =>
        {
            for (var start = 0; start < keys; start += BatchSize)
            {
                var batch = db.CreateBatch();
                var pending = new Task<RedisValue[]>[Math.Min(BatchSize, keys - start)];
                for (var i = 0; i < pending.Length; i++)
                {
                    pending[i] = batch.HashGetAsync(keyNames[start + i], fieldNames);
                }

                batch.Execute();
                await Task.WhenAll(pending);
            }

            return keys;
        });

        await CleanupAsync(db, keyNames);
        return
        [
            new ResultRow($"raw redis ({target})", "HSET 10 fields, pipelined ×1000", writes, "keys/s"),
            new ResultRow($"raw redis ({target})", "HMGET 10 fields, pipelined ×1000", reads, "keys/s"),
        ];
    }

    private static async Task CleanupAsync(IDatabase db, RedisKey[] keys)
    {
        foreach (var chunk in keys.Chunk(1000))
        {
            await db.KeyDeleteAsync(chunk);
        }
    }
}
