using System.Globalization;
using System.Text.Json;
using StackExchange.Redis;

namespace FeatureStore.Redis.Online;

/// <summary>What an ingest member last knew about one partition it owns.</summary>
/// <param name="Topic">Source topic.</param>
/// <param name="Partition">Partition.</param>
/// <param name="Lag">Messages behind the partition's end after the last write (-1 when not known yet).</param>
/// <param name="NewestEventMs">Newest event time applied from it (epoch ms; null before the first).</param>
/// <param name="LastWriteMs">When its last batch reached the online store (epoch ms; null before the first).</param>
public readonly record struct PartitionStatus(string Topic, int Partition, long Lag, long? NewestEventMs, long? LastWriteMs);

/// <summary>
/// Writes an ingest member's partition statuses to <c>PREFIX:PROJECT:ingest:GROUP:status</c> (one field
/// per partition, <c>TOPIC:PARTITION</c>, a small JSON object) and the group's name to
/// <c>PREFIX:PROJECT:ingest:groups</c>, so a server (the dashboard) can show freshness and lag without
/// talking to Kafka. Writes are fire-and-forget: a status is advisory and never holds ingestion up.
/// </summary>
public sealed class IngestStatusStore(IDatabase database, OnlineKeys keys, string group)
{
    private static readonly TimeSpan KeyLifetime = TimeSpan.FromDays(7);
    private readonly RedisKey _key = keys.IngestStatus(group);
    private readonly RedisKey _groups = keys.IngestGroups;
    private readonly string _member = Environment.MachineName + "/" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    /// <summary>Writes the statuses of the partitions the member owns, as of <paramref name="nowMs"/>; a store that is down is ignored.</summary>
    public void Write(long nowMs, IReadOnlyCollection<PartitionStatus> partitions)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        var entries = new HashEntry[partitions.Count];
        var i = 0;
        foreach (var p in partitions)
        {
            entries[i++] = new HashEntry(
                OnlineKeys.PartitionField(p.Topic, p.Partition),
                JsonSerializer.Serialize(new IngestStatusDocument(p.Topic, p.Partition, p.Lag, p.NewestEventMs, p.LastWriteMs, nowMs, _member), IngestStatusDocument.Json));
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

/// <summary>
/// A partition's status as stored, one JSON object per hash field (<c>topic</c>, <c>partition</c>, <c>lag</c>,
/// <c>newest_event_ms</c>, <c>last_write_ms</c>, <c>updated_ms</c>, <c>member</c>): written by
/// <see cref="IngestStatusStore"/>, read by <see cref="IngestStatusReader"/>.
/// </summary>
internal sealed record IngestStatusDocument(string? Topic, int Partition, long Lag, long? NewestEventMs, long? LastWriteMs, long? UpdatedMs, string? Member)
{
    /// <summary>snake_case names, as the dashboard and operators read them.</summary>
    public static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
