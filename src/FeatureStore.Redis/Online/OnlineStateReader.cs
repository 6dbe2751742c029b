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

    /// <summary>
    /// Chosen by the store: <see cref="Pipeline"/> on Redis Cluster, <see cref="Script"/> on a single server
    /// (<see cref="OnlineStateReader.Choose"/>).
    /// </summary>
    Auto,
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

    // Auto only while no server of the store has been reached yet (its kind unknown).
    private volatile OnlineReadStrategy _strategy;

    /// <summary>A reader of <paramref name="database"/> by <paramref name="strategy"/> (<see cref="Choose"/>).</summary>
    /// <exception cref="NotSupportedException"><paramref name="strategy"/> is one Redis Cluster cannot run and the store is a cluster.</exception>
    public OnlineStateReader(IDatabase database, OnlineReadStrategy strategy)
    {
        ArgumentNullException.ThrowIfNull(database);
        _database = database;
        _strategy = Choose(strategy, IsCluster(database.Multiplexer));
    }

    /// <summary>
    /// The strategy reads use: the one asked for, or the one <see cref="OnlineReadStrategy.Auto"/> chose;
    /// <see cref="OnlineReadStrategy.Auto"/> itself until a server of the store has been reached.
    /// </summary>
    public OnlineReadStrategy Strategy => _strategy;

    /// <summary>
    /// The strategy lookups use when <paramref name="requested"/> is asked for on a store that is a Redis Cluster
    /// (<paramref name="cluster"/> true), a single server (false) or not known yet (null: <see cref="OnlineReadStrategy.Auto"/>
    /// stays undecided). <see cref="OnlineReadStrategy.Auto"/> is <see cref="OnlineReadStrategy.Pipeline"/> on a cluster,
    /// whose keys span slots, and <see cref="OnlineReadStrategy.Script"/> on a single server.
    /// </summary>
    /// <exception cref="NotSupportedException"><see cref="OnlineReadStrategy.Script"/> or <see cref="OnlineReadStrategy.Transaction"/> on a cluster.</exception>
    public static OnlineReadStrategy Choose(OnlineReadStrategy requested, bool? cluster) => requested switch
    {
        OnlineReadStrategy.Auto => cluster switch
        {
            true => OnlineReadStrategy.Pipeline,
            false => OnlineReadStrategy.Script,
            null => OnlineReadStrategy.Auto,
        },
        OnlineReadStrategy.Script or OnlineReadStrategy.Transaction when cluster == true => throw new NotSupportedException(
            $"the read strategy {requested.ToString().ToLowerInvariant()} reads every key of a lookup in one command, which Redis Cluster refuses across slots: "
            + "use pipeline (or auto, which chooses it on a cluster)"),
        OnlineReadStrategy.Script or OnlineReadStrategy.Transaction or OnlineReadStrategy.Pipeline => requested,
        _ => throw new ArgumentOutOfRangeException(nameof(requested), requested, "not a read strategy"),
    };

    /// <summary>True when <paramref name="store"/> is a Redis Cluster, false when a single server, null while none of its servers has been reached.</summary>
    public static bool? IsCluster(IConnectionMultiplexer store)
    {
        ArgumentNullException.ThrowIfNull(store);
        bool? cluster = null;
        foreach (var server in store.GetServers())
        {
            if (server.ServerType == ServerType.Cluster)
            {
                return true;
            }

            if (server.IsConnected)
            {
                cluster = false;
            }
        }

        return cluster;
    }

    /// <summary>
    /// Reads the hashes under <paramref name="keys"/>[i], for i below <paramref name="count"/>. Only the
    /// wait for the store is bounded by <paramref name="timeout"/> (a <see cref="TimeoutException"/>).
    /// The caller disposes the answer, which returns its buffers.
    /// </summary>
    public Task<StoredShares> ReadAsync(RedisKey[] keys, int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var strategy = _strategy == OnlineReadStrategy.Auto ? Decide() : _strategy;
        return strategy == OnlineReadStrategy.Script
            ? ReadByScriptAsync(keys, count, timeout, cancellationToken)
            : ReadEachAsync(strategy == OnlineReadStrategy.Transaction, keys, count, timeout, cancellationToken);
    }

    // The store was out of reach when the reader was made: its kind is learnt once a server is reached; until
    // then a read pipelines, which either kind runs.
    private OnlineReadStrategy Decide()
    {
        var chosen = Choose(OnlineReadStrategy.Auto, IsCluster(_database.Multiplexer));
        if (chosen == OnlineReadStrategy.Auto)
        {
            return OnlineReadStrategy.Pipeline;
        }

        _strategy = chosen;
        return chosen;
    }

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

    /// <summary>
    /// One HVALS per key, sent together: in one MULTI … EXEC (<paramref name="transaction"/>), or one pipelined batch.
    /// A pipelined read does not let the client follow a redirect of its raw replies (<c>NoRedirect</c>): the
    /// client's raw-reply commands release their arguments on the redirect's reply and then cannot be written again
    /// (StackExchange.Redis 3.4), which fails them and abandons the connection under every other command on it. A key
    /// whose raw read failed — <c>MOVED</c> or <c>ASK</c> while slots move, a master failing over — is read again
    /// by the ordinary command, which follows both (and the client learns the new owner from the <c>MOVED</c>).
    /// </summary>
    private async Task<StoredShares> ReadEachAsync(bool transaction, RedisKey[] keys, int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = TimeProvider.System.GetTimestamp();
        var arguments = ArrayPool<RedisKeyOrValue>.Shared.Rent(count);
        var pending = new Task<RespResult>[count];
        try
        {
            var unit = transaction ? _database.CreateTransaction() : null;
            var batch = transaction ? null : _database.CreateBatch();
            IDatabaseAsync commands = (IDatabaseAsync?)unit ?? batch!;
            var flags = transaction ? CommandFlags.None : CommandFlags.NoRedirect;
            for (var i = 0; i < count; i++)
            {
                arguments[i] = keys[i];
                pending[i] = commands.ExecuteRespAsync(HashValues, arguments.AsMemory(i, 1), flags);
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

            byte[][]?[]? reread = null;
            try
            {
                try
                {
                    await sent.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
                    await Task.WhenAll(pending).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!transaction && ex is not (TimeoutException or OperationCanceledException) && Array.TrueForAll(pending, p => p.IsCompleted))
                {
                    reread = await ReadAgainAsync(keys, pending, timeout - TimeProvider.System.GetElapsedTime(started), cancellationToken).ConfigureAwait(false);
                }
            }
            catch
            {
                foreach (var reply in pending)
                {
                    ReleaseLate(reply);
                }

                throw;
            }

            var replies = new RespResult?[count];
            for (var i = 0; i < count; i++)
            {
                replies[i] = pending[i].IsCompletedSuccessfully ? pending[i].Result : null;
            }

            return StoredShares.Of(replies, reread);
        }
        finally
        {
            ArrayPool<RedisKeyOrValue>.Shared.Return(arguments, clearArray: true);
        }
    }

    /// <summary>The values of every key whose raw read failed, read by the ordinary HVALS (all at once) within <paramref name="timeout"/>.</summary>
    private async Task<byte[][]?[]> ReadAgainAsync(RedisKey[] keys, Task<RespResult>[] pending, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (timeout <= TimeSpan.Zero)
        {
            throw new TimeoutException("no time left to read again the keys whose first read failed");
        }

        var again = new Task<RedisValue[]>?[pending.Length];
        for (var i = 0; i < pending.Length; i++)
        {
            if (!pending[i].IsCompletedSuccessfully)
            {
                again[i] = _database.HashValuesAsync(keys[i]);
            }
        }

        var values = new byte[][]?[pending.Length];
        for (var i = 0; i < pending.Length; i++)
        {
            if (again[i] is { } read)
            {
                var shares = await read.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
                values[i] = Array.ConvertAll(shares, static v => (byte[])v!);
            }
        }

        return values;
    }

    // A reply that arrives after the lookup gave up on it still returns its buffer.
    private static void ReleaseLate(Task<RespResult> reply) =>
        reply.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}

/// <summary>
/// The stored partition shares of each key a lookup read, in key order, as the store returned them (one
/// reply for all keys, or one per key, a few of them read again as values). Read once, front to back, through
/// <see cref="Reader"/>; disposing returns the replies' buffers, so no span read from it may outlive it.
/// </summary>
public sealed class StoredShares : IDisposable
{
    private readonly RespResult? _all;
    private readonly RespResult?[]? _each;
    private readonly byte[][]?[]? _values;
    private readonly int _count;

    private StoredShares(RespResult? all, RespResult?[]? each, byte[][]?[]? values, int count)
    {
        _all = all;
        _each = each;
        _values = values;
        _count = count;
    }

    /// <summary>The shares of <paramref name="count"/> keys in one reply (the script's); a reply of another shape throws.</summary>
    public static StoredShares Of(RespResult all, int count)
    {
        ArgumentNullException.ThrowIfNull(all);
        var reader = all.Read();
        if (reader.IsError || !reader.IsAggregate || reader.AggregateLength() != count)
        {
            all.Dispose();
            throw new RedisException($"the online store answered the lookup script with {(reader.IsError ? reader.ReadString() : reader.Prefix.ToString())}, not one array per key");
        }

        return new StoredShares(all, null, null, count);
    }

    /// <summary>
    /// The shares of each key in its own reply (HVALS's), or, for a key whose reply is null, in
    /// <paramref name="values"/> (the key read again).
    /// </summary>
    public static StoredShares Of(RespResult?[] each, byte[][]?[]? values)
    {
        ArgumentNullException.ThrowIfNull(each);
        for (var i = 0; i < each.Length; i++)
        {
            if (each[i] is null && values?[i] is null)
            {
                throw new ArgumentException($"key {i} has neither a reply nor values", nameof(values));
            }
        }

        return new(null, each, values, each.Length);
    }

    /// <summary>A reader positioned before the first key.</summary>
    public ShareReader Reader() => _all is { } all ? new ShareReader(all.Read(), null, _count) : new ShareReader(default, _each, _values, _count);

    /// <summary>Returns the replies' buffers.</summary>
    public void Dispose()
    {
        _all?.Dispose();
        if (_each is { } each)
        {
            foreach (var reply in each)
            {
                reply?.Dispose();
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
    private readonly RespResult?[]? _each;
    private readonly byte[][]?[]? _values;
    private readonly int _count;
    private RespReader _reader;
    private int _key;
    private byte[][]? _keyValues; // the current key's shares when it was read again, not in a reply
    private int _share;
    private byte[]? _scratch;

    /// <summary>A reader of <paramref name="count"/> keys: in one reply's aggregate (<paramref name="all"/>), or one reply each.</summary>
    public ShareReader(RespReader all, RespResult[]? each, int count)
        : this(all, each, null, count)
    {
    }

    /// <summary>
    /// A reader of <paramref name="count"/> keys: in one reply's aggregate (<paramref name="all"/>), or one reply
    /// each, or, for a key whose reply is null, in <paramref name="values"/>.
    /// </summary>
    public ShareReader(RespReader all, RespResult?[]? each, byte[][]?[]? values, int count)
    {
        _reader = all;
        _each = each;
        _values = values;
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
            _keyValues = each[_key] is null ? _values![_key] : null;
            if (_keyValues is { } values)
            {
                _share = 0;
                return values.Length;
            }

            _reader = each[_key]!.Read();
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
        if (_keyValues is not null)
        {
            return;
        }

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
        if (_keyValues is { } values)
        {
            return values[_share++];
        }

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
