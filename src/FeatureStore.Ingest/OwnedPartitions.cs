using Confluent.Kafka;
using FeatureStore.Core.Events;
using FeatureStore.Core.Streaming;
using FeatureStore.Kafka;
using FeatureStore.Kafka.Consuming;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Ingest;

/// <summary>
/// The partitions an ingest member owns and where each resumes: on assignment at the checkpoint in the online
/// store (or, when the store cannot be read then, once the consume loop has loaded it), unless the checkpoint
/// belongs to another incarnation of the topic; after a failed write, every one again from its checkpoint.
/// </summary>
internal sealed class OwnedPartitions
{
    private readonly Dictionary<string, SourceBinding> _sources;
    private readonly Dictionary<string, EventParser> _parsers;
    private readonly Dictionary<string, LatenessPolicy> _lateness;
    private readonly OnlineTileWriter _writer;
    private readonly ILogger _logger;
    private readonly Dictionary<TopicPartition, PartitionState> _owned = [];
    private readonly Dictionary<string, string> _liveIncarnations = new(StringComparer.Ordinal);
    private readonly List<(TopicPartition Partition, string Why)> _restarted = [];

    public OwnedPartitions(IngestOptions options, IEnumerable<SourceBinding> sources, OnlineTileWriter writer, ILogger logger)
    {
        _sources = sources.ToDictionary(s => s.Topic, StringComparer.Ordinal);
        _writer = writer;
        _logger = logger;
        _parsers = _sources.ToDictionary(kv => kv.Key, kv => new EventParser(kv.Value.Schema), StringComparer.Ordinal);
        _lateness = _sources.ToDictionary(
            kv => kv.Key,
            kv => new LatenessPolicy((long)options.AllowedLateness.TotalMilliseconds, (long)options.MaxFutureSkew.TotalMilliseconds),
            StringComparer.Ordinal);
    }

    /// <summary>The source topics.</summary>
    public IReadOnlyCollection<string> Topics => _sources.Keys;

    /// <summary>The group member the partitions are read through (set for a run).</summary>
    public GroupMember? Member { get; set; }

    /// <summary>Reads the topics' incarnations (set for a run).</summary>
    public TopicIncarnation? Incarnations { get; set; }

    public int Count => _owned.Count;

    public IReadOnlyCollection<TopicPartition> Partitions => _owned.Keys;

    public Dictionary<TopicPartition, PartitionState>.Enumerator GetEnumerator() => _owned.GetEnumerator();

    public PartitionState this[TopicPartition partition] => _owned[partition];

    public SourceBinding Source(string topic) => _sources[topic];

    public bool TryGetValue(TopicPartition partition, out PartitionState state) => _owned.TryGetValue(partition, out state!);

    public PartitionState? GetValueOrDefault(TopicPartition partition) => _owned.GetValueOrDefault(partition);

    /// <summary>True while <paramref name="state"/> is the owned state of its partition (not revoked meanwhile).</summary>
    public bool IsCurrent(PartitionState state) => _owned.TryGetValue(state.Partition, out var current) && ReferenceEquals(current, state);

    /// <summary>
    /// Takes newly assigned partitions over; returns where each starts: its stored checkpoint, or, when the store
    /// cannot be read now, unresolved (the consume loop loads the checkpoint and seeks before using its messages).
    /// </summary>
    public List<TopicPartitionOffset> Assign(List<TopicPartition> partitions)
    {
        ReadIncarnations(partitions);
        var applied = Member!.Committed(partitions); // none when Kafka does not answer: every event counts as applied for the first time
        var starts = new List<TopicPartitionOffset>(partitions.Count);
        foreach (var tp in partitions)
        {
            var state = new PartitionState(tp, _sources[tp.Topic], _parsers[tp.Topic], _lateness[tp.Topic]) { AppliedBelow = applied.GetValueOrDefault(tp) };
            _owned[tp] = state;
            if (_writer.TryLoadCheckpoint(tp, out var checkpoint))
            {
                var start = Where(tp, checkpoint);
                Resume(tp, state, checkpoint, start);
                starts.Add(new TopicPartitionOffset(tp, checkpoint is null ? Offset.Beginning : new Offset(start.NextOffset)));
            }
            else
            {
                starts.Add(new TopicPartitionOffset(tp, Offset.Unset));
            }
        }

        IngestLog.Assigned(_logger, string.Join(",", partitions));
        LogRestarted();
        return starts;
    }

    /// <summary>Gives a partition up (revoked or lost); false when it was not owned.</summary>
    public bool Remove(TopicPartition partition)
    {
        if (!_owned.Remove(partition, out var dropped))
        {
            return false;
        }

        dropped.Loaded = false; // no longer matches a message, even as the last partition read
        return true;
    }

    /// <summary>Forgets a partition's watermark (given up: its next owner restores it from the checkpoint).</summary>
    public void ForgetLateness(TopicPartition partition)
    {
        if (_lateness.TryGetValue(partition.Topic, out var lateness))
        {
            lateness.Forget(partition.Partition.Value);
        }
    }

    /// <summary>Marks every owned partition for a reload of its stored checkpoint and a seek back to it.</summary>
    public void Unload()
    {
        foreach (var state in _owned.Values)
        {
            state.Loaded = false;
        }
    }

    /// <summary>Loads the checkpoints of the partitions not resumed yet and seeks each to its own.</summary>
    public async Task LoadPendingCheckpointsAsync(CancellationToken cancellationToken)
    {
        foreach (var (tp, state) in _owned.Where(kv => !kv.Value.Loaded).ToArray())
        {
            var checkpoint = await _writer.LoadCheckpointAsync(tp, cancellationToken);
            if (!IsCurrent(state))
            {
                continue; // revoked meanwhile
            }

            var start = Where(tp, checkpoint);
            try
            {
                Member!.Consumer.Seek(new TopicPartitionOffset(tp, checkpoint is null ? Offset.Beginning : new Offset(start.NextOffset)));
            }
            catch (KafkaException ex)
            {
                // A partition just assigned may not accept a seek until its fetcher starts: try again next round.
                IngestLog.SeekRetry(_logger, tp.ToString(), ex.Error.Reason);
                continue;
            }

            Resume(tp, state, checkpoint, start);
        }

        LogRestarted();
    }

    /// <summary>
    /// The owned partitions with a checkpoint that have had nothing read past it since they were resumed at least
    /// <paramref name="quietMs"/> ago, with their checkpoint.
    /// </summary>
    public IEnumerable<(TopicPartition Partition, PartitionCheckpoint Stored)> Idle(long quietMs)
    {
        var now = Environment.TickCount64;
        foreach (var (tp, state) in _owned)
        {
            if (state.Loaded && state.Stored is { } stored && state.NextOffset == stored.NextOffset && now - state.ResumedTicks >= quietMs)
            {
                yield return (tp, stored);
            }
        }
    }

    /// <summary>Events in the owned partitions not read yet, from the high watermarks of the last fetches.</summary>
    public long Waiting()
    {
        long waiting = 0;
        foreach (var (tp, state) in _owned)
        {
            if (state.Loaded && Member!.Lag(tp, state.NextOffset) is var lag and >= 0)
            {
                waiting += lag;
            }
        }

        return waiting;
    }

    /// <summary>One warning per topic for the partitions whose checkpoints belonged to another incarnation.</summary>
    private void LogRestarted()
    {
        foreach (var topic in _restarted.GroupBy(r => r.Partition.Topic, StringComparer.Ordinal))
        {
            IngestLog.NewIncarnation(_logger, topic.Key, string.Join(",", topic.Select(r => r.Partition.Partition.Value)), topic.First().Why);
        }

        _restarted.Clear();
    }

    /// <summary>Reads the incarnations of the topics of <paramref name="partitions"/> (kept as they were when the cluster does not answer).</summary>
    private void ReadIncarnations(List<TopicPartition> partitions)
    {
        if (Incarnations is null)
        {
            return;
        }

        foreach (var (topic, incarnation) in Incarnations.Read([.. partitions.Select(p => p.Topic).Distinct(StringComparer.Ordinal)]))
        {
            _liveIncarnations[topic] = incarnation;
        }
    }

    /// <summary>
    /// Where a partition resumes: at its checkpoint, unless the checkpoint belongs to another incarnation of the
    /// topic or lies past the partition's end; then at the start of the partition as it is now, its offsets
    /// counted after the checkpoint's so its events keep the log order, with one warning saying so.
    /// </summary>
    private PartitionCheckpoint Where(TopicPartition tp, PartitionCheckpoint? checkpoint)
    {
        var live = _liveIncarnations.GetValueOrDefault(tp.Topic);
        if (checkpoint is not { } stored)
        {
            return new PartitionCheckpoint(0, long.MinValue, live);
        }

        var bounds = Member!.QueryBounds(tp); // unknown (unset) when the broker does not answer: judged by the incarnation alone
        if (TopicIncarnation.Mismatch(stored.Incarnation, stored.NextOffset, live, bounds.High.Value) is not { } why)
        {
            return stored with { Incarnation = live ?? stored.Incarnation };
        }

        var low = Math.Max(0, bounds.Low.Value);
        _restarted.Add((tp, why));
        return new PartitionCheckpoint(low, stored.WatermarkMs, live, stored.OffsetBase + stored.NextOffset - low);
    }

    private void Resume(TopicPartition tp, PartitionState state, PartitionCheckpoint? checkpoint, PartitionCheckpoint start)
    {
        state.Stored = checkpoint;
        state.Loaded = true;
        state.ResumedTicks = Environment.TickCount64;
        state.NextOffset = start.NextOffset;
        state.Incarnation = start.Incarnation;
        state.OffsetBase = start.OffsetBase;
        var lateness = state.Lateness;
        lateness.Forget(tp.Partition.Value);
        if (start is { WatermarkMs: not long.MinValue } cp)
        {
            lateness.Restore(tp.Partition.Value, cp.WatermarkMs);
        }

        IngestLog.Resuming(_logger, tp.ToString(), start.NextOffset);
    }
}
