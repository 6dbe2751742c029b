using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Core.Models;
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
/// <c>fs-source-topic</c>, <c>fs-source-partition</c>, <c>fs-source-offset</c>. A restart resumes from
/// the committed offsets with fresh windows (the partial windows of the previous run are not kept).
/// With the model registry, a prediction whose version has no baseline of its own, or that carries no
/// version, is compared with the production version's baseline; a promotion is followed without a restart
/// (a window opened against the previous baseline is dropped and a fresh one starts).
/// </summary>
public sealed partial class MonitorJob
{
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

    // The highest offset this member has evaluated per partition: after a rebalance or a broker fault the
    // consumer resumes from the last committed offset and reads some predictions again; each counts once.
    private readonly Dictionary<TopicPartition, long> _evaluatedUpTo = [];
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
        _outbox = new AlertOutbox(database, _store.KeyBase);
        _incidentsKey = _store.KeyBase + ":incidents";
        _retrainKey = _store.KeyBase + ":retrain";
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
            EnableAutoCommit = true,
            EnableAutoOffsetStore = false,
            SessionTimeoutMs = (int)_options.SessionTimeout.TotalMilliseconds,
            HeartbeatIntervalMs = Math.Max(100, (int)_options.SessionTimeout.TotalMilliseconds / 5),
        }).Build();
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
        {
            BootstrapServers = _options.BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
        }).Build();
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
            deadLetters.Flush(TimeSpan.FromSeconds(10));
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
        IProducer<byte[]?, byte[]?> deadLetters,
        CancellationToken cancellationToken)
    {
        var closed = new List<DriftEvaluation>();
        var alerts = new List<DriftAlert>();
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var batch = new List<ConsumeResult<byte[]?, byte[]?>>();
                while (batch.Count < 5000 && reader.TryRead(out var item))
                {
                    batch.Add(item);
                }

                foreach (var result in batch)
                {
                    await ProcessAsync(result, byTopic[result.Topic], deadLetters, closed).ConfigureAwait(false);
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

                foreach (var last in batch.GroupBy(r => r.TopicPartition).Select(g => g.Last()))
                {
                    consumer.StoreOffset(last);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopping: open windows are dropped, stored offsets committed on close
        }
    }

    private async Task PersistAsync(List<DriftEvaluation> closed, List<DriftAlert> alerts, CancellationToken cancellationToken)
    {
        // The history and the alerts must reach the store: retry through an outage rather than lose them.
        for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
        {
            try
            {
                await _store.AppendHistoryAsync(closed).ConfigureAwait(false);
                var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
                foreach (var alert in alerts)
                {
                    await _outbox.EnqueueAsync(alert, now).ConfigureAwait(false);
                    _metrics.Raised();
                }

                await SaveIncidentsAsync(closed).ConfigureAwait(false);
                await SaveRetrainStatesAsync(closed).ConfigureAwait(false);
                if (alerts.Count > 0)
                {
                    _alertRaised.Release();
                }

                break;
            }
            catch (RedisException ex)
            {
                MonitorLog.StoreError(_logger, ex);
                await Task.Delay(delay, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }

        if (_options.HistoryDirectory is { } folder)
        {
            // The full history on disk, after the online store has it; a full or failing disk is retried likewise.
            var history = new ParquetHistory(folder);
            for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
            {
                try
                {
                    await history.AppendAsync(closed, cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    MonitorLog.HistoryWriteError(_logger, folder, ex);
                    await Task.Delay(delay, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    private async Task ProcessAsync(ConsumeResult<byte[]?, byte[]?> result, IReadOnlyList<ModelDefinition> models, IProducer<byte[]?, byte[]?> deadLetters, List<DriftEvaluation> closed)
    {
        if (_evaluatedUpTo.TryGetValue(result.TopicPartition, out var upTo) && result.Offset.Value <= upTo)
        {
            _metrics.Skip("redelivered");
            return;
        }

        _evaluatedUpTo[result.TopicPartition] = result.Offset.Value;
        _metrics.Prediction();
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(result.Message.Value ?? []);
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
                    // bins are the old baseline's, so it is dropped and a fresh one starts.
                    WindowMemoryBytes -= state.Window.MemoryBytes;
                    _columns.Remove(key);
                    state = null;
                }

                if (state is null)
                {
                    state = new ColumnState(monitor, columnBaseline, columnBaseline.NewWindow(), baseline.Id, version!);
                    _columns[key] = state;
                    WindowMemoryBytes += state.Window.MemoryBytes;
                }

                Add(baseline, state, value, timeMs, closed);
            }
        }
    }

    private void Add(ModelBaseline baseline, ColumnState state, JsonElement value, long timeMs, List<DriftEvaluation> closed)
    {
        if (state.Monitor.WindowSizeMs is { } size)
        {
            var index = Math.Floor((double)timeMs / size);
            if (state.Window.Count > 0 && index < state.Index)
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

        if (state.Monitor.WindowCount is { } count && state.Window.Count >= count)
        {
            Close(baseline, state, state.FirstMs, state.LastMs, closed);
        }
    }

    private void Close(ModelBaseline baseline, ColumnState state, long startMs, long endMs, List<DriftEvaluation> closed)
    {
        var evaluation = DriftEvaluation.Of(baseline, state.Monitor, state.Baseline, state.Window, startMs, endMs, _options.UseLearnedThresholds) with { Version = state.Version };
        state.Window.Reset();
        state.LastMs = long.MinValue;
        closed.Add(evaluation);
        _metrics.Window();
        MonitorLog.Evaluated(_logger, evaluation.Model, evaluation.Version, evaluation.Column, evaluation.Count, evaluation.Drifted ? "DRIFTED" : "ok",
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

    private void DeadLetter(IProducer<byte[]?, byte[]?> producer, ConsumeResult<byte[]?, byte[]?> result, ModelDefinition model, Rejection rejection)
    {
        _metrics.DeadLetter(rejection.Reason);
        var headers = new Headers
        {
            { "fs-reason", Encoding.UTF8.GetBytes(rejection.Reason) },
            { "fs-detail", Encoding.UTF8.GetBytes(rejection.Detail) },
            { "fs-source-topic", Encoding.UTF8.GetBytes(result.Topic) },
            { "fs-source-partition", Encoding.UTF8.GetBytes(result.Partition.Value.ToString(CultureInfo.InvariantCulture)) },
            { "fs-source-offset", Encoding.UTF8.GetBytes(result.Offset.Value.ToString(CultureInfo.InvariantCulture)) },
        };
        if (rejection.Field is not null)
        {
            headers.Add("fs-field", Encoding.UTF8.GetBytes(rejection.Field));
        }

        producer.Produce(model.Prediction.DeadLetterTopic, new Message<byte[]?, byte[]?> { Key = result.Message.Key, Value = result.Message.Value, Headers = headers });
    }

    private sealed class ColumnState(MonitorDefinition monitor, ColumnBaseline baseline, DriftWindow window, string baselineId, string version)
    {
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
