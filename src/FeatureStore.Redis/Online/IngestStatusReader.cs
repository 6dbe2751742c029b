using System.Text.Json;
using StackExchange.Redis;

namespace FeatureStore.Redis.Online;

/// <summary>
/// A partition's status as an ingest member last published it (<see cref="OnlineKeys.IngestStatus"/>).
/// </summary>
/// <param name="Group">The ingest consumer group.</param>
/// <param name="Topic">Source topic.</param>
/// <param name="Partition">Partition.</param>
/// <param name="Lag">Messages behind the partition's end after the last write (-1 when not known yet).</param>
/// <param name="NewestEventMs">Newest event time applied from it (epoch ms; null before the first).</param>
/// <param name="LastWriteMs">When its last batch reached the online store (epoch ms; null before the first).</param>
/// <param name="UpdatedMs">When the member published this status (epoch ms).</param>
/// <param name="Member">The member that published it (host/process), when known.</param>
public sealed record IngestPartitionStatus(string Group, string Topic, int Partition, long Lag, long? NewestEventMs, long? LastWriteMs, long? UpdatedMs, string? Member);

/// <summary>
/// Reads the partition statuses ingest members publish (<c>PREFIX:PROJECT:ingest:groups</c>, then each
/// group's <c>…:ingest:GROUP:status</c> hash of small JSON objects), so a server shows freshness and lag
/// without talking to Kafka.
/// </summary>
public sealed class IngestStatusReader(IDatabase database, OnlineKeys keys)
{
    /// <summary>Every published partition status, by group, topic and partition; a status it cannot read (another version's) is left out.</summary>
    public async Task<List<IngestPartitionStatus>> ReadAsync(CancellationToken cancellationToken)
    {
        var groups = await database.SetMembersAsync(keys.IngestGroups).WaitAsync(cancellationToken).ConfigureAwait(false);
        var partitions = new List<IngestPartitionStatus>();
        foreach (var group in groups.Select(g => g.ToString()).Order(StringComparer.Ordinal))
        {
            foreach (var entry in await database.HashGetAllAsync(keys.IngestStatus(group)).WaitAsync(cancellationToken).ConfigureAwait(false))
            {
                if (Parse(group, entry.Value.ToString()) is { } status)
                {
                    partitions.Add(status);
                }
            }
        }

        partitions.Sort((a, b) => (a.Group, a.Topic, a.Partition).CompareTo((b.Group, b.Topic, b.Partition)));
        return partitions;
    }

    /// <summary>One status as ingest writes it, or null when it is not one (a status written by another version).</summary>
    internal static IngestPartitionStatus? Parse(string group, string json)
    {
        try
        {
            var d = JsonSerializer.Deserialize<IngestStatusDocument>(json, IngestStatusDocument.Json);
            return d?.Topic is null ? null : new IngestPartitionStatus(group, d.Topic, d.Partition, d.Lag, d.NewestEventMs, d.LastWriteMs, d.UpdatedMs, d.Member);
        }
        catch (JsonException)
        {
            return null; // skip it rather than fail the page that shows the others
        }
    }
}
