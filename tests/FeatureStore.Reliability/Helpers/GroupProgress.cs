using System.Globalization;
using Confluent.Kafka;
using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Reliability.Helpers;

/// <summary>
/// What an ingest consumer group has done with each partition of one topic, as the online store tells it: the
/// checkpoints (the next offset to apply, written with the states they cover) and the statuses the members publish
/// (which member owns the partition, when it last wrote).
/// </summary>
internal sealed class GroupProgress(IDatabase database, OnlineKeys keys, string group, string topic, int partitions)
{
    /// <summary>Each partition's checkpointed next offset (0 before its first batch).</summary>
    public async Task<long[]> CheckpointsAsync()
    {
        var fields = Enumerable.Range(0, partitions).Select(p => OnlineKeys.PartitionField(topic, p)).ToArray();
        var stored = await database.HashGetAsync(keys.Checkpoints(group), fields);

        // NEXT_OFFSET:WATERMARK (OnlineKeys).
        return [.. stored.Select(v => v.IsNull ? 0 : long.Parse(v.ToString().AsSpan(0, v.ToString().IndexOf(':', StringComparison.Ordinal)), CultureInfo.InvariantCulture))];
    }

    /// <summary>Each partition's last published status (null while no member has published one).</summary>
    public async Task<IngestPartitionStatus?[]> StatusesAsync(CancellationToken cancellationToken)
    {
        var statuses = new IngestPartitionStatus?[partitions];
        foreach (var status in await new IngestStatusReader(database, keys).ReadAsync(cancellationToken))
        {
            if (status.Group == group && status.Topic == topic && status.Partition < partitions)
            {
                statuses[status.Partition] = status;
            }
        }

        return statuses;
    }

    /// <summary>The process id of the member that published <paramref name="status"/> (its member is HOST/PID).</summary>
    public static int? MemberPid(IngestPartitionStatus? status) =>
        status?.Member is { } member && int.TryParse(member.AsSpan(member.LastIndexOf('/') + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;

    /// <summary>Each partition's end offset (high watermark) in the broker.</summary>
    public long[] Ends(string bootstrap)
    {
        using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "probe-" + Guid.NewGuid().ToString("N") }).Build();
        return [.. Enumerable.Range(0, partitions).Select(p => probe.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value)];
    }

    /// <summary>Sum over partitions of what is left to apply: end offset minus checkpoint.</summary>
    public static long Lag(long[] ends, long[] checkpoints) => ends.Zip(checkpoints, (e, c) => Math.Max(0, e - c)).Sum();
}
