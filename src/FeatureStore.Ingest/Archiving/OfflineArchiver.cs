using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Streaming;
using FeatureStore.Kafka;
using FeatureStore.Kafka.Consuming;
using FeatureStore.Parquet.EventLog;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Ingest.Archiving;

/// <summary>
/// Appends every source's events to the offline store's Parquet event log, exactly once. It is its own
/// Kafka consumer (its own group), so the online ingest job is untouched; its position is what is on disk:
/// on assignment each partition resumes after its last committed batch, and a crash leaves either a whole
/// batch (data files and commit marker) or nothing that readers see. Events the ingest job rejects are
/// skipped here by the same rules (parse errors, lateness against the partition's watermark, future skew);
/// the ingest job is the one that dead-letters them.
/// </summary>
public sealed class OfflineArchiver : IRebalanceListener
{
    private readonly OfflineArchiverOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, Binding> _byTopic;
    private readonly Dictionary<TopicPartition, PartitionState> _owned = [];
    private readonly Dictionary<string, string> _liveIncarnations = new(StringComparer.Ordinal);
    private TopicIncarnation? _incarnations;
    private GroupMember? _member;
    private readonly List<(TopicPartition Partition, string Why)> _restarted = [];
    private long _eventsWritten;
    private long _eventsSkipped;

    /// <summary>Creates an archiver for every source of <paramref name="repository"/> that feeds a view.</summary>
    public OfflineArchiver(CompiledRepository repository, OfflineArchiverOptions options, ILogger logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        Kafka.SchemaRegistry.SchemaRegistryResolvers.Attach(repository);
        var settings = repository.Repository.Settings;
        _byTopic = repository.Sources.ToDictionary(
            s => s.Definition.Topic,
            s => new Binding(new EventLogWriter(options.Directory, s), new EventParser(s.Schema), new LatenessPolicy(settings.AllowedLatenessMs, settings.MaxFutureSkewMs),
                Parquet.History.HistoryImport.RecordedCutover(options.Directory, s.Definition.Name) ?? long.MinValue),
            StringComparer.Ordinal);
    }

    /// <summary>Events written to the log so far.</summary>
    public long EventsWritten => Interlocked.Read(ref _eventsWritten);

    /// <summary>Events skipped (rejected by the parser or the lateness rules).</summary>
    public long EventsSkipped => Interlocked.Read(ref _eventsSkipped);

    /// <summary>Consumes and archives until <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var incarnations = _incarnations = new TopicIncarnation(_options.BootstrapServers, _options.KafkaSettings);
        using var member = _member = new GroupMember(
            new GroupMemberSettings
            {
                BootstrapServers = _options.BootstrapServers,
                GroupId = _options.GroupId,
                ClientId = "featurestore-offline",
                SessionTimeout = _options.SessionTimeout,
                KafkaSettings = _options.KafkaSettings,
            },
            this);
        var consumer = member.Consumer;
        member.Subscribe(_byTopic.Keys);
        IngestLog.ArchiverStarted(_logger, _options.GroupId, string.Join(",", _byTopic.Keys), _options.Directory);
        var backoff = new RetryBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    CollectBatch(consumer, cancellationToken);
                    await CommitBatchAsync(member, cancellationToken).ConfigureAwait(false);
                    backoff.Reset();
                }
                catch (IOException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    // Disk full or the folder unavailable: the batch is kept and written again later.
                    IngestLog.ArchiverRetrying(_logger, ex.Message, backoff.Delay.TotalMilliseconds);
                    member.Pause();
                    await Task.Delay(backoff.Delay, cancellationToken).ConfigureAwait(false);
                    member.Resume();
                    backoff.Failed();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // shutting down; an unwritten batch is simply read again next time
        }
        finally
        {
            member.Close();
            IngestLog.ArchiverStopped(_logger);
        }
    }

    IEnumerable<TopicPartitionOffset> IRebalanceListener.Assigned(List<TopicPartition> partitions)
    {
        foreach (var (topic, incarnation) in _incarnations?.Read([.. partitions.Select(p => p.Topic).Distinct(StringComparer.Ordinal)]) ?? new Dictionary<string, string>())
        {
            _liveIncarnations[topic] = incarnation;
        }

        var starts = new List<TopicPartitionOffset>(partitions.Count);
        foreach (var tp in partitions)
        {
            var state = new PartitionState();
            _owned[tp] = state;
            starts.Add(new TopicPartitionOffset(tp, new Offset(Resume(tp, state))));
        }

        LogRestarted();
        return starts;
    }

    void IRebalanceListener.Revoked(List<TopicPartitionOffset> partitions) => Drop(partitions.Select(p => p.TopicPartition));

    void IRebalanceListener.Lost(List<TopicPartitionOffset> partitions) => Drop(partitions.Select(p => p.TopicPartition));

    void IRebalanceListener.Error(Error error) => IngestLog.ArchiverKafkaError(_logger, error.Code.ToString(), error.Reason);

    /// <summary>
    /// Reads where a partition's log ends on disk and sets <paramref name="state"/> to go on from there; returns
    /// the Kafka offset to read from. When the log's last batch was read from another incarnation of the topic
    /// (recreated, or its cluster replaced), or ends past the partition's end, the partition is read from its
    /// beginning, its offsets counted on from the log's end, with a warning: the new incarnation's events are
    /// all archived, after the old ones.
    /// </summary>
    private long Resume(TopicPartition tp, PartitionState state)
    {
        var binding = _byTopic[tp.Topic];
        var position = binding.Writer.Recover(tp.Partition.Value);
        binding.Lateness.Forget(tp.Partition.Value);
        if (position.WatermarkMs != long.MinValue)
        {
            binding.Lateness.Restore(tp.Partition.Value, position.WatermarkMs);
        }

        var live = _liveIncarnations.GetValueOrDefault(tp.Topic);
        var offsetBase = position.OffsetBase;
        var kafkaNext = position.NextOffset - offsetBase;
        if (position.NextOffset > 0)
        {
            var bounds = _member!.QueryBounds(tp); // unknown (unset) when the broker does not answer: judged by the incarnation alone

            if (TopicIncarnation.Mismatch(position.Incarnation, kafkaNext, live, bounds.High.Value) is { } why)
            {
                kafkaNext = Math.Max(0, bounds.Low.Value);
                offsetBase = position.NextOffset - kafkaNext;
                _restarted.Add((tp, why));
            }
        }

        state.Incarnation = live ?? position.Incarnation;
        state.OffsetBase = offsetBase;
        state.CommittedOffset = state.NextOffset = position.NextOffset;
        IngestLog.ArchiverResuming(_logger, tp.ToString(), kafkaNext);
        return kafkaNext;
    }

    /// <summary>One warning per topic for the partitions whose log continued another incarnation.</summary>
    private void LogRestarted()
    {
        foreach (var topic in _restarted.GroupBy(r => r.Partition.Topic, StringComparer.Ordinal))
        {
            IngestLog.ArchiverNewIncarnation(_logger, topic.Key, string.Join(",", topic.Select(r => r.Partition.Partition.Value)), topic.First().Why);
        }

        _restarted.Clear();
    }

    private void Drop(IEnumerable<TopicPartition> partitions)
    {
        foreach (var tp in partitions)
        {
            _owned.Remove(tp);
            _byTopic[tp.Topic].Lateness.Forget(tp.Partition.Value);
        }
    }

    private void CollectBatch(IConsumer<byte[]?, byte[]?> consumer, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var taken = 0;
        while (taken < _options.MaxBatchEvents)
        {
            var remaining = _options.MaxBatchDelay - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            var result = consumer.Consume(remaining);
            cancellationToken.ThrowIfCancellationRequested();
            if (result is null)
            {
                break;
            }

            // The log's offsets are the Kafka offsets plus the incarnation's base.
            if (result.IsPartitionEOF || !_owned.TryGetValue(result.TopicPartition, out var state) || result.Offset.Value + state.OffsetBase < state.NextOffset)
            {
                continue;
            }

            var offset = result.Offset.Value + state.OffsetBase;

            taken++;
            var binding = _byTopic[result.Topic];
            var payload = result.Message.Value;
            var accepted = payload is not null && binding.Parser.Parse(payload) == ParseError.None
                && binding.Parser.EventTimeMs >= binding.HistoryBeforeMs
                && binding.Lateness.Admit(result.Partition.Value, binding.Parser.EventTimeMs, now) == ParseError.None;
            if (accepted)
            {
                var day = Core.Windows.TileMath.FloorDiv(binding.Parser.EventTimeMs, 86_400_000);
                if (!state.Rows.TryGetValue(day, out var rows))
                {
                    rows = new EventRowBuffer(binding.Writer.Source.Schema);
                    state.Rows[day] = rows;
                }

                rows.Add(binding.Parser, offset);
            }
            else
            {
                state.Skipped++;
            }

            state.NextOffset = offset + 1;
        }
    }

    private async Task CommitBatchAsync(GroupMember member, CancellationToken cancellationToken)
    {
        var committed = new List<TopicPartitionOffset>();
        foreach (var (tp, state) in _owned)
        {
            if (state.NextOffset == state.CommittedOffset)
            {
                continue;
            }

            var binding = _byTopic[tp.Topic];
            var watermark = binding.Lateness.Watermark(tp.Partition.Value);
            var ok = await binding.Writer.CommitAsync(
                tp.Topic, tp.Partition.Value, state.CommittedOffset, state.NextOffset, watermark, state.Rows, state.Incarnation, state.OffsetBase, cancellationToken).ConfigureAwait(false);
            if (ok)
            {
                Interlocked.Add(ref _eventsWritten, state.Rows.Values.Sum(r => r.Count));
                Interlocked.Add(ref _eventsSkipped, state.Skipped);
                state.CommittedOffset = state.NextOffset;
                committed.Add(new TopicPartitionOffset(tp, new Offset(state.NextOffset - state.OffsetBase)));
            }
            else
            {
                // Someone else committed from this offset: reload the position from disk and go on from there.
                IngestLog.ArchiverFenced(_logger, tp.ToString(), state.CommittedOffset);
                member.Consumer.Seek(new TopicPartitionOffset(tp, new Offset(Resume(tp, state))));
                LogRestarted();
            }

            state.Rows.Clear();
            state.Skipped = 0;
        }

        if (committed.Count > 0)
        {
            member.Commit(committed); // for lag tooling only; the log on disk is the position that counts
        }
    }

    // HistoryBeforeMs: the cut-over of the history imported into the log; the stream's events before it are the history's.
    private sealed record Binding(EventLogWriter Writer, EventParser Parser, LatenessPolicy Lateness, long HistoryBeforeMs);

    private sealed class PartitionState
    {
        /// <summary>The log's offsets (Kafka's plus <see cref="OffsetBase"/>).</summary>
        public long CommittedOffset { get; set; }

        public long NextOffset { get; set; }

        /// <summary>The topic incarnation read (null when unknown).</summary>
        public string? Incarnation { get; set; }

        /// <summary>Added to this incarnation's Kafka offsets to make the log's.</summary>
        public long OffsetBase { get; set; }

        public Dictionary<long, EventRowBuffer> Rows { get; } = [];

        public long Skipped { get; set; }
    }
}
