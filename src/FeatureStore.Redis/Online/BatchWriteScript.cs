using System.Buffers;
using StackExchange.Redis;

namespace FeatureStore.Redis.Online;

/// <summary>
/// One batch's write to the online store as a single Lua script call, which the store runs as one atomic
/// step: first it checks that every partition checkpoint the batch expects is still the stored one (fencing:
/// otherwise nothing is written and it answers 0), then it sets each changed state's share and, where asked,
/// its key's expiry, then the new checkpoints and the marks not yet set, and answers 1.
/// <para>
/// One command instead of a MULTI/EXEC of two per state: the store parses one command, the client builds and
/// completes one message, and the check is made where the writes are, with no WATCH round trip before.
/// Arguments: <c>KEYS[1]</c> is the checkpoint hash and <c>KEYS[2..]</c> the state keys; <c>ARGV</c> holds the
/// count of checks then each check's field and expected value (empty: the field must be absent), the count of
/// moves then each move's field and value, the count of marks then each mark's field and value, then per state
/// key its field, its encoded share and its expiry in milliseconds (0: leave it).
/// </para>
/// <para>
/// Marks are fields of the checkpoint hash set only when absent (HSETNX), in the same step: where ingest began
/// writing a group being built, per partition (<see cref="OnlineKeys.BuildStartField"/>), so the first batch
/// that writes the group records it and later ones leave it. A batch refused by a check sets none.
/// </para>
/// </summary>
public sealed partial class BatchWriteScript
{
    /// <summary>The script; the client sends EVALSHA once the store knows it, EVAL (which loads it) when not.</summary>
    public const string Source = """
        local checkpoints = KEYS[1]
        local checks = tonumber(ARGV[1])
        local at = 2
        for _ = 1, checks do
          local stored = redis.call('HGET', checkpoints, ARGV[at])
          local expected = ARGV[at + 1]
          if expected == '' then
            if stored then return 0 end
          elseif stored ~= expected then
            return 0
          end
          at = at + 2
        end
        local moves = tonumber(ARGV[at])
        local first = at + 1
        at = first + 2 * moves
        local marks = tonumber(ARGV[at])
        local firstMark = at + 1
        at = firstMark + 2 * marks
        for i = 2, #KEYS do
          redis.call('HSET', KEYS[i], ARGV[at], ARGV[at + 1])
          local expiry = ARGV[at + 2]
          if expiry ~= '0' then redis.call('PEXPIRE', KEYS[i], expiry) end
          at = at + 3
        end
        for m = first, first + 2 * moves - 1, 2 do
          redis.call('HSET', checkpoints, ARGV[m], ARGV[m + 1])
        end
        for m = firstMark, firstMark + 2 * marks - 1, 2 do
          redis.call('HSETNX', checkpoints, ARGV[m], ARGV[m + 1])
        end
        return 1
        """;

    private readonly ArrayBufferWriter<RedisKey> _keys = new(1024);
    private readonly ArrayBufferWriter<RedisValue> _values = new(4096);

    // Arguments before the first state's: the checks, moves and marks (the checkpoint script's own).
    private int _headerLength;

    /// <summary>
    /// Starts a batch: the checkpoint hash, the checks (field, and expected value or null for absent), the
    /// moves (field, new value) and the marks (field, value set only when the field is absent).
    /// </summary>
    public void Start(
        RedisKey checkpoints,
        IReadOnlyCollection<(RedisValue Field, string? Expected)> checks,
        IReadOnlyCollection<(RedisValue Field, string Value)> moves,
        IReadOnlyCollection<(RedisValue Field, string Value)>? marks = null)
    {
        Clear();
        Add(_keys, checkpoints);
        Add(_values, checks.Count);
        foreach (var (field, expected) in checks)
        {
            Add(_values, field);
            Add(_values, expected ?? string.Empty);
        }

        Add(_values, moves.Count);
        foreach (var (field, value) in moves)
        {
            Add(_values, field);
            Add(_values, value);
        }

        Add(_values, marks?.Count ?? 0);
        foreach (var (field, value) in marks ?? [])
        {
            Add(_values, field);
            Add(_values, value);
        }

        _headerLength = _values.WrittenCount;
    }

    /// <summary>Adds a state share: its key, field, encoded bytes (read when the script is sent) and expiry (0 ms: unchanged).</summary>
    public void State(RedisKey key, RedisValue field, ReadOnlyMemory<byte> share, long expiryMs)
    {
        Add(_keys, key);
        Add(_values, field);
        Add(_values, share);
        Add(_values, expiryMs);
    }

    /// <summary>Sends the script; the reply is 1 (written) or 0 (a check failed, nothing written).</summary>
    public Task<RespResult> SendAsync(IDatabaseAsync database) =>
        database.ScriptEvaluateRespAsync(Source, _keys.WrittenMemory, _values.WrittenMemory);

    /// <summary>Sends the script and waits: true when it wrote, false when a check refused it (nothing written).</summary>
    public async Task<bool> WriteAsync(IDatabaseAsync database)
    {
        using var reply = await SendAsync(database).ConfigureAwait(false);
        return Written(reply);
    }

    /// <summary>Whether the script's reply says it wrote (true) or was refused by a check (false).</summary>
    public static bool Written(RespResult reply)
    {
        var reader = reply.Read();
        if (reader.IsError)
        {
            throw new RedisException("the online store refused the batch write: " + reader.ReadString());
        }

        return reader.ReadInt64() == 1;
    }

    /// <summary>Drops the references of the last batch (keys, and the arena slices of its shares).</summary>
    public void Clear()
    {
        _keys.Clear();
        _values.Clear();
        _headerLength = 0;
        Array.Clear(_slotKeys);
        Array.Clear(_slotValues);
    }

    private static void Add<T>(ArrayBufferWriter<T> writer, T item)
    {
        writer.GetSpan(1)[0] = item;
        writer.Advance(1);
    }
}
