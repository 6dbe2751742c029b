using System.Diagnostics;
using Confluent.Kafka;

namespace FeatureStore.Kafka.Consuming;

/// <summary>
/// One member of a Kafka consumer group, as every job of ours consumes: the consumer configured from
/// <see cref="GroupMemberSettings"/>, its rebalances handed to the job's <see cref="IRebalanceListener"/>,
/// offsets committed after what they cover is written (a commit failure is reported, not thrown: the job's own
/// store holds the position that counts), and the partitions' bounds for lag.
/// <para>
/// Usage: the job implements <see cref="IRebalanceListener"/>, creates the member, subscribes, then reads
/// <see cref="Consumer"/> in its loop (Consume, Seek, StoreOffset stay librdkafka's, with nothing in between on the
/// hot path). Ingest and the offline archiver keep the defaults (cooperative sticky, explicit commits). The
/// monitor sets <see cref="GroupMemberSettings.AutoCommitStoredOffsets"/> and
/// <see cref="PartitionAssignmentStrategy.Range"/>: it stores the offsets it evaluated, librdkafka commits them,
/// and its revoked handler calls <see cref="CommitStored"/> before the partitions go.
/// </para>
/// </summary>
public sealed class GroupMember : IDisposable
{
    // How long a query of a partition's bounds may take before the bounds count as unknown.
    private static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(5);

    private readonly IRebalanceListener _listener;

    /// <summary>Builds the consumer; it joins the group at its first Consume after <see cref="Subscribe"/>.</summary>
    public GroupMember(GroupMemberSettings settings, IRebalanceListener listener)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(listener);
        _listener = listener;
        Consumer = new ConsumerBuilder<byte[]?, byte[]?>(settings.ToConfig())
            .SetPartitionsAssignedHandler((_, partitions) => listener.Assigned(partitions))
            .SetPartitionsRevokedHandler((_, partitions) => listener.Revoked(partitions))
            .SetPartitionsLostHandler((_, partitions) => listener.Lost(partitions))
            .SetErrorHandler((_, error) => listener.Error(error))
            .Build();
    }

    /// <summary>The consumer, for the job's loop.</summary>
    public IConsumer<byte[]?, byte[]?> Consumer { get; }

    /// <summary>Subscribes to <paramref name="topics"/>.</summary>
    public void Subscribe(IEnumerable<string> topics) => Consumer.Subscribe(topics);

    /// <summary>
    /// Commits <paramref name="offsets"/> (each the next offset to read); a failure goes to the listener's
    /// <see cref="IRebalanceListener.Error"/>, since Kafka's copy of the position is for lag tooling.
    /// </summary>
    public void Commit(IEnumerable<TopicPartitionOffset> offsets)
    {
        try
        {
            Consumer.Commit(offsets);
        }
        catch (KafkaException ex)
        {
            _listener.Error(ex.Error);
        }
    }

    /// <summary>Commits the offsets stored so far (with auto-commit); nothing stored since the last commit is no failure.</summary>
    public void CommitStored()
    {
        try
        {
            Consumer.Commit();
        }
        catch (KafkaException)
        {
            // nothing stored since the last commit, or the group is gone: the next owner re-reads at most that much
        }
    }

    /// <summary>The group's committed offsets of <paramref name="partitions"/> (those with one), or none when Kafka does not answer.</summary>
    public Dictionary<TopicPartition, long> Committed(List<TopicPartition> partitions)
    {
        try
        {
            return Consumer.Committed(partitions, QueryTimeout).Where(o => o.Offset.Value >= 0).ToDictionary(o => o.TopicPartition, o => o.Offset.Value);
        }
        catch (KafkaException)
        {
            return [];
        }
    }

    /// <summary>A partition's bounds asked of the broker now; both <see cref="Offset.Unset"/> when it does not answer.</summary>
    public WatermarkOffsets QueryBounds(TopicPartition partition)
    {
        try
        {
            return Consumer.QueryWatermarkOffsets(partition, QueryTimeout);
        }
        catch (KafkaException)
        {
            return new WatermarkOffsets(Offset.Unset, Offset.Unset);
        }
    }

    /// <summary>
    /// Messages of <paramref name="partition"/> from <paramref name="nextOffset"/> to its end as of the last fetch
    /// (no round trip), or -1 when no fetch told its end yet.
    /// </summary>
    public long Lag(TopicPartition partition, long nextOffset) => Lag(Consumer.GetWatermarkOffsets(partition).High.Value, nextOffset);

    /// <summary>Messages from <paramref name="nextOffset"/> to <paramref name="high"/>, or -1 when the end is unknown (negative).</summary>
    public static long Lag(long high, long nextOffset) => high >= 0 ? Math.Max(0, high - nextOffset) : -1;

    /// <summary>Stops fetching every assigned partition (the member stays in the group).</summary>
    public void Pause() => Consumer.Pause(Consumer.Assignment);

    /// <summary>Fetches every assigned partition again.</summary>
    public void Resume() => Consumer.Resume(Consumer.Assignment);

    /// <summary>
    /// Waits <paramref name="delay"/> while serving rebalances: paused partitions return nothing, but Consume still
    /// runs the rebalance handlers, so the member keeps its place in the group.
    /// </summary>
    public async Task WaitServingRebalancesAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < delay)
        {
            _ = Consumer.Consume(TimeSpan.FromMilliseconds(Math.Min(100, Math.Max(1, (delay - clock.Elapsed).TotalMilliseconds))));
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Leaves the group cleanly (revoked handlers run).</summary>
    public void Close() => Consumer.Close();

    /// <inheritdoc/>
    public void Dispose() => Consumer.Dispose();
}
