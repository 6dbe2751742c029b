using System.Diagnostics;
using Confluent.Kafka;
using FeatureStore.Kafka.Consuming;
using FeatureStore.Kafka.DeadLetters;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Ingest;

/// <summary>
/// The batches between reading and landing, and all their state: the batch being read (its new checkpoints and
/// counts), the batch sealed and built (or building), and the one sent, whose reply is awaited. Batches overlap:
/// one is read while the one before is written (and, with a background build, the one before is built while this
/// one is read). A landed batch's checkpoints are copied to Kafka for lag tooling; a failed or fenced one rewinds
/// every partition to its stored checkpoint.
/// </summary>
internal sealed class BatchPipeline(OwnedPartitions owned, OnlineTileWriter writer, IngestMetrics metrics, ILogger logger, TimeProvider time)
{
    private readonly Dictionary<TopicPartition, PartitionCheckpoint> _unwritten = [];

    // Events accepted into the batch being read, per partition, and into batches prepared but not yet landed:
    // they count as applied once their write lands, as read again when a rewind drops them.
    private readonly Dictionary<TopicPartition, (int Accepted, int Replayed)> _batchAccepted = [];
    private long _notLanded;
    private long _newestEventMs = long.MinValue;
    private InFlight? _inFlight; // sent, its reply awaited
    private InFlight? _built;    // sealed and built (or building), not sent

    // Landed checkpoints not yet copied to Kafka: a copy (for lag tooling) goes at most once a second while batches
    // keep landing, since a commit waits for the broker's answer; at once when the member is idle or stops.
    private readonly Dictionary<TopicPartition, long> _toCommit = [];
    private long _lastCommitTicks;

    /// <summary>Adds what was read into the batch: the partitions read (their counts, their next checkpoints) and the newest event time accepted.</summary>
    public void Collected(List<PartitionState> touched, long newestEventMs)
    {
        _newestEventMs = Math.Max(_newestEventMs, newestEventMs);
        foreach (var state in touched)
        {
            state.Advanced = false;
            if (state.AcceptedInBatch > 0)
            {
                var (accepted, replayed) = _batchAccepted.GetValueOrDefault(state.Partition);
                _batchAccepted[state.Partition] = (accepted + state.AcceptedInBatch, replayed + state.ReplayedInBatch);
                (state.AcceptedInBatch, state.ReplayedInBatch) = (0, 0);
            }

            if (owned.IsCurrent(state))
            {
                _unwritten[state.Partition] = new PartitionCheckpoint(state.NextOffset, state.Lateness.Watermark(state.Partition.Partition.Value), state.Incarnation, state.OffsetBase);
            }
        }
    }

    /// <summary>
    /// Moves the batches on by one step: seals the batch read (when it has anything) and sends the one built before
    /// once the write in flight has landed; or, with nothing read, sends what is built or completes what is sent.
    /// </summary>
    public async Task StepAsync(GroupMember member, DeadLetterProducer dlq, CancellationToken cancellationToken)
    {
        // A write in flight is completed before the next one goes out, or when nothing else is to do.
        if (_unwritten.Count > 0)
        {
            // On a Redis Cluster a write is several steps (the slots' shares, WAIT, then the checkpoints), which read
            // its batch's arguments until the last; sealing the batch after next reuses them (the same side). There
            // the write in flight lands before the next batch is sealed.
            if (writer.WritesInSteps && _inFlight is { } landing)
            {
                _inFlight = null;
                if (!await CompleteAsync(member, landing))
                {
                    _built = null; // rewound: the batch built on its states is dropped
                    return;
                }
            }

            // This batch is sealed (its states not in memory read) before the one built earlier is
            // sent, so that those reads do not wait behind that batch's write in the store.
            var sealedNow = await PrepareAsync(dlq, cancellationToken);
            if (_built is not null)
            {
                await SendBuiltAsync(member);
                if (_inFlight is null)
                {
                    sealedNow = null; // the write before did not land: everything was rewound
                }
            }

            _built = sealedNow;
            if (_built is not null && owned.Waiting() == 0)
            {
                // Nothing is waiting to be read (this member keeps up): rather than hold the batch
                // while the next one is read, it is written now, so its events are online sooner.
                await SendBuiltAsync(member);
            }
        }
        else if (_built is not null)
        {
            await SendBuiltAsync(member);
        }
        else if (_inFlight is { } sent)
        {
            await CompleteAsync(member, sent);
            _inFlight = null;
        }
        else if (_toCommit.Count > 0)
        {
            CommitPending(member);
        }
    }

    /// <summary>
    /// On a graceful stop (<paramref name="sendBuilt"/>), sends the batch built; then completes the write in flight,
    /// so what was read is kept before the member leaves the group.
    /// </summary>
    public async Task FinishAsync(GroupMember member, bool sendBuilt)
    {
        if (_built is not null && sendBuilt)
        {
            await SendBuiltAsync(member);
        }

        if (_inFlight is { } sent)
        {
            await CompleteAsync(member, sent);
        }

        CommitPending(member);
    }

    /// <summary>After a failure of the store: drops the batches built and in flight, and rewinds.</summary>
    public void Abandon()
    {
        (_inFlight, _built) = (null, null);
        Rewind();
    }

    /// <summary>Drops a partition given up from the batch being read.</summary>
    public void Forget(TopicPartition partition)
    {
        _unwritten.Remove(partition);
        _batchAccepted.Remove(partition);
        _toCommit.Remove(partition); // its next owner's to report
    }

    /// <summary>
    /// Completes the write in flight, if any, then sends the built batch once its build is over: it is then the
    /// write in flight. When the write in flight did not land, everything was rewound and the built batch, made
    /// on its states, is dropped.
    /// </summary>
    private async Task SendBuiltAsync(GroupMember member)
    {
        var built = _built!;
        if (_inFlight is { } sent && !await CompleteAsync(member, sent))
        {
            (_inFlight, _built) = (null, null);
            return;
        }

        await built.Write.FinishBuildAsync();
        writer.Send(built.Write);
        built.Clock.Restart();
        (_inFlight, _built) = (built, null);
    }

    private async Task<InFlight?> PrepareAsync(DeadLetterProducer dlq, CancellationToken cancellationToken)
    {
        // Rejects must be durable in the dead-letter topic before the checkpoint moves past them.
        dlq.Flush(TimeSpan.FromSeconds(30));

        var expected = new Dictionary<TopicPartition, PartitionCheckpoint?>();
        var next = new Dictionary<TopicPartition, PartitionCheckpoint>();
        foreach (var (tp, checkpoint) in _unwritten)
        {
            if (owned.TryGetValue(tp, out var state) && state.Loaded)
            {
                expected[tp] = state.Stored;
                next[tp] = checkpoint;
            }
        }

        var clock = Stopwatch.StartNew();
        var write = await writer.PrepareAsync(expected, next, cancellationToken);
        _unwritten.Clear();

        // The next batch expects this one's checkpoints; if this write fails, every partition is rewound.
        foreach (var (tp, checkpoint) in next)
        {
            owned[tp].Stored = checkpoint;
        }

        var newest = _newestEventMs;
        _newestEventMs = long.MinValue;
        var accepted = new Dictionary<string, int>(StringComparer.Ordinal);
        var replayed = 0;
        foreach (var (tp, count) in _batchAccepted)
        {
            if (next.ContainsKey(tp))
            {
                accepted[tp.Topic] = accepted.GetValueOrDefault(tp.Topic) + count.Accepted;
                replayed += count.Replayed;
            }
        }

        _batchAccepted.Clear();
        _notLanded += accepted.Values.Sum();
        return new InFlight(write, next, newest, clock, accepted, replayed);
    }

    private async Task<bool> CompleteAsync(GroupMember member, InFlight batch)
    {
        var fenced = await writer.CompleteAsync(batch.Write);
        batch.Clock.Stop();
        if (fenced.Count > 0)
        {
            // A checkpoint moved under us (another member owns a partition now, or our own earlier write
            // landed without its reply): nothing of this write landed. Resume every partition from the store.
            foreach (var tp in fenced)
            {
                IngestLog.Fenced(logger, tp.ToString());
            }

            Rewind();
            return false;
        }

        // Freshness: from the newest event time of the batch to the moment it became readable online.
        var freshness = batch.NewestEventMs == long.MinValue ? TimeSpan.MinValue
            : TimeSpan.FromMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds() - batch.NewestEventMs);
        metrics.BatchWritten(batch.Clock.Elapsed, freshness);
        foreach (var (topic, count) in batch.Accepted)
        {
            metrics.EventsAccepted(owned.Source(topic).Name, count);
            _notLanded -= count;
        }

        metrics.Replayed(batch.Replayed);

        CommitToKafka(member, batch.Next);
        return true;
    }

    /// <summary>
    /// Forgets everything not confirmed written (buffered events, cached states, the batch being built) and
    /// marks every owned partition for a reload of its stored checkpoint and a seek back to it.
    /// </summary>
    private void Rewind()
    {
        metrics.ReadAgain(_notLanded + _batchAccepted.Values.Sum(c => c.Accepted));
        _notLanded = 0;
        _batchAccepted.Clear();
        writer.Reset();
        _unwritten.Clear();
        _newestEventMs = long.MinValue;
        owned.Unload();
    }

    private void CommitToKafka(GroupMember member, Dictionary<TopicPartition, PartitionCheckpoint> landed)
    {
        // A partition revoked while its write was in flight is its next owner's to report.
        var written = landed.Where(kv => owned.TryGetValue(kv.Key, out _)).ToDictionary();
        if (written.Count == 0)
        {
            return;
        }

        // The online store holds the checkpoints that count; Kafka's copy is for lag tooling.
        foreach (var (tp, checkpoint) in written)
        {
            _toCommit[tp] = checkpoint.NextOffset;
        }

        if (Stopwatch.GetElapsedTime(_lastCommitTicks) >= TimeSpan.FromSeconds(1))
        {
            CommitPending(member);
        }

        var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var tp in written.Keys)
        {
            var state = owned.GetValueOrDefault(tp);
            if (state is not null)
            {
                state.LastWriteMs = nowMs;
                state.AppliedBelow = Math.Max(state.AppliedBelow, written[tp].NextOffset); // read again, they are replays
            }

            var lag = member.Lag(tp, written[tp].NextOffset);
            if (lag >= 0)
            {
                metrics.SetLag(tp.Topic, tp.Partition.Value, lag);
                if (state is not null)
                {
                    state.Lag = lag;
                }
            }
        }
    }

    /// <summary>Copies the landed checkpoints not yet copied to Kafka (for lag tooling), and notes when.</summary>
    private void CommitPending(GroupMember member)
    {
        _lastCommitTicks = Stopwatch.GetTimestamp();
        var offsets = _toCommit.Where(kv => owned.TryGetValue(kv.Key, out _)).Select(kv => new TopicPartitionOffset(kv.Key, new Offset(kv.Value))).ToList();
        _toCommit.Clear();
        if (offsets.Count > 0)
        {
            member.Commit(offsets);
        }
    }

    /// <summary>A batch whose write is built or in flight, with what to record once it lands.</summary>
    private sealed record InFlight(PreparedWrite Write, Dictionary<TopicPartition, PartitionCheckpoint> Next, long NewestEventMs, Stopwatch Clock, Dictionary<string, int> Accepted, int Replayed);
}
