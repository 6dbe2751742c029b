using System.Buffers;
using RESPite.Messages;
using StackExchange.Redis;

namespace FeatureStore.Redis.Online;

/// <summary>How a lookup reads entity states from the online store; both take one round trip.</summary>
public enum OnlineReadStrategy
{
    /// <summary>
    /// One EVALSHA of a short Lua script that returns every requested hash: one command per lookup.
    /// The default on a single server (Redis, Garnet); not possible on Redis Cluster, whose keys span slots.
    /// </summary>
    Script,

    /// <summary>One HVALS per entity and view, written in one pipelined batch. Works on Redis Cluster.</summary>
    Pipeline,

    /// <summary>
    /// One MULTI … EXEC holding an HVALS per entity and view, sent at once: one round trip, the states read
    /// atomically as by the script, without running Lua (which on redis-server copies every value twice on its
    /// one thread). Not possible on Redis Cluster.
    /// </summary>
    Transaction,
}

/// <summary>
/// Reads the stored windowed state of many (view, entity) keys in one round trip to the online store: each
/// key's hash of partition shares (the ingest layout, <see cref="OnlineKeys"/>), as bytes: the values only
/// (HVALS), since a share's field, its partition, plays no part in the merge. Decoding is the caller's, one
/// state at a time into reused instances (serving's lookup).
/// <see cref="OnlineReadStrategy.Script"/> sends one EVALSHA whose script HVALSes every key;
/// <see cref="OnlineReadStrategy.Transaction"/> sends one MULTI … EXEC holding an HVALS per key;
/// <see cref="OnlineReadStrategy.Pipeline"/> sends one HVALS per key in a single pipelined batch.
/// Replies stay in the client's pooled receive buffers (<see cref="RespResult"/>) and are read in place:
/// a lookup copies no state into arrays of its own and builds no result objects.
/// </summary>
public sealed class OnlineStateReader
{
    // Every key's shares, in KEYS order; a missing key gives an empty array (the entity was never seen).
    // The client sends EVALSHA once the server knows the script, and EVAL (which loads it) when it does not.
    private const string Script = "local r = {} for i = 1, #KEYS do r[i] = redis.call('HVALS', KEYS[i]) end return r";
    private const string HashValues = "HVALS";

    private readonly IDatabase _database;
    private readonly OnlineReadStrategy _strategy;

    /// <summary>A reader of <paramref name="database"/> by <paramref name="strategy"/>.</summary>
    public OnlineStateReader(IDatabase database, OnlineReadStrategy strategy)
    {
        _database = database;
        _strategy = strategy;
    }

    /// <summary>
    /// Reads the hashes under <paramref name="keys"/>[i], for i below <paramref name="count"/>. Only the
    /// wait for the store is bounded by <paramref name="timeout"/> (a <see cref="TimeoutException"/>).
    /// The caller disposes the answer, which returns its buffers.
    /// </summary>
    public Task<StoredShares> ReadAsync(RedisKey[] keys, int count, TimeSpan timeout, CancellationToken cancellationToken) =>
        _strategy == OnlineReadStrategy.Script
            ? ReadByScriptAsync(keys, count, timeout, cancellationToken)
            : ReadEachAsync(_strategy == OnlineReadStrategy.Transaction, keys, count, timeout, cancellationToken);

    private async Task<StoredShares> ReadByScriptAsync(RedisKey[] keys, int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var reply = _database.ScriptEvaluateRespAsync(Script, keys.AsMemory(0, count), ReadOnlyMemory<RedisValue>.Empty);
        try
        {
            return StoredShares.Of(await reply.WaitAsync(timeout, cancellationToken).ConfigureAwait(false), count);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            ReleaseLate(reply);
            throw;
        }
    }

    /// <summary>One HVALS per key, sent together: in one MULTI … EXEC (<paramref name="transaction"/>), or one pipelined batch.</summary>
    private async Task<StoredShares> ReadEachAsync(bool transaction, RedisKey[] keys, int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var arguments = ArrayPool<RedisKeyOrValue>.Shared.Rent(count);
        var pending = new Task<RespResult>[count];
        try
        {
            var unit = transaction ? _database.CreateTransaction() : null;
            var batch = transaction ? null : _database.CreateBatch();
            IDatabaseAsync commands = (IDatabaseAsync?)unit ?? batch!;
            for (var i = 0; i < count; i++)
            {
                arguments[i] = keys[i];
                pending[i] = commands.ExecuteRespAsync(HashValues, arguments.AsMemory(i, 1));
            }

            Task sent;
            if (unit is not null)
            {
                sent = unit.ExecuteAsync();
            }
            else
            {
                batch!.Execute();
                sent = Task.CompletedTask;
            }

            try
            {
                await sent.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
                await Task.WhenAll(pending).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                foreach (var reply in pending)
                {
                    ReleaseLate(reply);
                }

                throw;
            }

            var replies = new RespResult[count];
            for (var i = 0; i < count; i++)
            {
                replies[i] = pending[i].Result;
            }

            return StoredShares.Of(replies);
        }
        finally
        {
            ArrayPool<RedisKeyOrValue>.Shared.Return(arguments, clearArray: true);
        }
    }

    // A reply that arrives after the lookup gave up on it still returns its buffer.
    private static void ReleaseLate(Task<RespResult> reply) =>
        reply.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}

/// <summary>
/// The stored partition shares of each key a lookup read, in key order, as the store returned them (one
/// reply for all keys, or one per key). Read once, front to back, through <see cref="Reader"/>; disposing
/// returns the replies' buffers, so no span read from it may outlive it.
/// </summary>
public sealed class StoredShares : IDisposable
{
    private readonly RespResult? _all;
    private readonly RespResult[]? _each;
    private readonly int _count;

    private StoredShares(RespResult? all, RespResult[]? each, int count)
    {
        _all = all;
        _each = each;
        _count = count;
    }

    /// <summary>The shares of <paramref name="count"/> keys in one reply (the script's); a reply of another shape throws.</summary>
    public static StoredShares Of(RespResult all, int count)
    {
        var reader = all.Read();
        if (reader.IsError || !reader.IsAggregate || reader.AggregateLength() != count)
        {
            all.Dispose();
            throw new RedisException($"the online store answered the lookup script with {(reader.IsError ? reader.ReadString() : reader.Prefix.ToString())}, not one array per key");
        }

        return new StoredShares(all, null, count);
    }

    /// <summary>The shares of each key in its own reply (HVALS's).</summary>
    public static StoredShares Of(RespResult[] each) => new(null, each, each.Length);

    /// <summary>A reader positioned before the first key.</summary>
    public ShareReader Reader() => _all is { } all ? new ShareReader(all.Read(), null, _count) : new ShareReader(default, _each, _count);

    /// <summary>Returns the replies' buffers.</summary>
    public void Dispose()
    {
        _all?.Dispose();
        if (_each is { } each)
        {
            foreach (var reply in each)
            {
                reply.Dispose();
            }
        }
    }
}

/// <summary>
/// Walks the keys of <see cref="StoredShares"/> in order: <see cref="NextKey"/> moves to the next key's
/// array of shares, <see cref="NextShare"/> gives each share's bytes (in the store's buffer when they lie
/// in one piece, copied into a buffer of the reader's otherwise).
/// </summary>
public ref struct ShareReader
{
    private readonly RespResult[]? _each;
    private readonly int _count;
    private RespReader _reader;
    private int _key;
    private byte[]? _scratch;

    /// <summary>A reader of <paramref name="count"/> keys: in one reply's aggregate (<paramref name="all"/>), or one reply each.</summary>
    public ShareReader(RespReader all, RespResult[]? each, int count)
    {
        _reader = all;
        _each = each;
        _count = count;
        _key = -1;
    }

    /// <summary>Moves to the next key and gives its number of shares (0: the entity was never seen).</summary>
    public int NextKey()
    {
        _key++;
        if ((uint)_key >= (uint)_count)
        {
            throw new InvalidOperationException("read past the last key");
        }

        if (_each is { } each)
        {
            _reader = each[_key].Read();
        }
        else
        {
            _reader.MoveNextAggregate();
        }

        if (_reader.IsError)
        {
            throw new RedisException(_reader.ReadString() ?? "error");
        }

        return _reader.IsNull ? 0 : _reader.AggregateLength();
    }

    /// <summary>Steps over the next key and its shares, without reading them.</summary>
    public void SkipKey()
    {
        var shares = NextKey();
        for (var s = 0; s < shares; s++)
        {
            _reader.MoveNextScalar();
        }
    }

    /// <summary>A copy of the position, to read the current key's shares twice.</summary>
    public readonly ShareReader Mark() => this;

    /// <summary>The bytes of the current key's next share; valid until the next call.</summary>
    public ReadOnlySpan<byte> NextShare()
    {
        _reader.MoveNextScalar();
        if (_reader.TryGetSpan(out var span))
        {
            return span;
        }

        var length = _reader.ScalarLength();
        if (_scratch is null || _scratch.Length < length)
        {
            _scratch = new byte[Math.Max(length, 4096)];
        }

        _reader.CopyTo(_scratch);
        return _scratch.AsSpan(0, length);
    }
}
