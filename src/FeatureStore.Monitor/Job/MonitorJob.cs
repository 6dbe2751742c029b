using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Core.Models;
using FeatureStore.Kafka.DeadLetters;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Redis.Models;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Job;

/// <summary>
/// The monitor job (DESIGN.md §7): consumes the models' prediction topics, keeps one tumbling window per
/// model version and monitored column (by event time or by count; memory bounded by the baseline, not by
/// the window), evaluates each window as it closes, appends it to the drift history, opens and resolves
/// incidents, and raises alerts into the durable outbox that a dispatcher delivers to the webhooks.
/// A time window closes when the first prediction at or after its end arrives; predictions for a window
/// already closed are skipped (<c>too_late</c>). Malformed predictions go to the prediction's
/// dead-letter topic with headers <c>fs-reason</c>, <c>fs-field</c>, <c>fs-detail</c>,
/// <c>fs-source-topic</c>, <c>fs-source-partition</c>, <c>fs-source-offset</c>.
/// Exactly-once in effect across kills and rebalances: a partition is committed no further than the first
/// offset an open window holds from it (<see cref="CommitBounds"/>), and a window's history entry is written
/// in one transaction with its alerts, incidents and the offsets it covers per partition. A restarted or new
/// owner reads again from the committed offset, and each monitor skips what its evaluated windows counted.
/// With the model registry, a prediction whose version has no baseline of its own, or that carries no
/// version, is compared with the production version's baseline; a promotion is followed without a restart
/// (a window opened against the previous baseline is dropped and a fresh one starts).
/// </summary>
public sealed partial class MonitorJob
{
    private const string ClosedEndField = "closed_end_ms";

    private readonly FeatureRepository _repository;
    private readonly MonitorOptions _options;
    private readonly MonitorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly DriftStore _store;
    private readonly AlertOutbox _outbox;
    private readonly RedisKey _incidentsKey;
    private readonly Dictionary<(string Model, string Version), ModelBaseline?> _baselines = [];
    private readonly Dictionary<(string Model, string Version), long> _baselineCheckedMs = [];
    private readonly Dictionary<(string Model, string Version, string Column), ColumnState> _columns = [];
    private readonly Dictionary<string, Incident> _incidents = new(StringComparer.Ordinal);
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

    // Marks the channel so an evaluator waiting on an empty one wakes for a rebalance.
    private static readonly ConsumeResult<byte[]?, byte[]?> Wake = new();

    private readonly CommitBounds _bounds = new();
    private readonly Dictionary<PartitionKey, long> _commitTo = [];
    private readonly List<(RedisKey Key, HashEntry[] Offsets)> _closedOffsets = [];

    // A rebalance in progress: set by the consumer's callback, which waits until the evaluator has persisted
    // what closed, stored the bounds and dropped its windows before the partitions are given up.
    private ManualResetEventSlim? _revoke;
    private int _evaluating;
    private readonly SemaphoreSlim _alertRaised = new(0);
    private readonly ModelStageCache _stages;
    private readonly RetrainTracker? _retrain;
    private readonly RedisKey _retrainKey;

    /// <summary>A job over every model of <paramref name="repository"/> that has monitors.</summary>
    public MonitorJob(FeatureRepository repository, IDatabase database, string keyPrefix, MonitorOptions options, MonitorMetrics metrics, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(repository);
        _repository = repository;
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _store = new DriftStore(database, keyPrefix, repository.Project);
        _outbox = new AlertOutbox(database, _store.Keys);
        _incidentsKey = _store.Keys.Incidents;
        _retrainKey = _store.Keys.Retrain;
        _stages = new ModelStageCache(new ModelRegistryStore(database, keyPrefix, repository.Project), options.ModelStagePollInterval);
        _retrain = options.RetrainAfterWindows > 0 ? new RetrainTracker(options.RetrainAfterWindows) : null;
    }

    /// <summary>The drift history and baselines this job writes.</summary>
    public DriftStore Store => _store;

    /// <summary>The outbox of alerts not yet delivered.</summary>
    public AlertOutbox Outbox => _outbox;

    /// <summary>The production version of <paramref name="model"/> as this job last read the model registry.</summary>
    public string? ProductionVersion(string model) => _stages.Production(model);

    /// <summary>Bytes held by the open windows (the job's memory per monitored column is this over their number).</summary>
    public long WindowMemoryBytes { get; private set; }

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled, then stops cleanly.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var models = _repository.Models.Where(m => m.Monitors.Count > 0).ToList();
        var byTopic = models.GroupBy(m => m.Prediction.Topic).ToDictionary(g => g.Key, g => (IReadOnlyList<ModelDefinition>)[.. g]);
        foreach (var model in models)
        {
            foreach (var version in model.Versions)
            {
                _baselines[(model.Name, version.Version)] = await _store.LoadBaselineAsync(model.Name, version.Version).ConfigureAwait(false);
            }
        }

        await LoadIncidentsAsync().ConfigureAwait(false);
        await LoadRetrainStatesAsync().ConfigureAwait(false);
        await _stages.RefreshAsync().ConfigureAwait(false);
        MonitorLog.Started(_logger, string.Join(", ", byTopic.Keys), _baselines.Values.Count(b => b is not null));
        if (byTopic.Count == 0)
        {
            return;
        }

        var channel = Channel.CreateBounded<ConsumeResult<byte[]?, byte[]?>>(new BoundedChannelOptions(_options.ChannelCapacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = _options.BootstrapServers,
            GroupId = _options.GroupId,
            AutoOffsetReset = AutoOffsetReset.Earliest,

            // Auto-commit commits only what the evaluator stored: the commit bounds, never a prediction still
            // held in an open window.
            EnableAutoCommit = true,
            EnableAutoOffsetStore = false,

            // Eager rebalancing: every partition is revoked at once, so the member drops all its windows and
            // reads nothing it kept from a partition it gave up.
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range,
            SessionTimeoutMs = (int)_options.SessionTimeout.TotalMilliseconds,
            HeartbeatIntervalMs = Math.Max(100, (int)_options.SessionTimeout.TotalMilliseconds / 5),
        })
            .SetPartitionsRevokedHandler((c, _) => GiveUp(c, channel.Writer, commit: true))
            .SetPartitionsLostHandler((c, _) => GiveUp(c, channel.Writer, commit: false))
            .Build();
        using var deadLetters = new DeadLetterProducer(_options.BootstrapServers, clientId: "featurestore-monitor-dlq");
        using var sender = new WebhookSender(firstRetryDelay: _options.WebhookRetryDelay);
        consumer.Subscribe(byTopic.Keys);

        using var stopDispatch = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var consume = Task.Run(() => ConsumeAsync(consumer, channel.Writer, cancellationToken), CancellationToken.None);
        var dispatch = Task.Run(() => DispatchAsync(sender, stopDispatch.Token), CancellationToken.None);
        var follow = Task.Run(() => _stages.FollowAsync(_store.Database.Multiplexer.GetSubscriber(), ex => MonitorLog.StoreError(_logger, ex), stopDispatch.Token), CancellationToken.None);
        try
        {
            await EvaluateAsync(channel.Reader, byTopic, consumer, deadLetters, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await consume.ConfigureAwait(false);
            await stopDispatch.CancelAsync().ConfigureAwait(false);
            await dispatch.ConfigureAwait(false);
            await follow.ConfigureAwait(false);
            try
            {
                deadLetters.Flush(TimeSpan.FromSeconds(10));
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
                // The offsets of a prediction whose dead letter was not confirmed are not stored either (the
                // evaluator stores only what it processed): the next start reads it again.
                MonitorLog.StoreError(_logger, ex);
            }

            try
            {
                consumer.Commit();
            }
            catch (KafkaException)
            {
                // nothing stored to commit, or the group is gone: the next start re-reads at most that much
            }

            consumer.Close();
        }
    }

    // Runs on the consuming thread inside Consume, before the partitions go: nothing the evaluator keeps may
    // come from them afterwards, and what it persisted must be committed before the next owner starts.
    private void GiveUp(IConsumer<byte[]?, byte[]?> consumer, ChannelWriter<ConsumeResult<byte[]?, byte[]?>> writer, bool commit)
    {
        using var done = new ManualResetEventSlim();
        Interlocked.Exchange(ref _revoke, done);
        if (Volatile.Read(ref _evaluating) == 1)
        {
            writer.TryWrite(Wake); // a full channel needs no wake: the evaluator sees the request at its next prediction
            done.Wait();
        }

        Interlocked.CompareExchange(ref _revoke, null, done);
        if (commit)
        {
            try
            {
                consumer.Commit();
            }
            catch (KafkaException)
            {
                // nothing stored since the last commit
            }
        }
    }

    private async Task ConsumeAsync(IConsumer<byte[]?, byte[]?> consumer, ChannelWriter<ConsumeResult<byte[]?, byte[]?>> writer, CancellationToken cancellationToken)
    {
        var consumeWarnings = new HashSet<string>(StringComparer.Ordinal); // this task's own: _warned belongs to the evaluator
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                ConsumeResult<byte[]?, byte[]?>? result;
                try
                {
                    result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                }
                catch (ConsumeException ex) when (!ex.Error.IsFatal)
                {
                    // e.g. the prediction topic does not exist yet: keep polling, it may be created later.
                    if (consumeWarnings.Add(ex.Error.Reason))
                    {
                        MonitorLog.ConsumeError(_logger, ex.Error.Reason);
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(500), _options.TimeProvider, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (result is not null && !result.IsPartitionEOF)
                {
                    await writer.WriteAsync(result, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
        finally
        {
            writer.TryComplete();
        }
    }

    private async Task EvaluateAsync(
        ChannelReader<ConsumeResult<byte[]?, byte[]?>> reader,
        Dictionary<string, IReadOnlyList<ModelDefinition>> byTopic,
        IConsumer<byte[]?, byte[]?> consumer,
        DeadLetterProducer deadLetters,
        CancellationToken cancellationToken)
    {
        var closed = new List<DriftEvaluation>();
        var alerts = new List<DriftAlert>();
        var batch = new List<ConsumeResult<byte[]?, byte[]?>>();
        Interlocked.Exchange(ref _evaluating, 1);
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                batch.Clear();
                while (batch.Count < 5000 && reader.TryRead(out var item))
                {
                    if (!ReferenceEquals(item, Wake))
                    {
                        batch.Add(item);
                    }
                }

                foreach (var result in batch)
                {
                    if (Volatile.Read(ref _revoke) is not null)
                    {
                        break; // the rest belong to partitions being given up: their next owner reads them
                    }

                    await ProcessAsync(result, byTopic[result.Topic], deadLetters, closed, cancellationToken).ConfigureAwait(false);
                }

                if (closed.Count > 0)
                {
                    foreach (var evaluation in closed)
                    {
                        Incidents(evaluation, alerts);
                        Retrain(evaluation, alerts);
                    }

                    await PersistAsync(closed, alerts, cancellationToken).ConfigureAwait(false);
                    closed.Clear();
                    alerts.Clear();
                }

                StoreBounds(consumer);
                if (Interlocked.Exchange(ref _revoke, null) is { } revoke)
                {
                    var dropped = DropWindows();
                    var unread = 0;
                    while (reader.TryRead(out _))
                    {
                        unread++;
                    }

                    MonitorLog.PartitionsGivenUp(_logger, dropped, unread);
                    revoke.Set();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopping: open windows are dropped; the stored bounds are committed on close and their
            // predictions read again by the next run
        }
        finally
        {
            Interlocked.Exchange(ref _evaluating, 0);
            Interlocked.Exchange(ref _revoke, null)?.Set();
        }
    }

    // Stores, per partition read, the offset the consumer may commit (auto-commit sends it).
    private void StoreBounds(IConsumer<byte[]?, byte[]?> consumer)
    {
        _bounds.Compute(_columns.Values.Select(s => s.Offsets), _commitTo);
        foreach (var (partition, offset) in _commitTo)
        {
            try
            {
                consumer.StoreOffset(new TopicPartitionOffset(partition.Topic, new Partition(partition.Partition), new Offset(offset)));
            }
            catch (KafkaException)
            {
                // the partition was lost: its next owner starts from the offset committed before
            }
        }
    }

    // Every open window goes with the partitions (eager rebalancing revokes them all): the predictions they
    // held are past no committed offset, so whoever owns the partitions next counts them.
    private int DropWindows()
    {
        var dropped = 0;
        foreach (var state in _columns.Values)
        {
            WindowMemoryBytes -= state.Window.MemoryBytes;
            dropped += state.Window.Count > 0 ? 1 : 0;
        }

        _columns.Clear();
        _bounds.Forget();
        return dropped;
    }

    private async Task PersistAsync(List<DriftEvaluation> closed, List<DriftAlert> alerts, CancellationToken cancellationToken)
    {
        if (_options.HistoryDirectory is { } folder)
        {
            // The full history on disk first: a kill before the online store's transaction evaluates these
            // windows again, so the Parquet copy may hold a batch twice but never misses one. A full or failing
            // disk is retried like the store.
            var history = new ParquetHistory(folder);
            for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
            {
                try
                {
                    await history.AppendAsync(closed, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    MonitorLog.HistoryWriteError(_logger, folder, ex);
                    await Task.Delay(delay, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        // The history, the offsets the windows covered, the alerts and the incidents in one transaction: a kill
        // leaves either all of them (and the windows' predictions are skipped when read again) or none (and the
        // windows are evaluated again). Retried through an outage rather than lost; every write is idempotent.
        for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
        {
            try
            {
                var transaction = _store.Database.CreateTransaction();
                _store.AppendHistory(transaction, closed);
                foreach (var (key, offsets) in _closedOffsets)
                {
                    _ = transaction.HashSetAsync(key, offsets);
                }

                var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
                foreach (var alert in alerts)
                {
                    _outbox.Enqueue(transaction, alert, now);
                }

                SaveIncidents(transaction, closed);
                SaveRetrainStates(transaction, closed);
                await transaction.ExecuteAsync().ConfigureAwait(false);
                for (var i = 0; i < alerts.Count; i++)
                {
                    _metrics.Raised();
                }

                if (alerts.Count > 0)
                {
                    _alertRaised.Release();
                }

                _closedOffsets.Clear();
                break;
            }
            catch (RedisException ex)
            {
                MonitorLog.StoreError(_logger, ex);
                await Task.Delay(delay, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task ProcessAsync(ConsumeResult<byte[]?, byte[]?> result, IReadOnlyList<ModelDefinition> models, DeadLetterProducer deadLetters, List<DriftEvaluation> closed, CancellationToken cancellationToken)
    {
        var partition = new PartitionKey(result.Topic, result.Partition.Value);
        var offset = result.Offset.Value;
        if (!_bounds.Read(partition, offset))
        {
            _metrics.Skip("redelivered");
            return;
        }

        _metrics.Prediction();
        JsonDocument document;
        try
        {
            document = PredictionReader.Parse(result.Message.Value ?? []);
        }
        catch (JsonException ex)
        {
            DeadLetter(deadLetters, result, models[0], new Rejection("malformed_json", null, ex.Message));
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            if (PredictionReader.Read(root, models, out var model, out var version, out var timeMs, _stages) is { } rejection)
            {
                DeadLetter(deadLetters, result, models[0], rejection);
                return;
            }

            if (await EffectiveBaselineAsync(model!.Name, version!).ConfigureAwait(false) is not { } baseline)
            {
                _metrics.Skip("no_baseline");
                return;
            }

            foreach (var monitor in model.Monitors)
            {
                if (!baseline.Columns.TryGetValue(monitor.Column, out var columnBaseline))
                {
                    continue;
                }

                if (!PredictionReader.TryGetColumn(root, monitor.Column, out var value))
                {
                    _metrics.Skip("missing_feature");
                    if (_warned.Add($"{model.Name}:{monitor.Column}"))
                    {
                        MonitorLog.MissingFeature(_logger, model.Name, MonitorColumns.TableName(monitor.Column), monitor.Column);
                    }

                    continue;
                }

                var key = (model.Name, version!, monitor.Column);
                if (_columns.TryGetValue(key, out var state) && state.BaselineId != baseline.Id)
                {
                    // The baseline changed (a promotion, or the version's own baseline stored): the open window's
                    // bins are the old baseline's, so it is dropped and a fresh one starts (what was evaluated stays so).
                    WindowMemoryBytes -= state.Window.MemoryBytes;
                    _columns.Remove(key);
                    var fresh = new ColumnState(monitor, columnBaseline, columnBaseline.NewWindow(), baseline.Id, version!, state.EvaluatedKey, state.Evaluated)
                    {
                        ClosedEndMs = state.ClosedEndMs,
                    };
                    state = fresh;
                    _columns[key] = state;
                    WindowMemoryBytes += state.Window.MemoryBytes;
                }

                if (state is null)
                {
                    state = await NewStateAsync(model.Name, version!, monitor, columnBaseline, baseline.Id, cancellationToken).ConfigureAwait(false);
                    _columns[key] = state;
                    WindowMemoryBytes += state.Window.MemoryBytes;
                }

                if (state.Evaluated.TryGetValue(partition, out var upTo) && offset <= upTo)
                {
                    _metrics.Skip("evaluated"); // read again after a restart or rebalance: a persisted window counted it
                    continue;
                }

                Add(baseline, state, value, timeMs, partition, offset, closed);
            }
        }
    }

    // The monitor's state after an assignment: a fresh window, and what its persisted windows covered.
    private async Task<ColumnState> NewStateAsync(string model, string version, MonitorDefinition monitor, ColumnBaseline columnBaseline, string baselineId, CancellationToken cancellationToken)
    {
        var key = _store.EvaluatedKey(model, version, monitor.Column);
        var evaluated = new Dictionary<PartitionKey, long>();
        var closedEndMs = long.MinValue;
        for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
        {
            try
            {
                foreach (var entry in await _store.Database.HashGetAllAsync(key).ConfigureAwait(false))
                {
                    var field = entry.Name.ToString();
                    if (field == ClosedEndField)
                    {
                        closedEndMs = (long)entry.Value;
                    }
                    else if (PartitionKey.TryParseField(field, out var partition))
                    {
                        evaluated[partition] = (long)entry.Value;
                    }
                }

                break;
            }
            catch (RedisException ex)
            {
                MonitorLog.StoreError(_logger, ex);
                await Task.Delay(delay, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }

        return new ColumnState(monitor, columnBaseline, columnBaseline.NewWindow(), baselineId, version, key, evaluated) { ClosedEndMs = closedEndMs };
    }

    private void Add(ModelBaseline baseline, ColumnState state, JsonElement value, long timeMs, PartitionKey partition, long offset, List<DriftEvaluation> closed)
    {
        if (state.Monitor.WindowSizeMs is { } size)
        {
            var index = Math.Floor((double)timeMs / size);

            // Before the open window, or in one already closed (by this run or, persisted, by an earlier one).
            if ((state.Window.Count > 0 && index < state.Index) || timeMs < state.ClosedEndMs)
            {
                _metrics.Skip("too_late");
                return;
            }

            if (state.Window.Count > 0 && index > state.Index)
            {
                Close(baseline, state, (long)state.Index * size, ((long)state.Index + 1) * size, closed);
            }

            if (state.Window.Count == 0)
            {
                state.Index = index;
            }
        }

        if (state.Window.Count == 0)
        {
            state.FirstMs = timeMs;
        }

        state.LastMs = Math.Max(state.LastMs, timeMs);
        switch (state.Window)
        {
            case NumericWindow numeric when PredictionReader.AsNumber(value) is { } number:
                numeric.Add(number);
                break;
            case CategoricalWindow categorical:
                categorical.Add(PredictionReader.AsText(value));
                break;
            default:
                _metrics.Skip("wrong_type");
                return;
        }

        state.Offsets.Hold(partition, offset);
        if (state.Monitor.WindowCount is { } count && state.Window.Count >= count)
        {
            Close(baseline, state, state.FirstMs, state.LastMs, closed);
        }
    }

    private void Close(ModelBaseline baseline, ColumnState state, long startMs, long endMs, List<DriftEvaluation> closed)
    {
        var evaluation = DriftEvaluation.Of(baseline, state.Monitor, state.Baseline, state.Window, startMs, endMs, _options.UseLearnedThresholds) with { Version = state.Version };

        // What the window covered, persisted with its history entry: from here on, reading these predictions
        // again (after a restart or a rebalance) skips them for this monitor, and the commit may pass them.
        var timed = state.Monitor.WindowSizeMs is not null;
        var offsets = new HashEntry[state.Offsets.Held.Count + (timed ? 1 : 0)];
        var i = 0;
        foreach (var (partition, range) in state.Offsets.Held)
        {
            offsets[i++] = new HashEntry(partition.Field, range.Last);
            state.Evaluated[partition] = range.Last;
        }

        if (timed)
        {
            offsets[i] = new HashEntry(ClosedEndField, endMs);
            state.ClosedEndMs = endMs;
        }

        _closedOffsets.Add((state.EvaluatedKey, offsets));
        state.Offsets.Clear();
        state.Window.Reset();
        state.LastMs = long.MinValue;
        closed.Add(evaluation);
        _metrics.Window();
        MonitorLog.Evaluated(_logger, evaluation.Model, evaluation.Version, evaluation.Column, evaluation.Count,
            evaluation.Verdict switch { DriftVerdict.Drifted => "DRIFTED", DriftVerdict.InsufficientData => $"insufficient_data (< {evaluation.MinSamples})", _ => "ok" },
            string.Join(", ", evaluation.Results.Select(r => string.Create(CultureInfo.InvariantCulture, $"{DriftDefaults.Name(r.Method)}={r.Value:G4}/{r.Threshold:G4}"))));
    }

    /// <summary>The version's own baseline, else the production version's (null when neither exists).</summary>
    private async Task<ModelBaseline?> EffectiveBaselineAsync(string model, string version)
    {
        var own = await BaselineAsync(model, version).ConfigureAwait(false);
        if (own is not null)
        {
            return own;
        }

        var production = _stages.Production(model);
        var fallback = production is null || production == version ? null : await BaselineAsync(model, production).ConfigureAwait(false);
        if (fallback is null && _warned.Add($"baseline:{model}@{version}"))
        {
            MonitorLog.NoBaseline(_logger, model, version);
        }

        return fallback;
    }

    private async Task<ModelBaseline?> BaselineAsync(string model, string version)
    {
        var key = (model, version);
        var baseline = _baselines.GetValueOrDefault(key);
        if (baseline is not null)
        {
            return baseline;
        }

        // Not computed yet: look again every 30 s, so `featurestore baseline` takes effect without a restart.
        var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        if (now - _baselineCheckedMs.GetValueOrDefault(key, long.MinValue / 2) >= 30_000)
        {
            _baselineCheckedMs[key] = now;
            _baselines[key] = baseline = await _store.LoadBaselineAsync(model, version).ConfigureAwait(false);
        }

        return baseline;
    }

    private void DeadLetter(DeadLetterProducer producer, ConsumeResult<byte[]?, byte[]?> result, ModelDefinition model, Rejection rejection)
    {
        _metrics.DeadLetter(rejection.Reason);
        producer.Send(model.Prediction.DeadLetterTopic, result, rejection.Reason, rejection.Field, rejection.Detail);
    }

    private sealed class ColumnState(
        MonitorDefinition monitor, ColumnBaseline baseline, DriftWindow window, string baselineId, string version, RedisKey evaluatedKey, Dictionary<PartitionKey, long> evaluated)
    {
        /// <summary>The hash of the offsets this monitor's evaluated windows cover (<see cref="DriftStore.EvaluatedKey"/>).</summary>
        public RedisKey EvaluatedKey { get; } = evaluatedKey;

        /// <summary>Per partition, the highest offset in an evaluated window: lower ones are skipped when read again.</summary>
        public Dictionary<PartitionKey, long> Evaluated { get; } = evaluated;

        /// <summary>End of the last closed time window: earlier predictions are too late.</summary>
        public long ClosedEndMs { get; set; } = long.MinValue;

        /// <summary>The offsets the open window holds.</summary>
        public WindowOffsets Offsets { get; } = new();

        /// <summary>The version whose predictions fill the window (the baseline may be another version's).</summary>
        public string Version { get; } = version;

        public string BaselineId { get; } = baselineId;

        public MonitorDefinition Monitor { get; } = monitor;

        public ColumnBaseline Baseline { get; } = baseline;

        public DriftWindow Window { get; } = window;

        public double Index { get; set; }

        public long FirstMs { get; set; }

        public long LastMs { get; set; } = long.MinValue;
    }
}
