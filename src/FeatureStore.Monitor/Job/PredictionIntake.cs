using System.Threading.Channels;
using Confluent.Kafka;
using FeatureStore.Kafka.Consuming;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Monitor.Job;

/// <summary>
/// The monitor's Kafka consumer and nothing else: its configuration, the consume loop feeding a bounded
/// channel, the rebalance handlers and the offsets it may commit. A partition is given up only once the
/// evaluator has persisted what closed, stored the bounds and dropped its windows (<see cref="TakeRevoke"/>).
/// </summary>
internal sealed class PredictionIntake : IRebalanceListener, IDisposable
{
    // Marks the channel so an evaluator waiting on an empty one wakes for a rebalance.
    private static readonly ConsumeResult<byte[]?, byte[]?> Wake = new();

    private readonly MonitorOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<ConsumeResult<byte[]?, byte[]?>> _channel;
    private readonly GroupMember _member;

    // A rebalance in progress: set by the consumer's callback, which waits until the evaluator has persisted
    // what closed, stored the bounds and dropped its windows before the partitions are given up.
    private ManualResetEventSlim? _revoke;
    private int _evaluating;

    /// <summary>A consumer of the monitor's group, not yet subscribed.</summary>
    public PredictionIntake(MonitorOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _channel = Channel.CreateBounded<ConsumeResult<byte[]?, byte[]?>>(new BoundedChannelOptions(options.ChannelCapacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        // Auto-commit commits only what the evaluator stored: the commit bounds, never a prediction still held in
        // an open window. Eager (Range) rebalancing: every partition is revoked at once, so the member drops all
        // its windows and reads nothing it kept from a partition it gave up.
        _member = new GroupMember(
            new GroupMemberSettings
            {
                BootstrapServers = options.BootstrapServers,
                GroupId = options.GroupId,
                SessionTimeout = options.SessionTimeout,
                AutoCommitStoredOffsets = true,
                Assignment = PartitionAssignmentStrategy.Range,
            },
            this);
    }

    /// <summary>What was consumed, in order; a wake-up marker may be among it (<see cref="IsWake"/>).</summary>
    public ChannelReader<ConsumeResult<byte[]?, byte[]?>> Reader => _channel.Reader;

    /// <summary>True while a rebalance waits for the evaluator: what is left of the batch belongs to its next owner.</summary>
    public bool RevokeRequested => Volatile.Read(ref _revoke) is not null;

    /// <summary>True for the marker that wakes an evaluator waiting on an empty channel.</summary>
    public static bool IsWake(ConsumeResult<byte[]?, byte[]?> item) => ReferenceEquals(item, Wake);

    /// <summary>Subscribes to the prediction topics.</summary>
    public void Subscribe(IEnumerable<string> topics) => _member.Subscribe(topics);

    /// <summary>The evaluator starts (true) or stops (false) reading: a rebalance waits for it only while it runs.</summary>
    public void Evaluating(bool running)
    {
        Interlocked.Exchange(ref _evaluating, running ? 1 : 0);
        if (!running)
        {
            Interlocked.Exchange(ref _revoke, null)?.Set();
        }
    }

    /// <summary>The pending rebalance, taken: the caller sets it once its windows are dropped. Null when none.</summary>
    public ManualResetEventSlim? TakeRevoke() => Interlocked.Exchange(ref _revoke, null);

    /// <summary>Stores, per partition read, the offset the consumer may commit (auto-commit sends it).</summary>
    public void StoreOffsets(IReadOnlyDictionary<PartitionKey, long> commitTo)
    {
        foreach (var (partition, offset) in commitTo)
        {
            try
            {
                _member.Consumer.StoreOffset(new TopicPartitionOffset(partition.Topic, new Partition(partition.Partition), new Offset(offset)));
            }
            catch (KafkaException)
            {
                // the partition was lost: its next owner starts from the offset committed before
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
    IEnumerable<TopicPartitionOffset> IRebalanceListener.Assigned(List<TopicPartition> partitions) =>
        partitions.Select(p => new TopicPartitionOffset(p, Offset.Unset));

    /// <inheritdoc/>
    void IRebalanceListener.Revoked(List<TopicPartitionOffset> partitions) => GiveUp(commit: true);

    /// <inheritdoc/>
    void IRebalanceListener.Lost(List<TopicPartitionOffset> partitions) => GiveUp(commit: false);

    /// <inheritdoc/>
    void IRebalanceListener.Error(Error error)
    {
        // librdkafka retries on its own; a failed consume is logged by the loop.
    }

    // Runs on the consuming thread inside Consume, before the partitions go: nothing the evaluator keeps may
    // come from them afterwards, and what it persisted must be committed before the next owner starts.
    private void GiveUp(bool commit)
    {
        using var done = new ManualResetEventSlim();
        Interlocked.Exchange(ref _revoke, done);
        if (Volatile.Read(ref _evaluating) == 1)
        {
            _channel.Writer.TryWrite(Wake); // a full channel needs no wake: the evaluator sees the request at its next prediction
            done.Wait();
        }

        Interlocked.CompareExchange(ref _revoke, null, done);
        if (commit)
        {
            _member.CommitStored();
        }
    }
}
