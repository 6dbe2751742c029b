using System.Text.Json;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Kafka.DeadLetters;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Job;

/// <summary>
/// The monitor job (DESIGN.md §7): consumes the models' prediction topics, keeps one tumbling window per
/// model version and monitored column (by event time or by count; memory bounded by the baseline, not by
/// the window), and for a monitor with <c>segment_by</c> one per segment value too (at most <c>segments</c>
/// values, the rest in <c>other</c>), evaluates each window as it closes, appends it to the drift history, opens and resolves
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
/// <remarks>
/// The job wires small parts: <see cref="PredictionIntake"/> (the consumer), <see cref="BaselineCache"/>,
/// <see cref="ColumnWindows"/> (the open windows and the commit bounds), <see cref="IncidentTracker"/> and
/// <see cref="RetrainTrigger"/> (alerts), <see cref="WindowPersistence"/> (the exactly-once write) and
/// <see cref="AlertDispatcher"/> (webhook delivery).
/// </remarks>
public sealed class MonitorJob
{
    private readonly FeatureRepository _repository;
    private readonly Dictionary<string, PredictionPayload?> _payloads = new(StringComparer.Ordinal);
    private readonly IDatabase _database;
    private readonly MonitorOptions _options;
    private readonly MonitorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly DriftStore _store;
    private readonly AlertOutbox _outbox;
    private readonly AlertStateStore _alertStates;
    private readonly ModelStageCache _stages;
    private readonly BaselineCache _baselines;
    private readonly ColumnWindows _windows;
    private readonly WindowPersistence _persistence;
    private readonly IncidentTracker _incidents;
    private readonly RetrainTrigger? _retrain;
    private readonly DriftDegradation _degradation;
    private readonly AlertDispatcher _dispatcher;
    private long _parseTicks;

    /// <summary>A job over every model of <paramref name="repository"/> that has monitors.</summary>
    public MonitorJob(FeatureRepository repository, IDatabase database, string keyPrefix, MonitorOptions options, MonitorMetrics metrics, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(repository);
        _repository = repository;
        _database = database;
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _store = new DriftStore(database, keyPrefix, repository.Project);
        _outbox = new AlertOutbox(database, _store.Keys);
        _alertStates = new AlertStateStore(database, _store.Keys);
        var registry = new ModelRegistryStore(database, keyPrefix, repository.Project);
        _stages = new ModelStageCache(registry, options.ModelStagePollInterval);
        _baselines = new BaselineCache(_store, _stages, options, logger);
        _persistence = new WindowPersistence(_store, _outbox, _alertStates, options, logger);
        _windows = new ColumnWindows(_persistence, options, metrics, logger);
        _incidents = new IncidentTracker(repository, options);
        _retrain = options.RetrainAfterWindows > 0 ? new RetrainTrigger(options, logger) : null;
        _degradation = new DriftDegradation(repository, database, _store.Keys, _outbox, registry, _stages, options, logger);
        _dispatcher = new AlertDispatcher(repository, _outbox, options, metrics, logger);
    }

    /// <summary>The drift history and baselines this job writes.</summary>
    public DriftStore Store => _store;

    /// <summary>The outbox of alerts not yet delivered.</summary>
    public AlertOutbox Outbox => _outbox;

    /// <summary>The production version of <paramref name="model"/> as this job last read the model registry.</summary>
    public string? ProductionVersion(string model) => _stages.Production(model);

    /// <summary>Bytes held by the open windows (the job's memory per monitored column is this over their number).</summary>
    public long WindowMemoryBytes => _windows.MemoryBytes;

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled, then stops cleanly.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var models = _repository.Models.Where(m => m.Monitors.Count > 0).ToList();
        var byTopic = models.GroupBy(m => m.Prediction.Topic).ToDictionary(g => g.Key, g => (IReadOnlyList<ModelDefinition>)[.. g]);
        foreach (var (topic, topicModels) in byTopic)
        {
            _payloads[topic] = PredictionPayload.For(_repository, topicModels);
        }


        // Keys an earlier version wrote without the hash tag move first, so the baselines, history, incidents and
        // undelivered alerts it left are read below and written on.
        var upgrade = await _store.UpgradeLayoutAsync(cancellationToken).ConfigureAwait(false);
        if (upgrade.Moved.Count > 0)
        {
            MonitorLog.LayoutUpgraded(_logger, _repository.Project, upgrade.Moved.Count, _store.Keys.Base);
        }

        foreach (var untagged in upgrade.Kept)
        {
            MonitorLog.LayoutKept(_logger, untagged, _store.Keys.Tagged(untagged).ToString());
        }

        var baselines = await _baselines.LoadAsync(models).ConfigureAwait(false);
        _incidents.Restore(await _alertStates.LoadIncidentsAsync().ConfigureAwait(false));
        if (_retrain is not null)
        {
            await _alertStates.LoadRetrainStatesAsync(_retrain.Tracker).ConfigureAwait(false);
        }

        await _degradation.LoadAsync().ConfigureAwait(false);

        await _stages.RefreshAsync().ConfigureAwait(false);
        MonitorLog.Started(_logger, string.Join(", ", byTopic.Keys), baselines);
        if (byTopic.Count == 0)
        {
            return;
        }

        using var intake = new PredictionIntake(_options, _logger);
        using var deadLetters = new DeadLetterProducer(_options.BootstrapServers, clientId: "featurestore-monitor-dlq");
        using var sender = new WebhookSender(firstRetryDelay: _options.WebhookRetryDelay);
        intake.Subscribe(byTopic.Keys);

        using var stopDispatch = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var consume = Task.Run(() => intake.ConsumeAsync(cancellationToken), CancellationToken.None);
        var dispatch = Task.Run(() => _dispatcher.RunAsync(sender, stopDispatch.Token), CancellationToken.None);
        var follow = Task.Run(() => _stages.FollowAsync(_database.Multiplexer.GetSubscriber(), ex => MonitorLog.StoreError(_logger, ex), stopDispatch.Token), CancellationToken.None);
        try
        {
            await EvaluateAsync(intake, byTopic, deadLetters, cancellationToken).ConfigureAwait(false);
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

            intake.Close();
        }
    }

    private async Task EvaluateAsync(
        PredictionIntake intake,
        Dictionary<string, IReadOnlyList<ModelDefinition>> byTopic,
        DeadLetterProducer deadLetters,
        CancellationToken cancellationToken)
    {
        var reader = intake.Reader;
        var closed = new List<DriftEvaluation>();
        var alerts = new List<DriftAlert>();
        var batch = new List<ConsumeResult<byte[]?, byte[]?>>();
        intake.Evaluating(true);
        try
        {
            var stages = _options.Stages;
            var at = stages is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                at = stages?.Add("wait", at) ?? 0;
                batch.Clear();
                while (batch.Count < 5000 && reader.TryRead(out var item))
                {
                    if (!PredictionIntake.IsWake(item))
                    {
                        batch.Add(item);
                    }
                }

                at = stages?.Add("take", at) ?? 0;
                foreach (var result in batch)
                {
                    if (intake.RevokeRequested)
                    {
                        break; // the rest belong to partitions being given up: their next owner reads them
                    }

                    await ProcessAsync(result, byTopic[result.Topic], deadLetters, closed, cancellationToken).ConfigureAwait(false);
                }

                if (stages is not null)
                {
                    stages.AddTicks("parse", _parseTicks, batch.Count);
                    stages.AddTicks("windows", System.Diagnostics.Stopwatch.GetTimestamp() - at - _parseTicks, batch.Count);
                    _parseTicks = 0;
                    at = System.Diagnostics.Stopwatch.GetTimestamp();
                }

                if (closed.Count > 0)
                {
                    foreach (var evaluation in closed)
                    {
                        _incidents.Observe(evaluation, alerts);
                        _retrain?.Observe(evaluation, alerts);
                    }

                    _windows.SnapshotRouting();
                    await _persistence.PersistAsync(closed, _windows.ClosedOffsets, alerts, _incidents.Touched(closed), _retrain?.Touched(closed), cancellationToken).ConfigureAwait(false);
                    await _degradation.ApplyAsync(closed).ConfigureAwait(false);
                    for (var i = 0; i < alerts.Count; i++)
                    {
                        _metrics.Raised();
                    }

                    if (alerts.Count > 0)
                    {
                        _dispatcher.AlertsRaised();
                    }

                    _windows.ClosedOffsets.Clear();
                    closed.Clear();
                    alerts.Clear();
                    at = stages?.Add("persist", at) ?? 0;
                }

                intake.StoreOffsets(_windows.CommitBounds());
                at = stages?.Add("offsets", at) ?? 0;
                if (intake.TakeRevoke() is { } revoke)
                {
                    var dropped = _windows.Drop();
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
            intake.Evaluating(false);
        }
    }

    private async Task ProcessAsync(ConsumeResult<byte[]?, byte[]?> result, IReadOnlyList<ModelDefinition> models, DeadLetterProducer deadLetters, List<DriftEvaluation> closed, CancellationToken cancellationToken)
    {
        var partition = new PartitionKey(result.Topic, result.Partition.Value);
        var offset = result.Offset.Value;
        if (!_windows.Read(partition, offset))
        {
            _metrics.Skip("redelivered");
            return;
        }

        _metrics.Prediction();
        var parsing = _options.Stages is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
        JsonDocument document;
        try
        {
            var message = result.Message.Value ?? [];
            if (_payloads.GetValueOrDefault(result.Topic) is { } binary)
            {
                if (binary.ToJson(message, out var unreadable) is not { } json)
                {
                    DeadLetter(deadLetters, result, models[0], unreadable!);
                    return;
                }

                message = json;
            }

            document = PredictionReader.Parse(message);
        }
        catch (JsonException ex)
        {
            DeadLetter(deadLetters, result, models[0], new Rejection("malformed_json", null, ex.Message));
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            var rejection = PredictionReader.Read(root, models, out var model, out var version, out var timeMs, _stages);
            if (parsing != 0)
            {
                _parseTicks += System.Diagnostics.Stopwatch.GetTimestamp() - parsing;
            }

            if (rejection is not null)
            {
                DeadLetter(deadLetters, result, models[0], rejection);
                return;
            }

            if (await _baselines.EffectiveAsync(model!.Name, version!).ConfigureAwait(false) is not { } baseline)
            {
                _metrics.Skip("no_baseline");
                return;
            }

            await _windows.AddAsync(model, version!, baseline, root, timeMs, partition, offset, closed, cancellationToken).ConfigureAwait(false);
        }
    }

    private void DeadLetter(DeadLetterProducer producer, ConsumeResult<byte[]?, byte[]?> result, ModelDefinition model, Rejection rejection)
    {
        _metrics.DeadLetter(rejection.Reason);
        producer.Send(model.Prediction.DeadLetterTopic, result, rejection.Reason, rejection.Field, rejection.Detail);
    }
}
