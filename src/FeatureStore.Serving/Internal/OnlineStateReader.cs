using System.Security.Cryptography;
using System.Text;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// Reads the stored windowed state of many (view, entity) keys in one round trip to the online store: each
/// key's hash of partition shares (the ingest layout, <see cref="OnlineKeys"/>), as bytes: the values only
/// (HVALS), since a share's field, its partition, plays no part in the merge. Decoding is the caller's, one
/// state at a time into reused instances (<see cref="ServingRepository.RentState"/>).
/// <see cref="OnlineReadStrategy.Script"/> sends one EVALSHA whose script HVALSes every key;
/// <see cref="OnlineReadStrategy.Pipeline"/> sends one HVALS per key in a single pipelined batch.
/// </summary>
internal sealed class OnlineStateReader
{
    // Every key's shares, in KEYS order; a missing key gives an empty array (the entity was never seen).
    private const string Script = "local r = {} for i = 1, #KEYS do r[i] = redis.call('HVALS', KEYS[i]) end return r";
    private static readonly byte[] ScriptSha = SHA1.HashData(Encoding.ASCII.GetBytes(Script));

    private readonly IDatabase _database;
    private readonly OnlineReadStrategy _strategy;

    public OnlineStateReader(IDatabase database, OnlineReadStrategy strategy)
    {
        _database = database;
        _strategy = strategy;
    }

    /// <summary>
    /// Reads the hashes under <paramref name="keys"/>[i], for i below <paramref name="count"/>. Only the
    /// wait for the store is bounded by <paramref name="timeout"/> (a <see cref="TimeoutException"/>).
    /// </summary>
    public Task<StoredShares> ReadAsync(RedisKey[] keys, int count, TimeSpan timeout, CancellationToken cancellationToken) =>
        _strategy == OnlineReadStrategy.Script
            ? ReadByScriptAsync(keys, count, timeout, cancellationToken)
            : ReadByPipelineAsync(keys, count, timeout, cancellationToken);

    private async Task<StoredShares> ReadByScriptAsync(RedisKey[] keys, int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var exact = keys.Length == count ? keys : keys[..count];
        try
        {
            return new StoredShares(await _database.ScriptEvaluateAsync(ScriptSha, exact).WaitAsync(timeout, cancellationToken).ConfigureAwait(false));
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            // First use on this server (or it restarted): EVAL caches the script there for the next EVALSHA.
            return new StoredShares(await _database.ScriptEvaluateAsync(Script, exact).WaitAsync(timeout, cancellationToken).ConfigureAwait(false));
        }
    }

    private async Task<StoredShares> ReadByPipelineAsync(RedisKey[] keys, int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var batch = _database.CreateBatch();
        var pending = new Task<RedisValue[]>[count];
        for (var i = 0; i < count; i++)
        {
            pending[i] = batch.HashValuesAsync(keys[i]);
        }

        batch.Execute();
        return new StoredShares(await Task.WhenAll(pending).WaitAsync(timeout, cancellationToken).ConfigureAwait(false));
    }
}

/// <summary>The stored partition shares of each key a lookup read, in key order, as the store returned them.</summary>
internal readonly struct StoredShares
{
    private readonly RedisResult? _script;
    private readonly RedisValue[][]? _pipeline;

    public StoredShares(RedisResult script) => _script = script;

    public StoredShares(RedisValue[][] pipeline) => _pipeline = pipeline;

    /// <summary>Number of partition shares stored under key <paramref name="key"/> (0: never seen).</summary>
    public int Count(int key) => _script is { } script ? script[key].Length : _pipeline![key].Length;

    /// <summary>The bytes of share <paramref name="share"/> of key <paramref name="key"/>.</summary>
    public ReadOnlySpan<byte> Share(int key, int share) => _script is { } script
        ? ((ReadOnlyMemory<byte>)(RedisValue)script[key][share]).Span
        : ((ReadOnlyMemory<byte>)_pipeline![key][share]).Span;
}
