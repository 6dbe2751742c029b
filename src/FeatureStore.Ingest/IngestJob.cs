using System.Diagnostics;
using System.Runtime.CompilerServices;
using Confluent.Kafka;
using FeatureStore.Kafka;
using FeatureStore.Kafka.Consuming;
using FeatureStore.Kafka.DeadLetters;
using FeatureStore.Redis.Online;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Ingest;

/// <summary>
/// One member of the ingest consumer group: consumes every source topic, parses and checks each event,
/// dead-letters the rejects, and applies the rest to online state in batches, each batch written with its
/// partition checkpoints in one transaction (DESIGN.md §5). On assignment it resumes each partition from
/// the checkpoint in the online store; when the store is down it pauses, retries with backoff, and commits
/// nothing it has not written.
/// </summary>
/// <remarks>
/// This type is the consume loop. The partitions owned and their resumption are <see cref="OwnedPartitions"/>'s,
/// parsing and dead letters <see cref="ChunkProcessor"/>'s, the batches between reading and landing
/// <see cref="BatchPipeline"/>'s, the online state <see cref="OnlineTileWriter"/>'s.
/// </remarks>
public sealed class IngestJob : IRebalanceListener
{
    private readonly IngestOptions _options;
    private readonly OnlineTileWriter _writer;
    private readonly IngestMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IngestStatusWriter? _status;
    private readonly OwnedPartitions _owned;
    private readonly ChunkProcessor _processor;
    private readonly BatchPipeline _pipeline;
    private const long IdleMarkQuietMs = 5_000;

    // The longest one Consume blocks: a stop is seen within it, whatever the batch delay.
    private static readonly TimeSpan PollSlice = TimeSpan.FromMilliseconds(100);
    private IngestProgress _progress = IngestProgress.Unassigned;
    private long _lastIdleMarkTicks;

    internal IngestJob(IngestOptions options, IEnumerable<SourceBinding> sources, OnlineTileWriter writer, IngestMetrics metrics, ILogger logger, TimeProvider? timeProvider = null, IngestStatusWriter? status = null)
    {
        _status = status;
        _options = options;
        _writer = writer;
        _metrics = metrics;
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        _owned = new OwnedPartitions(options, sources, writer, logger);
        _processor = new ChunkProcessor(writer, metrics);
        _pipeline = new BatchPipeline(_owned, writer, metrics, logger, _time);
    }

    /// <summary>What this member has done so far: events applied and read again, partitions owned, lag (for a progress line).</summary>
    public IngestProgress Progress => Volatile.Read(ref _progress);

    /// <summary>Partitions this member owns now (for tests and the health endpoint).</summary>
    public IReadOnlyCollection<TopicPartition> Assignment => [.. _owned.Partitions];

    /// <summary>Consumes until <paramref name="cancellationToken"/> fires, then leaves the group cleanly.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var dlq = new DeadLetterProducer(_options.BootstrapServers, _options.KafkaSettings);
        using var incarnations = _owned.Incarnations = new TopicIncarnation(_options.BootstrapServers, _options.KafkaSettings);
        using var member = _owned.Member = new GroupMember(
            new GroupMemberSettings
            {
                BootstrapServers = _options.BootstrapServers,
                GroupId = _options.GroupId,
                ClientId = "featurestore-ingest",
                SessionTimeout = _options.SessionTimeout,
                FetchWait = _options.FetchWait,
                KafkaSettings = _options.KafkaSettings,

                // Events are typed by their topic; their headers and Kafka timestamps are not read (the event
                // time is in the payload), so they are not copied into each result.
                ConsumeResultFields = "topic",
            },
            this);
        member.Subscribe(_owned.Topics);
        IngestLog.Started(_logger, _options.GroupId, string.Join(",", _owned.Topics));
        var backoff = new RetryBackoff(_options.RetryInitialDelay, _options.RetryMaxDelay);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await _owned.LoadPendingCheckpointsAsync(cancellationToken);
                    CollectBatch(member.Consumer, dlq, cancellationToken);
                    await _pipeline.StepAsync(member, dlq, cancellationToken);
                    PublishStatus(member);
                    await MarkIdleAsync();
                    if (backoff.Reset())
                    {
                        member.Resume();
                        IngestLog.Resumed(_logger);
                    }
                }
                catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
                {
                    // The online store (or the dead-letter topic) is unavailable: drop what is not written, keep
                    // the group membership alive, and resume every partition from its stored checkpoint later.
                    _pipeline.Abandon();
                    IngestLog.Retrying(_logger, ex.Message, backoff.Delay.TotalMilliseconds);
                    _metrics.Retried();
                    member.Pause();
                    await member.WaitServingRebalancesAsync(backoff.Delay, cancellationToken);
                    backoff.Failed();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // shutting down
        }
        finally
        {
            // A graceful stop keeps what was read: the write in flight and the batch built are completed before
            // the member leaves the group.
            try
            {
                await _pipeline.FinishAsync(member, sendBuilt: cancellationToken.IsCancellationRequested);
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                IngestLog.Retrying(_logger, ex.Message, 0);
            }

            PublishStatus(member, force: true); // what the dashboard shows of a stopped member is its last state
            member.Close();
            IngestLog.Stopped(_logger);
        }
    }

    IEnumerable<TopicPartitionOffset> IRebalanceListener.Assigned(List<TopicPartition> partitions)
    {
        _processor.DrainInCallback();
        return _owned.Assign(partitions);
    }

    void IRebalanceListener.Revoked(List<TopicPartitionOffset> partitions)
    {
        _processor.DrainInCallback();
        Drop(partitions.Select(p => p.TopicPartition), "revoked");
    }

    void IRebalanceListener.Lost(List<TopicPartitionOffset> partitions)
    {
        _processor.DrainInCallback();
        Drop(partitions.Select(p => p.TopicPartition), "lost");
    }

    void IRebalanceListener.Error(Error error) => IngestLog.KafkaError(_logger, error.Code.ToString(), error.Reason);

    private void Drop(IEnumerable<TopicPartition> partitions, string why)
    {
        foreach (var tp in partitions)
        {
            _owned.Remove(tp);
            _pipeline.Forget(tp);
            _writer.Forget(tp);
            _metrics.ClearLag(tp.Topic, tp.Partition.Value);
            _owned.ForgetLateness(tp);
            IngestLog.Dropped(_logger, tp.ToString(), why);
        }
    }

    private void CollectBatch(IConsumer<byte[]?, byte[]?> consumer, DeadLetterProducer dlq, CancellationToken cancellationToken)
    {
        _processor.StartBatch(dlq, _time.GetUtcNow().ToUnixTimeMilliseconds());
        var touched = new List<PartitionState>();
        try
        {
            ReadMessages(consumer, touched, cancellationToken);
            _processor.Drain();
        }
        catch
        {
            _processor.Stop();
            throw;
        }

        _pipeline.Collected(touched, _processor.TakeNewestEventMs());
    }

    /// <summary>Consumes up to a batch of messages, handing them to the processing thread in chunks.</summary>
    // Called once per batch, looping over up to a batch of messages: compiled optimized at once.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ReadMessages(IConsumer<byte[]?, byte[]?> consumer, List<PartitionState> touched, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        PartitionState? last = null;
        var read = 0;
        while (read < _options.MaxBatchEvents)
        {
            var remaining = _options.MaxBatchDelay - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                // The delay bounds how long an event waits while this member keeps up. While it catches up
                // (a tenth of a full batch or more is waiting), the batch goes on filling instead: each touched
                // entity is written once per batch, so fewer writes per event, and the wait is the lag's anyway.
                if (_owned.Waiting() < Math.Min(_options.MaxBatchEvents - read, Math.Max(1, _options.MaxBatchEvents / 10)))
                {
                    break;
                }

                clock.Restart();
                remaining = _options.MaxBatchDelay;
            }

            ConsumeResult<byte[]?, byte[]?>? result;
            try
            {
                // Caught up (nothing fetched is left to read and nothing waits at the brokers as of the last
                // fetches): the batch is written now rather than at the end of its delay, so an event waits for
                // its fetch and one write, not for the delay as well. Behind, the batch goes on filling.
                var wait = remaining < PollSlice ? remaining : PollSlice;
                result = read == 0 ? consumer.Consume(wait) : consumer.Consume(TimeSpan.Zero);
                if (result is null && read > 0)
                {
                    if (_owned.Waiting() == 0)
                    {
                        break;
                    }

                    result = consumer.Consume(wait);
                }
            }
            catch (ConsumeException ex) when (!ex.Error.IsFatal)
            {
                // A broker fault surfaced to the application (a fetch that failed, a partition without a
                // leader for now): librdkafka retries on its own; end this batch and keep consuming.
                IngestLog.KafkaError(_logger, ex.Error.Code.ToString(), ex.Error.Reason);
                break;
            }

            cancellationToken.ThrowIfCancellationRequested();
            _processor.ThrowIfFaulted();
            if (result is null)
            {
                break;
            }

            if (result.IsPartitionEOF)
            {
                continue;
            }

            // Messages come in runs of one partition: the last one's state is checked before the map.
            var state = last is { Loaded: true } && last.Partition.Partition.Value == result.Partition.Value && last.Partition.Topic == result.Topic
                ? last : _owned.GetValueOrDefault(result.TopicPartition);
            if (state is null || !state.Loaded || result.Offset.Value < state.NextOffset)
            {
                continue; // not ours, not resumed yet, or before the checkpoint (fetched ahead of a seek)
            }

            last = state;
            read++;
            _processor.Add(result, state);
            state.NextOffset = result.Offset.Value + 1;
            if (!state.Advanced)
            {
                state.Advanced = true;
                touched.Add(state);
            }
        }
    }

    // While a group is built beside the serving ones, a partition that gets no event still records where the
    // group's share of it begins, once it has been quiet for a few seconds (a previous owner's write in flight has
    // landed or failed by then): checked at most once a second.
    private async Task MarkIdleAsync()
    {
        if (_writer.Building is null || Environment.TickCount64 - _lastIdleMarkTicks < 1_000)
        {
            return;
        }

        _lastIdleMarkTicks = Environment.TickCount64;
        foreach (var (partition, stored) in _owned.Idle(IdleMarkQuietMs).ToList())
        {
            await _writer.MarkIdleAsync(partition, stored);
        }
    }

    private void PublishStatus(GroupMember member, bool force = false)
    {
        // A partition with nothing read past its checkpoint has its lag from the last fetch's end; one being
        // read gets it once a batch of it lands. Until every owned partition has one, the lag is unknown.
        var known = 0;
        long lag = 0;
        foreach (var (tp, state) in _owned)
        {
            if (state.Lag < 0 && state.Loaded && state.NextOffset == (state.Stored?.NextOffset ?? 0) && member.Lag(tp, state.NextOffset) is var fetched and >= 0)
            {
                state.Lag = fetched;
                _metrics.SetLag(tp.Topic, tp.Partition.Value, state.Lag);
            }

            if (state.Lag >= 0)
            {
                known++;
                lag += state.Lag;
            }
        }

        Volatile.Write(ref _progress, new IngestProgress(_owned.Count, known, lag));
        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (_status is not null && (force || _status.IsDue(nowMs)))
        {
            var statuses = new List<PartitionStatus>(_owned.Count);
            foreach (var (tp, state) in _owned)
            {
                statuses.Add(new PartitionStatus(tp.Topic, tp.Partition.Value, state.Lag, state.NewestEventMs, state.LastWriteMs));
            }

            _status.Publish(nowMs, statuses);
        }
    }

    private static bool IsTransient(Exception ex) => ex is StackExchange.Redis.RedisException or TimeoutException
        or InvalidOperationException { InnerException: KafkaException } or OnlineStoreWriteException;
}

/// <summary>The online store refused or could not complete a batch write; the batch is kept for a retry.</summary>
public sealed class OnlineStoreWriteException(string message, Exception? inner = null) : Exception(message, inner);
