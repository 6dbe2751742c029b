using System.Globalization;
using System.Text.Json;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Ingest;

/// <summary>What an ingest member last knew about one partition it owns.</summary>
/// <param name="Topic">Source topic.</param>
/// <param name="Partition">Partition.</param>
/// <param name="Lag">Messages behind the partition's end after the last write (-1 when not known yet).</param>
/// <param name="NewestEventMs">Newest event time applied from it (epoch ms; null before the first).</param>
/// <param name="LastWriteMs">When its last batch reached the online store (epoch ms; null before the first).</param>
public readonly record struct PartitionStatus(string Topic, int Partition, long Lag, long? NewestEventMs, long? LastWriteMs);

/// <summary>
/// Publishes an ingest member's partition statuses to <c>PREFIX:PROJECT:ingest:GROUP:status</c> (one field
/// per partition, <c>TOPIC:PARTITION</c>, a small JSON object) and the group's name to
/// <c>PREFIX:PROJECT:ingest:groups</c>, so a server (the dashboard) can show freshness and lag without
/// talking to Kafka. Writes are fire-and-forget: a status is advisory and never holds ingestion up.
/// </summary>
internal sealed class IngestStatusWriter(IDatabase database, OnlineKeys keys, string group, TimeSpan interval)
{
    private static readonly TimeSpan KeyLifetime = TimeSpan.FromDays(7);
    private readonly RedisKey _key = keys.IngestStatus(group);
    private readonly RedisKey _groups = keys.IngestGroups;
    private readonly string _member = Environment.MachineName + "/" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
    private long _lastMs = long.MinValue / 2; // far enough in the past that the first round is due, without overflow

    /// <summary>True when the interval has passed since the last write.</summary>
    public bool IsDue(long nowMs) => nowMs - _lastMs >= interval.TotalMilliseconds;

    /// <summary>Writes the statuses of the partitions the member owns.</summary>
    public void Publish(long nowMs, IReadOnlyCollection<PartitionStatus> partitions)
    {
        if (partitions.Count == 0)
        {
            return; // nothing assigned yet: try again on the next round
        }

        _lastMs = nowMs;

        var entries = new HashEntry[partitions.Count];
        var i = 0;
        foreach (var p in partitions)
        {
            entries[i++] = new HashEntry(OnlineKeys.PartitionField(p.Topic, p.Partition), JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["topic"] = p.Topic,
                ["partition"] = p.Partition,
                ["lag"] = p.Lag,
                ["newest_event_ms"] = p.NewestEventMs,
                ["last_write_ms"] = p.LastWriteMs,
                ["updated_ms"] = nowMs,
                ["member"] = _member,
            }));
        }

        try
        {
            database.HashSet(_key, entries, CommandFlags.FireAndForget);
            database.KeyExpire(_key, KeyLifetime, CommandFlags.FireAndForget);
            database.SetAdd(_groups, group, CommandFlags.FireAndForget);
            database.KeyExpire(_groups, KeyLifetime, CommandFlags.FireAndForget);
        }
        catch (RedisException)
        {
            // the store is down: the batch loop is retrying it anyway, and the next status replaces this one
        }
    }
}
