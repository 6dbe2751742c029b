using System.Security.Cryptography;
using System.Text;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// Reads the windowed state of many (view, entity) pairs in one round trip to the online store and
/// merges each hash's partition shares (the ingest layout, <see cref="OnlineKeys"/>).
/// <see cref="OnlineReadStrategy.Script"/> sends one EVALSHA whose script HGETALLs every key;
/// <see cref="OnlineReadStrategy.Pipeline"/> sends one HGETALL per key in a single pipelined batch.
/// </summary>
internal sealed class OnlineStateReader
{
    // Every key's hash, in KEYS order; a missing key gives an empty array (the entity was never seen).
    private const string Script = "local r = {} for i = 1, #KEYS do r[i] = redis.call('HGETALL', KEYS[i]) end return r";
    private static readonly byte[] ScriptSha = SHA1.HashData(Encoding.ASCII.GetBytes(Script));

    private readonly IDatabase _database;
    private readonly OnlineReadStrategy _strategy;

    public OnlineStateReader(IDatabase database, OnlineReadStrategy strategy)
    {
        _database = database;
        _strategy = strategy;
    }

    /// <summary>
    /// Reads the states of <paramref name="views"/>[i] under <paramref name="keys"/>[i], for i below
    /// <paramref name="count"/>. Only the wait for the store is bounded by <paramref name="timeout"/>
    /// (a <see cref="TimeoutException"/>); decoding and merging come after it.
    /// </summary>
    public Task ReadAsync(RedisKey[] keys, CompiledView[] views, ViewWindowState[] states, int count, TimeSpan timeout, CancellationToken cancellationToken) =>
        _strategy == OnlineReadStrategy.Script
            ? ReadByScriptAsync(keys, views, states, count, timeout, cancellationToken)
            : ReadByPipelineAsync(keys, views, states, count, timeout, cancellationToken);

    private async Task ReadByScriptAsync(RedisKey[] keys, CompiledView[] views, ViewWindowState[] states, int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var exact = keys.Length == count ? keys : keys[..count];
        RedisResult result;
        try
        {
            result = await _database.ScriptEvaluateAsync(ScriptSha, exact).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            // First use on this server (or it restarted): EVAL caches the script there for the next EVALSHA.
            result = await _database.ScriptEvaluateAsync(Script, exact).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }

        for (var i = 0; i < count; i++)
        {
            var hash = result[i];
            var view = views[i];
            if (hash.Length == 2)
            {
                // One partition's share, the common case: no merge needed.
                states[i] = ViewWindowState.ReadFrom(((ReadOnlyMemory<byte>)(RedisValue)hash[1]).Span, view.Features, view.TtlMs);
                continue;
            }

            var state = new ViewWindowState(view.Features, view.TtlMs);
            for (var f = 1; f < hash.Length; f += 2)
            {
                state.MergeFrom(ViewWindowState.ReadFrom(((ReadOnlyMemory<byte>)(RedisValue)hash[f]).Span, view.Features, view.TtlMs));
            }

            states[i] = state;
        }
    }

    private async Task ReadByPipelineAsync(RedisKey[] keys, CompiledView[] views, ViewWindowState[] states, int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var batch = _database.CreateBatch();
        var pending = new Task<HashEntry[]>[count];
        for (var i = 0; i < count; i++)
        {
            pending[i] = batch.HashGetAllAsync(keys[i]);
        }

        batch.Execute();
        await Task.WhenAll(pending).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < count; i++)
        {
            states[i] = OnlineFeatureReader.Decode(views[i], await pending[i].ConfigureAwait(false));
        }
    }
}
