using System.Diagnostics;
using System.Runtime.CompilerServices;
using Confluent.Kafka;
using FeatureStore.Core.Events;
using FeatureStore.Core.Streaming;
using FeatureStore.Kafka;
using FeatureStore.Kafka.DeadLetters;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Ingest;

/// <summary>
/// One member of the ingest consumer group: consumes every source topic, parses and checks each event,
/// dead-letters the rejects, and applies the rest to online state in batches, each batch written with its
/// partition checkpoints in one transaction (DESIGN.md §5). On assignment it resumes each partition from
/// the checkpoint in the online store; when the store is down it pauses, retries with backoff, and commits
/// nothing it has not written.
/// </summary>
public sealed partial class IngestJob
{
    private readonly IngestOptions _options;
    private readonly Dictionary<string, SourceBinding> _sources;
    private readonly IEventApplier _applier;
    private readonly IngestMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<TopicPartition, PartitionState> _owned = [];
    private readonly Dictionary<TopicPartition, PartitionCheckpoint> _unwritten = [];
    private readonly Dictionary<string, EventParser> _parsers;
    private readonly Dictionary<string, LatenessPolicy> _lateness;
    private readonly IngestStatusWriter? _status;
    private long _batchNewestEventMs = long.MinValue;
    private readonly Dictionary<string, string> _liveIncarnations = new(StringComparer.Ordinal);
    private TopicIncarnation? _incarnations;
    private readonly List<(TopicPartition Partition, string Why)> _restarted = [];

    // Events accepted into the batch being read, per partition, and into batches prepared but not yet landed:
    // they count as applied once their write lands, as read again when a rewind drops them.
    private readonly Dictionary<TopicPartition, (int Accepted, int Replayed)> _batchAccepted = [];
    private long _notLanded;
    private IngestProgress _progress = IngestProgress.Unassigned;

    // Messages are parsed and applied on a second thread, a chunk at a time, while this one consumes the next
    // chunk. Rebalance callbacks and the end of a batch wait for it (and process what is left) first.
    private const int ChunkMessages = 1024;
    private List<(ConsumeResult<byte[]?, byte[]?> Result, PartitionState State)> _chunk = new(ChunkMessages);
    private List<(ConsumeResult<byte[]?, byte[]?> Result, PartitionState State)> _processed = new(ChunkMessages);
    private Task _processing = Task.CompletedTask;
    private DeadLetterProducer? _chunkDlq;
    private long _chunkNowMs;
    private Exception? _processingFault;

    internal IngestJob(IngestOptions options, IEnumerable<SourceBinding> sources, IEventApplier applier, IngestMetrics metrics, ILogger logger, TimeProvider? timeProvider = null, IngestStatusWriter? status = null)
    {
        _status = status;
        _options = options;
        _sources = sources.ToDictionary(s => s.Topic, StringComparer.Ordinal);
        _applier = applier;
        _metrics = metrics;
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        _parsers = _sources.ToDictionary(kv => kv.Key, kv => new EventParser(kv.Value.Schema), StringComparer.Ordinal);
        _lateness = _sources.ToDictionary(
            kv => kv.Key,
            kv => new LatenessPolicy((long)options.AllowedLateness.TotalMilliseconds, (long)options.MaxFutureSkew.TotalMilliseconds),
            StringComparer.Ordinal);
    }

    /// <summary>What this member has done so far: events applied and read again, partitions owned, lag (for a progress line).</summary>
    public IngestProgress Progress => Volatile.Read(ref _progress);

    /// <summary>Partitions this member owns now (for tests and the health endpoint).</summary>
    public IReadOnlyCollection<TopicPartition> Assignment => [.. _owned.Keys];

    /// <summary>Consumes until <paramref name="cancellationToken"/> fires, then leaves the group cleanly.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var dlq = new DeadLetterProducer(_options.BootstrapServers, _options.KafkaSettings);
        using var incarnations = _incarnations = new TopicIncarnation(_options.BootstrapServers, _options.KafkaSettings);
        using var consumer = BuildConsumer();
        consumer.Subscribe(_sources.Keys);
        LogStarted(_options.GroupId, string.Join(",", _sources.Keys));
        var backoff = _options.RetryInitialDelay;
        InFlight? inFlight = null; // sent, its reply awaited
        InFlight? built = null;    // sealed and built (or building), not sent
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    // Batches overlap: this one is read while the one before is written (and, with a background
                    // build, the one before is built while this one is read).
                    await LoadPendingCheckpointsAsync(consumer, cancellationToken);
                    foreach (var (tp, checkpoint) in CollectBatch(consumer, dlq, cancellationToken))
                    {
                        _unwritten[tp] = checkpoint;
                    }

                    // A write in flight is completed before the next one goes out, or when nothing else is to do.
                    if (_unwritten.Count > 0)
                    {
                        // This batch is sealed (its states not in memory read) before the one built earlier is
                        // sent, so that those reads do not wait behind that batch's write in the store.
                        var sealedNow = await PrepareBatchAsync(dlq, cancellationToken);
                        if (built is not null)
                        {
                            (inFlight, built) = await SendAfterAsync(consumer, inFlight, built);
                            if (inFlight is null)
                            {
                                sealedNow = null; // the write before did not land: everything was rewound
                            }
                        }

                        built = sealedNow;
                        if (built is { } ready && Waiting(consumer) == 0)
                        {
                            // Nothing is waiting to be read (this member keeps up): rather than hold the batch
                            // while the next one is read, it is written now, so its events are online sooner.
                            (inFlight, built) = await SendAfterAsync(consumer, inFlight, ready);
                        }
                    }
                    else if (built is not null)
                    {
                        (inFlight, built) = await SendAfterAsync(consumer, inFlight, built);
                    }
                    else if (inFlight is { } sent)
                    {
                        await CompleteBatchAsync(consumer, sent);
                        inFlight = null;
                    }

                    PublishStatus(consumer);
                    if (backoff != _options.RetryInitialDelay)
                    {
                        consumer.Resume(consumer.Assignment);
                        LogResumed();
                        backoff = _options.RetryInitialDelay;
                    }
                }
                catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
                {
                    // The online store (or the dead-letter topic) is unavailable: drop what is not written, keep
                    // the group membership alive, and resume every partition from its stored checkpoint later.
                    (inFlight, built) = (null, null);
                    Rewind();
                    LogRetrying(ex.Message, backoff.TotalMilliseconds);
                    _metrics.Retried();
                    consumer.Pause(consumer.Assignment);
                    await WaitServingRebalancesAsync(consumer, backoff, cancellationToken);
                    backoff = TimeSpan.FromTicks(Math.Min(_options.RetryMaxDelay.Ticks, backoff.Ticks * 2));
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
                if (built is not null && cancellationToken.IsCancellationRequested)
                {
                    (inFlight, built) = await SendAfterAsync(consumer, inFlight, built);
                }

                if (inFlight is not null)
                {
                    await CompleteBatchAsync(consumer, inFlight);
                }
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                LogRetrying(ex.Message, 0);
            }

            PublishStatus(consumer, force: true); // what the dashboard shows of a stopped member is its last state
            consumer.Close();
            LogStopped();
        }
    }

    private IConsumer<byte[]?, byte[]?> BuildConsumer()
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = _options.BootstrapServers,
            GroupId = _options.GroupId,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            SessionTimeoutMs = (int)_options.SessionTimeout.TotalMilliseconds,
            HeartbeatIntervalMs = Math.Max(100, (int)_options.SessionTimeout.TotalMilliseconds / 5),
            ClientId = "featurestore-ingest",

            // Events are typed by their topic; their headers and Kafka timestamps are not read (the event
            // time is in the payload), so they are not copied into each result.
            ConsumeResultFields = "topic",
        };
        foreach (var (key, value) in _options.KafkaSettings)
        {
            config.Set(key, value);
        }

        return new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetPartitionsAssignedHandler((c, partitions) =>
            {
                DrainInCallback();
                ReadIncarnations(partitions);
                var applied = AppliedBefore(c, partitions);
                // Start each partition at its stored checkpoint. When the store cannot be read now, start
                // it unresolved: the main loop loads the checkpoint and seeks before using its messages.
                var starts = new List<TopicPartitionOffset>(partitions.Count);
                foreach (var tp in partitions)
                {
                    var state = new PartitionState(tp, _sources[tp.Topic], _parsers[tp.Topic], _lateness[tp.Topic]) { AppliedBelow = applied.GetValueOrDefault(tp) };
                    _owned[tp] = state;
                    if (_applier.TryLoadCheckpoint(tp, out var checkpoint))
                    {
                        var start = Resume(c, tp, state, checkpoint);
                        starts.Add(new TopicPartitionOffset(tp, checkpoint is null ? Offset.Beginning : new Offset(start)));
                    }
                    else
                    {
                        starts.Add(new TopicPartitionOffset(tp, Offset.Unset));
                    }
                }

                LogAssigned(string.Join(",", partitions));
                LogRestarted();
                return starts;
            })
            .SetPartitionsRevokedHandler((_, partitions) =>
            {
                DrainInCallback();
                Drop(partitions.Select(p => p.TopicPartition), "revoked");
            })
            .SetPartitionsLostHandler((_, partitions) =>
            {
                DrainInCallback();
                Drop(partitions.Select(p => p.TopicPartition), "lost");
            })
            .SetErrorHandler((_, error) => LogKafkaError(error.Code.ToString(), error.Reason))
            .Build();
    }

    private void Drop(IEnumerable<TopicPartition> partitions, string why)
    {
        foreach (var tp in partitions)
        {
            if (_owned.Remove(tp, out var dropped))
            {
                dropped.Loaded = false; // no longer matches a message, even as the last partition read
            }

            _unwritten.Remove(tp);
            _batchAccepted.Remove(tp);
            _applier.Forget(tp);
            _metrics.ClearLag(tp.Topic, tp.Partition.Value);
            if (_lateness.TryGetValue(tp.Topic, out var lateness))
            {
                lateness.Forget(tp.Partition.Value);
            }

            LogDropped(tp.ToString(), why);
        }
    }

    private async Task LoadPendingCheckpointsAsync(IConsumer<byte[]?, byte[]?> consumer, CancellationToken cancellationToken)
    {
        foreach (var (tp, state) in _owned.Where(kv => !kv.Value.Loaded).ToArray())
        {
            var checkpoint = await _applier.LoadCheckpointAsync(tp, cancellationToken);
            if (!_owned.TryGetValue(tp, out var current) || !ReferenceEquals(current, state))
            {
                continue; // revoked meanwhile
            }

            var start = Where(consumer, tp, checkpoint);
            try
            {
                consumer.Seek(new TopicPartitionOffset(tp, checkpoint is null ? Offset.Beginning : new Offset(start.NextOffset)));
            }
            catch (KafkaException ex)
            {
                // A partition just assigned may not accept a seek until its fetcher starts: try again next round.
                LogSeekRetry(tp.ToString(), ex.Error.Reason);
                continue;
            }

            Resume(tp, state, checkpoint, start);
        }

        LogRestarted();
    }

    /// <summary>One warning per topic for the partitions whose checkpoints belonged to another incarnation.</summary>
    private void LogRestarted()
    {
        foreach (var topic in _restarted.GroupBy(r => r.Partition.Topic, StringComparer.Ordinal))
        {
            LogNewIncarnation(topic.Key, string.Join(",", topic.Select(r => r.Partition.Partition.Value)), topic.First().Why);
        }

        _restarted.Clear();
    }

    /// <summary>
    /// The group's offsets as committed in Kafka (after each batch lands, a copy of the checkpoints): events below
    /// were applied before, so reading them again (the online store lost its checkpoints) replays them.
    /// </summary>
    private static Dictionary<TopicPartition, long> AppliedBefore(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> partitions)
    {
        try
        {
            return consumer.Committed(partitions, TimeSpan.FromSeconds(5)).Where(o => o.Offset.Value >= 0).ToDictionary(o => o.TopicPartition, o => o.Offset.Value);
        }
        catch (KafkaException)
        {
            return []; // unknown: every event counts as applied for the first time
        }
    }

    /// <summary>Reads the incarnations of the topics of <paramref name="partitions"/> (kept as they were when the cluster does not answer).</summary>
    private void ReadIncarnations(List<TopicPartition> partitions)
    {
        if (_incarnations is null)
        {
            return;
        }

        foreach (var (topic, incarnation) in _incarnations.Read([.. partitions.Select(p => p.Topic).Distinct(StringComparer.Ordinal)]))
        {
            _liveIncarnations[topic] = incarnation;
        }
    }

    /// <summary>
    /// Where a partition resumes: at its checkpoint, unless the checkpoint belongs to another incarnation of the
    /// topic or lies past the partition's end; then at the start of the partition as it is now, its offsets
    /// counted after the checkpoint's so its events keep the log order, with one warning saying so.
    /// </summary>
    private PartitionCheckpoint Where(IConsumer<byte[]?, byte[]?> consumer, TopicPartition tp, PartitionCheckpoint? checkpoint)
    {
        var live = _liveIncarnations.GetValueOrDefault(tp.Topic);
        if (checkpoint is not { } stored)
        {
            return new PartitionCheckpoint(0, long.MinValue, live);
        }

        WatermarkOffsets bounds;
        try
        {
            bounds = consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(5));
        }
        catch (KafkaException)
        {
            bounds = new WatermarkOffsets(Offset.Unset, Offset.Unset); // unknown: judged by the incarnation alone
        }

        if (TopicIncarnation.Mismatch(stored.Incarnation, stored.NextOffset, live, bounds.High.Value) is not { } why)
        {
            return stored with { Incarnation = live ?? stored.Incarnation };
        }

        var low = Math.Max(0, bounds.Low.Value);
        _restarted.Add((tp, why));
        return new PartitionCheckpoint(low, stored.WatermarkMs, live, stored.OffsetBase + stored.NextOffset - low);
    }

    private long Resume(IConsumer<byte[]?, byte[]?> consumer, TopicPartition tp, PartitionState state, PartitionCheckpoint? checkpoint)
    {
        var start = Where(consumer, tp, checkpoint);
        Resume(tp, state, checkpoint, start);
        return start.NextOffset;
    }

    private void Resume(TopicPartition tp, PartitionState state, PartitionCheckpoint? checkpoint, PartitionCheckpoint start)
    {
        state.Stored = checkpoint;
        state.Loaded = true;
        state.NextOffset = start.NextOffset;
        state.Incarnation = start.Incarnation;
        state.OffsetBase = start.OffsetBase;
        var lateness = state.Lateness;
        lateness.Forget(tp.Partition.Value);
        if (start is { WatermarkMs: not long.MinValue } cp)
        {
            lateness.Restore(tp.Partition.Value, cp.WatermarkMs);
        }

        LogResuming(tp.ToString(), start.NextOffset);
    }

    private Dictionary<TopicPartition, PartitionCheckpoint> CollectBatch(IConsumer<byte[]?, byte[]?> consumer, DeadLetterProducer dlq, CancellationToken cancellationToken)
    {
        (_chunkDlq, _chunkNowMs) = (dlq, _time.GetUtcNow().ToUnixTimeMilliseconds());
        var touched = new List<PartitionState>();
        try
        {
            ReadMessages(consumer, touched, cancellationToken);
            Drain();
        }
        catch
        {
            StopProcessing();
            throw;
        }

        var advanced = new Dictionary<TopicPartition, PartitionCheckpoint>();
        foreach (var state in touched)
        {
            state.Advanced = false;
            if (state.AcceptedInBatch > 0)
            {
                var (accepted, replayed) = _batchAccepted.GetValueOrDefault(state.Partition);
                _batchAccepted[state.Partition] = (accepted + state.AcceptedInBatch, replayed + state.ReplayedInBatch);
                (state.AcceptedInBatch, state.ReplayedInBatch) = (0, 0);
            }

            if (_owned.TryGetValue(state.Partition, out var current) && ReferenceEquals(current, state))
            {
                advanced[state.Partition] = new PartitionCheckpoint(state.NextOffset, state.Lateness.Watermark(state.Partition.Partition.Value), state.Incarnation, state.OffsetBase);
            }
        }

        return advanced;
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
                if (Waiting(consumer) < Math.Min(_options.MaxBatchEvents - read, Math.Max(1, _options.MaxBatchEvents / 10)))
                {
                    break;
                }

                clock.Restart();
                remaining = _options.MaxBatchDelay;
            }

            ConsumeResult<byte[]?, byte[]?>? result;
            try
            {
                result = consumer.Consume(remaining);
            }
            catch (ConsumeException ex) when (!ex.Error.IsFatal)
            {
                // A broker fault surfaced to the application (a fetch that failed, a partition without a
                // leader for now): librdkafka retries on its own; end this batch and keep consuming.
                LogKafkaError(ex.Error.Code.ToString(), ex.Error.Reason);
                break;
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (_processingFault is { } fault)
            {
                _processingFault = null;
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(fault).Throw();
            }

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
            _chunk.Add((result, state));
            if (_chunk.Count == ChunkMessages)
            {
                Dispatch();
            }

            state.NextOffset = result.Offset.Value + 1;
            if (!state.Advanced)
            {
                state.Advanced = true;
                touched.Add(state);
            }
        }
    }

    /// <summary>Hands the filled chunk to the processing thread, once it is done with the one before.</summary>
    private void Dispatch()
    {
        WaitProcessing();
        (_chunk, _processed) = (_processed, _chunk);
        var chunk = _processed;
        _processing = Task.Run(() => ProcessChunk(chunk));
    }

    /// <summary>Waits for the processing thread, then processes what is left here: every message read is applied.</summary>
    private void Drain()
    {
        WaitProcessing();
        ProcessChunk(_chunk);
    }

    /// <summary>
    /// Drains inside a rebalance callback, where nothing may be thrown: a failure is kept and thrown once
    /// Consume returns (the batch is then dropped and every partition rewound).
    /// </summary>
    private void DrainInCallback()
    {
        try
        {
            Drain();
        }
        catch (Exception ex)
        {
            _processingFault ??= ex;
            _chunk.Clear();
        }
    }

    /// <summary>Stops processing after a failure: waits for the thread, drops what is left.</summary>
    private void StopProcessing()
    {
        try
        {
            WaitProcessing();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // the failure already propagating is the one reported
        }

        _chunk.Clear();
        _processed.Clear();
    }

    private void WaitProcessing()
    {
        var processing = _processing;
        _processing = Task.CompletedTask;
        processing.GetAwaiter().GetResult();
    }

    private void ProcessChunk(List<(ConsumeResult<byte[]?, byte[]?> Result, PartitionState State)> chunk)
    {
        try
        {
            foreach (var (result, state) in chunk)
            {
                if (Process(result, state, _chunkDlq!, _chunkNowMs, out var eventTimeMs))
                {
                    state.AcceptedInBatch++;
                    if (result.Offset.Value < state.AppliedBelow)
                    {
                        state.ReplayedInBatch++;
                    }

                    state.NewestEventMs = state.NewestEventMs is { } newest ? Math.Max(newest, eventTimeMs) : eventTimeMs;
                }
            }
        }
        finally
        {
            chunk.Clear();
        }
    }

    /// <summary>Events in the owned partitions not read yet, from the high watermarks of the last fetches.</summary>
    private long Waiting(IConsumer<byte[]?, byte[]?> consumer)
    {
        long waiting = 0;
        foreach (var (tp, state) in _owned)
        {
            var high = consumer.GetWatermarkOffsets(tp).High.Value;
            if (state.Loaded && high >= 0)
            {
                waiting += Math.Max(0, high - state.NextOffset);
            }
        }

        return waiting;
    }

    private bool Process(ConsumeResult<byte[]?, byte[]?> result, PartitionState state, DeadLetterProducer dlq, long nowMs, out long eventTimeMs)
    {
        eventTimeMs = 0;
        var source = state.Source;
        var parser = state.Parser;
        var payload = result.Message.Value;
        var error = payload is null ? ParseError.MalformedJson : parser.Parse(payload);
        string? detail = payload is null ? "empty payload (tombstone)" : null;
        if (error == ParseError.None)
        {
            error = state.Lateness.Admit(result.Partition.Value, parser.EventTimeMs, nowMs);
            if (error != ParseError.None)
            {
                detail = $"event time {Rfc3339.Format(parser.EventTimeMs)}, watermark {FormatWatermark(state.Lateness.Watermark(result.Partition.Value))}, processing time {Rfc3339.Format(nowMs)}";
            }
        }

        if (error != ParseError.None)
        {
            if (result.Offset.Value >= state.DeadLetteredBelow)
            {
                // Read again after a rewind, a reject is not sent twice.
                dlq.Send(source.DeadLetterTopic, result, error.ToReason(), parser.ErrorField, detail);
                _metrics.DeadLettered(source.Name, error);
                state.DeadLetteredBelow = result.Offset.Value + 1;
            }

            return false;
        }

        _applier.Add(source, state.Partition, result.Offset.Value + state.OffsetBase, parser);
        eventTimeMs = parser.EventTimeMs;
        _batchNewestEventMs = Math.Max(_batchNewestEventMs, eventTimeMs);
        return true;
    }

    private void PublishStatus(IConsumer<byte[]?, byte[]?> consumer, bool force = false)
    {
        // A partition with nothing read past its checkpoint has its lag from the last fetch's end; one being
        // read gets it once a batch of it lands. Until every owned partition has one, the lag is unknown.
        var known = 0;
        long lag = 0;
        foreach (var (tp, state) in _owned)
        {
            if (state.Lag < 0 && state.Loaded && state.NextOffset == (state.Stored?.NextOffset ?? 0) && consumer.GetWatermarkOffsets(tp).High.Value is var high and >= 0)
            {
                state.Lag = Math.Max(0, high - state.NextOffset);
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
            _status.Publish(nowMs, [.. _owned.Select(kv => new PartitionStatus(kv.Key.Topic, kv.Key.Partition.Value, kv.Value.Lag, kv.Value.NewestEventMs, kv.Value.LastWriteMs))]);
        }
    }

    /// <summary>
    /// Completes the write in flight, if any, then sends the built batch once its build is over: it is then the
    /// write in flight. When the write in flight did not land, everything was rewound and the built batch, made
    /// on its states, is dropped.
    /// </summary>
    private async Task<(InFlight? InFlight, InFlight? Built)> SendAfterAsync(IConsumer<byte[]?, byte[]?> consumer, InFlight? inFlight, InFlight built)
    {
        if (inFlight is not null && !await CompleteBatchAsync(consumer, inFlight))
        {
            return (null, null);
        }

        await built.Write.FinishBuildAsync();
        _applier.Send(built.Write);
        built.Clock.Restart();
        return (built, null);
    }

    private static string FormatWatermark(long watermark) => watermark == long.MinValue ? "none" : Rfc3339.Format(watermark);

    private async Task<InFlight?> PrepareBatchAsync(DeadLetterProducer dlq, CancellationToken cancellationToken)
    {
        // Rejects must be durable in the dead-letter topic before the checkpoint moves past them.
        dlq.Flush(TimeSpan.FromSeconds(30));

        var expected = new Dictionary<TopicPartition, PartitionCheckpoint?>();
        var next = new Dictionary<TopicPartition, PartitionCheckpoint>();
        foreach (var (tp, checkpoint) in _unwritten)
        {
            if (_owned.TryGetValue(tp, out var state) && state.Loaded)
            {
                expected[tp] = state.Stored;
                next[tp] = checkpoint;
            }
        }

        var clock = Stopwatch.StartNew();
        var write = await _applier.PrepareAsync(expected, next, cancellationToken);
        _unwritten.Clear();

        // The next batch expects this one's checkpoints; if this write fails, every partition is rewound.
        foreach (var (tp, checkpoint) in next)
        {
            _owned[tp].Stored = checkpoint;
        }

        var newest = _batchNewestEventMs;
        _batchNewestEventMs = long.MinValue;
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

    private async Task<bool> CompleteBatchAsync(IConsumer<byte[]?, byte[]?> consumer, InFlight batch)
    {
        var fenced = await _applier.CompleteAsync(batch.Write);
        batch.Clock.Stop();
        if (fenced.Count > 0)
        {
            // A checkpoint moved under us (another member owns a partition now, or our own earlier write
            // landed without its reply): nothing of this write landed. Resume every partition from the store.
            foreach (var tp in fenced)
            {
                LogFenced(tp.ToString());
            }

            Rewind();
            return false;
        }

        // Freshness: from the newest event time of the batch to the moment it became readable online.
        var freshness = batch.NewestEventMs == long.MinValue ? TimeSpan.MinValue
            : TimeSpan.FromMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds() - batch.NewestEventMs);
        _metrics.BatchWritten(batch.Clock.Elapsed, freshness);
        foreach (var (topic, count) in batch.Accepted)
        {
            _metrics.EventsAccepted(_sources[topic].Name, count);
            _notLanded -= count;
        }

        _metrics.Replayed(batch.Replayed);

        CommitToKafka(consumer, batch.Next);
        return true;
    }

    /// <summary>
    /// Forgets everything not confirmed written (buffered events, cached states, the batch being built) and
    /// marks every owned partition for a reload of its stored checkpoint and a seek back to it.
    /// </summary>
    private void Rewind()
    {
        _metrics.ReadAgain(_notLanded + _batchAccepted.Values.Sum(c => c.Accepted));
        _notLanded = 0;
        _batchAccepted.Clear();
        _applier.Reset();
        _unwritten.Clear();
        _batchNewestEventMs = long.MinValue;
        foreach (var state in _owned.Values)
        {
            state.Loaded = false;
        }
    }

    private void CommitToKafka(IConsumer<byte[]?, byte[]?> consumer, Dictionary<TopicPartition, PartitionCheckpoint> landed)
    {
        // A partition revoked while its write was in flight is its next owner's to report.
        var written = landed.Where(kv => _owned.ContainsKey(kv.Key)).ToDictionary();
        if (written.Count == 0)
        {
            return;
        }

        // The online store holds the checkpoints that count; Kafka's copy is for lag tooling.
        try
        {
            consumer.Commit(written.Select(kv => new TopicPartitionOffset(kv.Key, new Offset(kv.Value.NextOffset))));
        }
        catch (KafkaException ex)
        {
            LogKafkaError(ex.Error.Code.ToString(), ex.Error.Reason);
        }

        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var tp in written.Keys)
        {
            var state = _owned.GetValueOrDefault(tp);
            if (state is not null)
            {
                state.LastWriteMs = nowMs;
                state.AppliedBelow = Math.Max(state.AppliedBelow, written[tp].NextOffset); // read again, they are replays
            }

            var watermarks = consumer.GetWatermarkOffsets(tp);
            if (watermarks.High.Value >= 0)
            {
                var lag = Math.Max(0, watermarks.High.Value - written[tp].NextOffset);
                _metrics.SetLag(tp.Topic, tp.Partition.Value, lag);
                if (state is not null)
                {
                    state.Lag = lag;
                }
            }
        }
    }

    private static async Task WaitServingRebalancesAsync(IConsumer<byte[]?, byte[]?> consumer, TimeSpan delay, CancellationToken cancellationToken)
    {
        // Paused partitions return nothing, but Consume still serves rebalance callbacks.
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < delay)
        {
            _ = consumer.Consume(TimeSpan.FromMilliseconds(Math.Min(100, Math.Max(1, (delay - clock.Elapsed).TotalMilliseconds))));
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private static bool IsTransient(Exception ex) => ex is StackExchange.Redis.RedisException or TimeoutException
        or InvalidOperationException { InnerException: KafkaException } or OnlineStoreWriteException;

    /// <summary>A batch whose write is built or in flight, with what to record once it lands.</summary>
    private sealed record InFlight(PreparedWrite Write, Dictionary<TopicPartition, PartitionCheckpoint> Next, long NewestEventMs, Stopwatch Clock, Dictionary<string, int> Accepted, int Replayed);

    private sealed class PartitionState(TopicPartition partition, SourceBinding source, EventParser parser, LatenessPolicy lateness)
    {
        public TopicPartition Partition { get; } = partition;

        public SourceBinding Source { get; } = source;

        public EventParser Parser { get; } = parser;

        public LatenessPolicy Lateness { get; } = lateness;

        /// <summary>Read from in the batch being collected.</summary>
        public bool Advanced { get; set; }

        public int AcceptedInBatch { get; set; }

        /// <summary>Of <see cref="AcceptedInBatch"/>, those below <see cref="AppliedBelow"/>.</summary>
        public int ReplayedInBatch { get; set; }

        /// <summary>The group's offset committed in Kafka at assignment: events below were applied before.</summary>
        public long AppliedBelow { get; set; }

        public bool Loaded { get; set; }

        public PartitionCheckpoint? Stored { get; set; }

        public long NextOffset { get; set; }

        public long? NewestEventMs { get; set; }

        public long? LastWriteMs { get; set; }

        public long Lag { get; set; } = -1;

        /// <summary>The topic incarnation the offsets count in (null when unknown).</summary>
        public string? Incarnation { get; set; }

        /// <summary>Added to this incarnation's offsets where the log order counts.</summary>
        public long OffsetBase { get; set; }

        /// <summary>One past the newest offset this member dead-lettered for the partition.</summary>
        public long DeadLetteredBelow { get; set; }
    }
}

/// <summary>The online store refused or could not complete a batch write; the batch is kept for a retry.</summary>
public sealed class OnlineStoreWriteException(string message, Exception? inner = null) : Exception(message, inner);
