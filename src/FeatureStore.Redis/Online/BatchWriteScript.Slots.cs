using StackExchange.Redis;

namespace FeatureStore.Redis.Online;

// The same batch written to a Redis Cluster, which refuses a script whose keys span slots (docs/scaling.md).
public sealed partial class BatchWriteScript
{
    /// <summary>
    /// The shares of one slot's keys, written on condition that no stored share is stamped further than the one
    /// replacing it (<see cref="Core.Windows.ShareStamp"/>: marker byte 0xF5, then the offset as 8 bytes
    /// little-endian): a member that lost its partition, working from an older state, is refused key by key.
    /// Answers 1 (written) or 0 (refused, nothing written). Arguments per key: field, share, expiry (0: leave it).
    /// </summary>
    public const string SlotSource = """
        local function stamp(share)
          if #share < 9 or string.byte(share, 1) ~= 245 then return nil end
          local offset = 0
          for k = 9, 2, -1 do offset = offset * 256 + string.byte(share, k) end
          return offset
        end
        for i = 1, #KEYS do
          local at = 3 * i - 2
          local stored = redis.call('HGET', KEYS[i], ARGV[at])
          if stored then
            local old = stamp(stored)
            local new = stamp(ARGV[at + 1])
            if old and (not new or old > new) then return 0 end
          end
        end
        for i = 1, #KEYS do
          local at = 3 * i - 2
          redis.call('HSET', KEYS[i], ARGV[at], ARGV[at + 1])
          if ARGV[at + 2] ~= '0' then redis.call('PEXPIRE', KEYS[i], ARGV[at + 2]) end
        end
        return 1
        """;

    // A slot being migrated answers TRYAGAIN to a script whose keys are split between its two nodes for now.
    private const int SlotAttempts = 40;

    private RedisKey[] _slotKeys = [];
    private RedisValue[] _slotValues = [];
    private int[] _keySlots = []; // per state, in the order added
    private int[] _slots = [];    // per state, in slot order
    private int[] _order = [];

    /// <summary>
    /// Writes the batch without a transaction across slots: the shares one script per slot (each slot's keys
    /// together, all sent at once, so the client pipelines each node's and the nodes work in parallel); when
    /// every one has landed, waits until a replica of each master holds them (<c>WAIT</c>, when the master has
    /// a replica); only then the checkpoint script alone, with its checks, moves and marks. True when the
    /// checkpoints moved; false when a check refused the batch: a share stamped further than ours, or a
    /// checkpoint not the one expected. A failure in between leaves shares ahead of their checkpoint, which
    /// their stamps make harmless: the replay skips what they hold.
    /// </summary>
    public async Task<bool> WriteBySlotAsync(IConnectionMultiplexer multiplexer, IDatabaseAsync database, TimeSpan replicaTimeout)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        var states = _keys.WrittenCount - 1;
        if (states > 0)
        {
            OrderBySlot(multiplexer, states);
            var writes = new List<Task<bool>>();
            for (var start = 0; start < states;)
            {
                var end = start + 1;
                while (end < states && _slots[end] == _slots[start])
                {
                    end++;
                }

                writes.Add(WriteSlotAsync(database, _slotKeys.AsMemory(start, end - start), _slotValues.AsMemory(3 * start, 3 * (end - start))));
                start = end;
            }

            var written = await Task.WhenAll(writes).ConfigureAwait(false);
            if (Array.IndexOf(written, false) >= 0)
            {
                return false;
            }

            await AwaitReplicasAsync(multiplexer, replicaTimeout).ConfigureAwait(false);
        }

        using var reply = await database.ScriptEvaluateRespAsync(Source, _keys.WrittenMemory[..1], _values.WrittenMemory[.._headerLength]).ConfigureAwait(false);
        return Written(reply);
    }

    /// <summary>Copies the states' keys and arguments into slot order (keys of one slot side by side, first touched first).</summary>
    private void OrderBySlot(IConnectionMultiplexer multiplexer, int states)
    {
        if (_slots.Length < states)
        {
            _keySlots = new int[states * 2];
            _slots = new int[states * 2];
            _order = new int[states * 2];
            _slotKeys = new RedisKey[states * 2];
            _slotValues = new RedisValue[states * 6];
        }

        var keys = _keys.WrittenSpan;
        for (var i = 0; i < states; i++)
        {
            // Slot, then place: a stable order, so one key's shares keep the order they were added in.
            _keySlots[i] = multiplexer.HashSlot(keys[i + 1]);
            _order[i] = i;
        }

        var slots = _keySlots;
        _order.AsSpan(0, states).Sort((a, b) => slots[a] != slots[b] ? slots[a].CompareTo(slots[b]) : a.CompareTo(b));
        var values = _values.WrittenSpan[_headerLength..];
        for (var i = 0; i < states; i++)
        {
            var from = _order[i];
            _slots[i] = slots[from];
            _slotKeys[i] = keys[from + 1];
            values.Slice(3 * from, 3).CopyTo(_slotValues.AsSpan(3 * i, 3));
        }
    }

    private static async Task<bool> WriteSlotAsync(IDatabaseAsync database, ReadOnlyMemory<RedisKey> keys, ReadOnlyMemory<RedisValue> values)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var reply = await database.ScriptEvaluateRespAsync(SlotSource, keys, values).ConfigureAwait(false);
            var reader = reply.Read();
            if (!reader.IsError)
            {
                return reader.ReadInt64() == 1;
            }

            var error = reader.ReadString() ?? "error";
            if (attempt >= SlotAttempts || !error.StartsWith("TRYAGAIN", StringComparison.Ordinal))
            {
                throw new RedisException("the online store refused a slot's write: " + error);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10 * Math.Min(attempt, 10))).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits until one replica of each master that has one holds every write this client sent it (WAIT on each
    /// master's connection, the one the writes went through); throws when one does not within the timeout.
    /// Redis replicates asynchronously: without this a failover could lose shares whose checkpoint moved.
    /// </summary>
    private static async Task AwaitReplicasAsync(IConnectionMultiplexer multiplexer, TimeSpan timeout)
    {
        var waits = new List<(IServer Server, Task<RedisResult> Acked)>();
        foreach (var server in multiplexer.GetServers())
        {
            if (!server.IsConnected || server.IsReplica)
            {
                continue;
            }

            var node = server.ClusterConfiguration?[server.EndPoint];
            if (node is null || !node.Children.Any(c => c.IsConnected && !c.IsFail && !c.IsPossiblyFail))
            {
                continue;
            }

            waits.Add((server, server.ExecuteAsync("WAIT", 1, (long)timeout.TotalMilliseconds)));
        }

        foreach (var (server, acked) in waits)
        {
            if ((long)await acked.ConfigureAwait(false) < 1 && await HasReplicaAsync(server).ConfigureAwait(false))
            {
                throw new RedisException($"no replica of {server.EndPoint} acknowledged the batch's shares within {timeout.TotalMilliseconds:0} ms");
            }
        }
    }

    /// <summary>
    /// Whether the master has a replica attached (syncing or in sync): one that lags fails the batch (retried), but
    /// a master left without any (its replica died, or it was just promoted) must not stop ingest: its shares are
    /// then as durable as the master alone, as on a single server.
    /// </summary>
    private static async Task<bool> HasReplicaAsync(IServer server)
    {
        var info = (string?)await server.ExecuteAsync("INFO", "replication").ConfigureAwait(false) ?? "";
        const string Field = "connected_slaves:";
        var at = info.IndexOf(Field, StringComparison.Ordinal);
        return at < 0 || !info.AsSpan(at + Field.Length).StartsWith("0");
    }
}
