using System.Threading.Channels;
using Confluent.Kafka;
using FeatureStore.Kafka.Consuming;
using FeatureStore.Monitor.Job;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Monitor.Performance;

/// <summary>
/// The performance job's Kafka consumer: its own group (<c>GROUP.performance</c>), the consume loop feeding a
/// bounded channel, and the start of each assigned partition at the offset the online store holds for it. Kafka's
/// committed offsets are only a hint (for lag tools and for a partition the store knows nothing of): the join
/// script skips any record below its stored offset, so a partition read twice, or by two members during a
/// rebalance, changes nothing twice, and a revoked partition needs no hand-over.
/// </summary>
internal sealed class JoinIntake : IRebalanceListener, IDisposable
{
    private readonly MonitorOptions _options;
    private readonly ILogger _logger;
    private readonly Func<TopicPartition, long?> _stored;
    private readonly Channel<ConsumeResult<byte[]?, byte[]?>> _channel;
    private readonly GroupMember _member;

    /// <summary>A consumer of <paramref name="groupId"/>, not yet subscribed; <paramref name="stored"/> answers a partition's stored next offset, or null.</summary>
    public JoinIntake(MonitorOptions options, string groupId, Func<TopicPartition, long?> stored, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _stored = stored;
        _channel = Channel.CreateBounded<ConsumeResult<byte[]?, byte[]?>>(new BoundedChannelOptions(options.ChannelCapacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _member = new GroupMember(
            new GroupMemberSettings
            {
                BootstrapServers = options.BootstrapServers,
                GroupId = groupId,
                SessionTimeout = options.SessionTimeout,
                AutoCommitStoredOffsets = true,
                Assignment = PartitionAssignmentStrategy.Range,

                // The join reads the topic and a label's Kafka timestamp, never a record's headers: not copied per record.
                ConsumeResultFields = "topic,timestamp",
            },
            this);
    }

    /// <summary>What was consumed, in order.</summary>
    public ChannelReader<ConsumeResult<byte[]?, byte[]?>> Reader => _channel.Reader;

    /// <summary>Subscribes to the prediction and label topics.</summary>
    public void Subscribe(IEnumerable<string> topics) => _member.Subscribe(topics);

    /// <summary>
    /// The end offset (high watermark) of every partition of <paramref name="topics"/>, asked of the brokers now;
    /// a topic or partition that does not answer is left out.
    /// </summary>
    public Dictionary<TopicPartition, long> QueryEnds(IEnumerable<string> topics)
    {
        var ends = new Dictionary<TopicPartition, long>();
        using var admin = new DependentAdminClientBuilder(_member.Consumer.Handle).Build();
        foreach (var topic in topics)
        {
            Metadata metadata;
            try
            {
                metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(5));
            }
            catch (KafkaException ex)
            {
                MonitorLog.ConsumeError(_logger, ex.Error.Reason);
                continue;
            }

            foreach (var partition in metadata.Topics.Where(t => t.Error.Code == ErrorCode.NoError).SelectMany(t => t.Partitions))
            {
                var tp = new TopicPartition(topic, partition.PartitionId);
                if (_member.QueryBounds(tp) is { High.Value: >= 0 } bounds && bounds.High.Value > bounds.Low.Value)
                {
                    ends[tp] = bounds.High.Value;
                }
            }
        }

        return ends;
    }

    /// <summary>The partitions assigned to this member now.</summary>
    public List<TopicPartition> Assignment() => _member.Consumer.Assignment;

    /// <summary>A partition's end offset as the last fetch told it (no round trip), or null when none told it yet.</summary>
    public long? LastEnd(TopicPartition partition) =>
        _member.Consumer.GetWatermarkOffsets(partition) is { High.Value: >= 0 } bounds ? bounds.High.Value : null;

    /// <summary>Stores the next offset of each partition a batch applied (auto-commit sends it to Kafka, as a hint).</summary>
    public void StoreOffsets(IReadOnlyDictionary<TopicPartition, long> next)
    {
        foreach (var (partition, offset) in next)
        {
            try
            {
                _member.Consumer.StoreOffset(new TopicPartitionOffset(partition, new Offset(offset)));
            }
            catch (KafkaException)
            {
                // not assigned any more: its next owner starts from the store's offset anyway
            }
        }
    }

    /// <summary>Consumes into the channel until <paramref name="cancellationToken"/> fires, then completes it.</summary>
    public Task ConsumeAsync(CancellationToken cancellationToken) =>
        ConsumeLoop.RunAsync(_member.Consumer, _channel.Writer, _options.TimeProvider, _logger, cancellationToken);

    /// <summary>Commits what was stored and leaves the group.</summary>
    public void Close()
    {
        _member.CommitStored();
        _member.Close();
    }

    /// <inheritdoc/>
    public void Dispose() => _member.Dispose();

    /// <inheritdoc/>
    IEnumerable<TopicPartitionOffset> IRebalanceListener.Assigned(List<TopicPartition> partitions)
    {
        var starts = new List<TopicPartitionOffset>(partitions.Count);
        foreach (var tp in partitions)
        {
            long? stored;
            try
            {
                stored = _stored(tp);
            }
            catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
            {
                // The store cannot say now: the committed offset is never past the stored one, and the script skips
                // what it already applied.
                MonitorLog.StoreError(_logger, ex);
                stored = null;
            }

            starts.Add(new TopicPartitionOffset(tp, stored is { } next ? new Offset(next) : Offset.Unset));
        }

        return starts;
    }

    /// <inheritdoc/>
    void IRebalanceListener.Revoked(List<TopicPartitionOffset> partitions) => _member.CommitStored();

    /// <inheritdoc/>
    void IRebalanceListener.Lost(List<TopicPartitionOffset> partitions)
    {
        // Nothing to hand over: what this member still applies from them is skipped by the script if their next owner applied it first.
    }

    /// <inheritdoc/>
    void IRebalanceListener.Error(Error error)
    {
        // librdkafka retries on its own; a failed consume is logged by the loop.
    }
}
