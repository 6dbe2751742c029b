using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Kafka.DeadLetters;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Performance;

/// <summary>
/// The performance job (DESIGN.md §7, "Model quality"; docs/performance.md, "The label join"): for the models that
/// declare <c>labels</c> and performance monitors, consumes their prediction and label topics (consumer group
/// <c>GROUP.performance</c>, apart from the drift monitor's), joins each label to its logged prediction exactly once
/// within the horizon, keeps per (model, version, monitor, segment) windows of prediction time in the online store,
/// and evaluates each as it closes: realized metrics, the confidence-based estimate, thresholds, history, alerts.
/// <para>
/// Exactly once without Kafka's commits deciding it: each batch of at most 5 000 records goes to the store as ONE
/// Lua script per model (<see cref="JoinScript"/>) that applies every record and the next offset of each partition;
/// a record below the stored offset is skipped inside the script. A partition starts at the stored offset. A
/// window's evaluation is ONE transaction conditioned on the window still being <c>closing</c>.
/// </para>
/// Predictions without the id go to the prediction's dead-letter topic (<c>missing_id</c>), as do ones without a
/// monitor's score (<c>missing_field</c>, <c>wrong_type</c>); malformed ones only when no drift monitor reads the
/// topic (otherwise the drift monitor dead-letters them already). Malformed labels go to the labels' dead-letter topic.
/// </summary>
public sealed class PerformanceJob
{
    /// <summary>Most records applied in one script.</summary>
    public const int BatchSize = JoinScript.MaxBatch;

    /// <summary>A prediction's segment when it lacks the <c>segment_by</c> field.</summary>
    public const string MissingSegment = "(missing)";

    private readonly FeatureRepository _repository;
    private readonly IDatabase _database;
    private readonly MonitorOptions _options;
    private readonly MonitorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly DriftKeys _keys;
    private readonly ModelStageCache _stages;
    private readonly PerformanceIncidents _incidents;
    private readonly WindowEvaluator _evaluator;
    private readonly AlertDispatcher _dispatcher;

    /// <summary>A job over every model of <paramref name="repository"/> with labels and performance monitors.</summary>
    public PerformanceJob(FeatureRepository repository, IDatabase database, string keyPrefix, MonitorOptions options, MonitorMetrics metrics, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(repository);
        _repository = repository;
        _database = database ?? throw new ArgumentNullException(nameof(database));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _keys = new DriftKeys(keyPrefix, repository.Project);
        Store = new PerformanceStore(database, _keys);
        Outbox = new AlertOutbox(database, OutboxKey(_keys));
        var registry = new ModelRegistryStore(database, keyPrefix, repository.Project);
        _stages = new ModelStageCache(registry, options.ModelStagePollInterval);
        _incidents = new PerformanceIncidents(repository, _keys, options);
        var policy = new DegradationPolicy(repository, registry, _stages, options, logger);
        _evaluator = new WindowEvaluator(Store, Outbox, _incidents, _stages, policy, options, metrics, logger);
        _dispatcher = new AlertDispatcher(repository, Outbox, options, metrics, logger);
        _evaluator.AlertsRaised += _dispatcher.AlertsRaised;
    }

    /// <summary>The consumer group of the performance job beside the drift monitor's <paramref name="monitorGroup"/>.</summary>
    public static string GroupOf(string monitorGroup) => monitorGroup + ".performance";

    /// <summary>The performance alerts' outbox (<c>PREFIX:{PROJECT}:drift:outbox:performance</c>, apart from drift's, each job delivering its own).</summary>
    public static RedisKey OutboxKey(DriftKeys keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return keys.Outbox.Append(":performance");
    }

    /// <summary>The models this job joins labels for.</summary>
    public static IReadOnlyList<ModelDefinition> Models(FeatureRepository repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        return [.. repository.Models.Where(m => m.Labels is not null && m.PerformanceMonitors.Count > 0)];
    }

    /// <summary>The references, history and label counters this job writes.</summary>
    public PerformanceStore Store { get; }

    /// <summary>The outbox of performance alerts not yet delivered.</summary>
    public AlertOutbox Outbox { get; }

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled, then stops cleanly.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var joins = new List<ModelJoin>();
        foreach (var model in Models(_repository))
        {
            if (model.Prediction.IdField is null)
            {
                PerformanceLog.NoIdField(_logger, model.Name);
                continue;
            }

            var settings = JoinSettings.Of(model.Prediction.Topic, model.Labels!, model.PerformanceMonitors);
            joins.Add(new ModelJoin(model, new JoinScript(_keys.Join(model.Name), _keys.Labels(model.Name), settings), new JoinScript(_keys.Join(model.Name), _keys.Labels(model.Name), settings)));
        }

        if (joins.Count == 0)
        {
            return;
        }

        var predictionTopics = joins.GroupBy(j => j.Model.Prediction.Topic).ToDictionary(g => g.Key, g => g.ToList());
        var labelTopics = joins.GroupBy(j => j.Model.Labels!.Topic).ToDictionary(g => g.Key, g => g.ToList());
        var topics = predictionTopics.Keys.Concat(labelTopics.Keys).Distinct().ToList();
        PerformanceLog.Started(_logger, string.Join(", ", joins.Select(j => j.Model.Name)), string.Join(", ", topics));

        await _stages.RefreshAsync().ConfigureAwait(false);
        await _incidents.LoadAsync(_database).ConfigureAwait(false);

        // Windows a previous run marked closing and did not get to write: evaluated now, from their frozen data.
        foreach (var join in joins)
        {
            await _evaluator.EvaluateClosingAsync(join.Model, cancellationToken).ConfigureAwait(false);
        }

        using var intake = new JoinIntake(_options, GroupOf(_options.GroupId), tp => Stored(tp, predictionTopics, labelTopics), _logger);
        using var deadLetters = new DeadLetterProducer(_options.BootstrapServers, clientId: "featurestore-performance-dlq");
        using var sender = new WebhookSender(firstRetryDelay: _options.WebhookRetryDelay);
        intake.Subscribe(topics);
        var ends = intake.QueryEnds(topics);

        using var stopBackground = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var consume = Task.Run(() => intake.ConsumeAsync(cancellationToken), CancellationToken.None);
        var dispatch = Task.Run(() => _dispatcher.RunAsync(sender, stopBackground.Token), CancellationToken.None);
        var follow = Task.Run(() => _stages.FollowAsync(_database.Multiplexer.GetSubscriber(), ex => MonitorLog.StoreError(_logger, ex), stopBackground.Token), CancellationToken.None);
        try
        {
            await JoinAsync(intake, joins, predictionTopics, labelTopics, ends, deadLetters, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopping: what was not applied is read again from the stored offsets
        }
        finally
        {
            await consume.ConfigureAwait(false);
            await stopBackground.CancelAsync().ConfigureAwait(false);
            await dispatch.ConfigureAwait(false);
            await follow.ConfigureAwait(false);
            try
            {
                deadLetters.Flush(TimeSpan.FromSeconds(10));
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
                MonitorLog.StoreError(_logger, ex);
            }

            intake.Close();
        }
    }

    // Where an assigned partition starts: the smallest next offset the models reading it stored, or null (Kafka's
    // committed offset) when one of them stored none.
    private long? Stored(TopicPartition tp, Dictionary<string, List<ModelJoin>> predictionTopics, Dictionary<string, List<ModelJoin>> labelTopics)
    {
        var joins = (predictionTopics.GetValueOrDefault(tp.Topic) ?? []).Concat(labelTopics.GetValueOrDefault(tp.Topic) ?? []);
        long? start = null;
        foreach (var join in joins)
        {
            var stored = _database.HashGet(_keys.Join(join.Model.Name) + ":offsets", PartitionField(tp.Topic, tp.Partition.Value));
            if (stored.IsNull)
            {
                return null;
            }

            start = Math.Min(start ?? long.MaxValue, (long)stored);
        }

        return start;
    }

    private static string PartitionField(string topic, int partition) => $"{topic}:{partition}";

    private async Task JoinAsync(
        JoinIntake intake,
        List<ModelJoin> joins,
        Dictionary<string, List<ModelJoin>> predictionTopics,
        Dictionary<string, List<ModelJoin>> labelTopics,
        Dictionary<TopicPartition, long> startEnds,
        DeadLetterProducer deadLetters,
        CancellationToken cancellationToken)
    {
        var reader = intake.Reader;

        // The end offsets asked of the brokers at the start go with each model's first batch, so a partition no member
        // has read yet holds the watermarks back from the start; then each batch tells the ends the consumer saw last.
        var unsent = joins.ToDictionary(j => j, _ => true);
        var driftTopics = _repository.Models.Where(m => m.Monitors.Count > 0).Select(m => m.Prediction.Topic).ToHashSet(StringComparer.Ordinal);
        var readers = predictionTopics.ToDictionary(
            kv => kv.Key,
            kv => (IReadOnlyList<ModelDefinition>)[.. _repository.Models.Where(m => m.Prediction.Topic == kv.Key).Select(m => m with { Monitors = [] })]);

        // Each batch is read and parsed into one script per model while the previous batch's scripts run: two scripts
        // per model take turns, and the store still applies the batches one after the other, in order. The windows a
        // script closes are evaluated by a task of their own, off this path: an evaluation reads only frozen windows
        // and is one conditioned transaction, so the next batch's script need not wait for it.
        var evaluations = new ClosingWindows([.. joins.Select(j => j.Model)]);
        var evaluating = Task.Run(() => EvaluateLoopAsync(evaluations, cancellationToken), CancellationToken.None);
        Task? applying = null;
        var stages = _options.Stages;
        var at = stages is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (evaluating.IsCompleted)
                {
                    // It only ends by failing (or on cancellation): the failure ends the job as it would have inline.
                    await evaluating.ConfigureAwait(false);
                }

                at = stages?.Add("wait", at) ?? 0;
                foreach (var join in joins)
                {
                    join.Script.Clear();
                }

                var next = new Dictionary<TopicPartition, long>();
                var count = 0;
                while (count < BatchSize && reader.TryRead(out var result))
                {
                    count++;
                    next[result.TopicPartition] = result.Offset.Value + 1;
                    if (predictionTopics.TryGetValue(result.Topic, out var predicted))
                    {
                        ReadPrediction(result, predicted, readers[result.Topic], driftTopics.Contains(result.Topic), deadLetters);
                    }

                    if (labelTopics.TryGetValue(result.Topic, out var labelled))
                    {
                        foreach (var join in labelled)
                        {
                            ReadLabel(result, join, deadLetters);
                        }
                    }
                }

                at = stages?.Add("parse", at) ?? 0;
                if (applying is not null)
                {
                    await applying.ConfigureAwait(false);
                }

                at = stages?.Add("wait for the previous batch", at) ?? 0;
                var batch = joins.Where(j => j.Script.Count > 0).Select(j => (j, j.Script)).ToList();
                applying = ApplyAsync(batch, next, intake, unsent, startEnds, evaluations, cancellationToken);
                foreach (var join in joins)
                {
                    join.Swap();
                }
            }
        }
        finally
        {
            if (applying is not null)
            {
                try
                {
                    await applying.ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // stopping: what was not applied is read again from the stored offsets
                }
            }

            // The windows closed so far are evaluated before the job ends (cancelled, what is left waits in closing
            // for the next start).
            evaluations.Complete();
            try
            {
                await evaluating.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // stopping: a window not evaluated stays closing and the next start evaluates it
            }
        }
    }

    // Evaluates the windows of each model whose script closed some, one model after the other, until the job ends.
    private async Task EvaluateLoopAsync(ClosingWindows closing, CancellationToken cancellationToken)
    {
        var stages = _options.Stages;
        while (await closing.WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            var at = stages is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
            var any = false;
            while (closing.Take() is { } model)
            {
                await _evaluator.EvaluateClosingAsync(model, cancellationToken).ConfigureAwait(false);
                any = true;
            }

            if (any)
            {
                stages?.Add("evaluate", at);
            }
        }
    }

    // Runs one batch's scripts (one per model, in turn), stores the offsets they applied as Kafka's hint, and
    // evaluates the windows they closed.
    private async Task ApplyAsync(
        List<(ModelJoin Join, JoinScript Script)> batch,
        Dictionary<TopicPartition, long> next,
        JoinIntake intake,
        Dictionary<ModelJoin, bool> unsent,
        Dictionary<TopicPartition, long> startEnds,
        ClosingWindows evaluations,
        CancellationToken cancellationToken)
    {
        var stages = _options.Stages;
        var at = stages is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
        var assigned = intake.Assignment();
        foreach (var (join, script) in batch)
        {
            TellEnds(join.Model, script, unsent[join] ? startEnds : null, next.Keys.Concat(assigned), intake);
            if ((await RunAsync(script, cancellationToken).ConfigureAwait(false)).Closing > 0)
            {
                evaluations.Add(join.Model);
            }

            unsent[join] = false;
        }

        stages?.Add("script", at);
        intake.StoreOffsets(next);
    }

    private static void TellEnds(ModelDefinition model, JoinScript script, Dictionary<TopicPartition, long>? startEnds, IEnumerable<TopicPartition> partitions, JoinIntake intake)
    {
        var predictions = model.Prediction.Topic;
        var labels = model.Labels!.Topic;
        foreach (var (tp, end) in startEnds ?? [])
        {
            if (tp.Topic == predictions || tp.Topic == labels)
            {
                script.End(PartitionField(tp.Topic, tp.Partition.Value), end);
            }
        }

        foreach (var tp in partitions)
        {
            if ((tp.Topic == predictions || tp.Topic == labels) && intake.LastEnd(tp) is { } end)
            {
                script.End(PartitionField(tp.Topic, tp.Partition.Value), end);
            }
        }
    }

    private async Task<(long Closing, long Applied)> RunAsync(JoinScript script, CancellationToken cancellationToken)
    {
        // The script is atomic and skips what it applied: running it again after an error is safe.
        for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
        {
            try
            {
                return await script.RunAsync(_database).ConfigureAwait(false);
            }
            catch (RedisException ex)
            {
                MonitorLog.StoreError(_logger, ex);
                await Task.Delay(delay, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private void ReadPrediction(ConsumeResult<byte[]?, byte[]?> result, List<ModelJoin> joins, IReadOnlyList<ModelDefinition> topicModels, bool driftReads, DeadLetterProducer deadLetters)
    {
        var partition = PartitionField(result.Topic, result.Partition.Value);
        var offset = result.Offset.Value;
        _metrics.Prediction();
        ModelJoin? target = null;
        string? id = null;
        string? version = null;
        long timeMs = 0;
        byte[]? payload = null;
        var message = result.Message.Value ?? [];
        Rejection? unreadable = null;
        if (PayloadOf(result.Topic, topicModels) is { } binary && binary.ToJson(message, out unreadable) is { } json)
        {
            message = json;
        }

        try
        {
            if (unreadable is not null)
            {
                throw new UnreadablePrediction(unreadable);
            }

            using var document = PredictionReader.Parse(message);
            var root = document.RootElement;
            if (PredictionReader.Read(root, topicModels, out var model, out version, out timeMs, _stages) is { } rejection)
            {
                if (!driftReads)
                {
                    DeadLetter(deadLetters, joins[0].Model.Prediction.DeadLetterTopic, result, rejection.Reason, rejection.Field, rejection.Detail);
                }
            }
            else if ((target = joins.FirstOrDefault(j => j.Model.Name == model!.Name)) is not null)
            {
                (id, payload) = ReadJoined(root, target.Model, out var rejected);
                if (rejected is not null)
                {
                    DeadLetter(deadLetters, target.Model.Prediction.DeadLetterTopic, result, rejected.Reason, rejected.Field, rejected.Detail);
                    target = null;
                }
            }
        }
        catch (JsonException ex)
        {
            if (!driftReads)
            {
                var (reason, field) = ex is UnreadablePrediction bad ? (bad.Rejection.Reason, bad.Rejection.Field) : ("malformed_json", null);
                DeadLetter(deadLetters, joins[0].Model.Prediction.DeadLetterTopic, result, reason, field, ex.Message);
            }
        }

        foreach (var join in joins)
        {
            if (ReferenceEquals(join, target))
            {
                join.Script.Prediction(partition, offset, id!, timeMs, version!, payload!);
            }
            else
            {
                join.Script.Skip(partition, offset);
            }
        }
    }

    // An Avro or Protobuf prediction's transcoder, per topic (null for JSON).
    private PredictionPayload? PayloadOf(string topic, IReadOnlyList<ModelDefinition> topicModels)
    {
        if (!_payloads.TryGetValue(topic, out var found))
        {
            found = PredictionPayload.For(_repository, topicModels);
            _payloads[topic] = found;
        }

        return found;
    }

    private readonly Dictionary<string, PredictionPayload?> _payloads = new(StringComparer.Ordinal);

    // A binary prediction its decoder cannot read, dead-lettered as a malformed JSON one is, with its own reason.
    private sealed class UnreadablePrediction(Rejection rejection) : JsonException(rejection.Detail)
    {
        public Rejection Rejection { get; } = rejection;
    }

    // The prediction's id, and per monitor its score and segment, or why it cannot be joined.
    private static (string? Id, byte[]? Payload) ReadJoined(JsonElement root, ModelDefinition model, out Rejection? rejection)
    {
        var idField = model.Prediction.IdField!;
        if (!root.TryGetProperty(idField, out var idElement) || idElement.ValueKind is JsonValueKind.Null or JsonValueKind.Object or JsonValueKind.Array
            || PredictionReader.AsText(idElement) is not { Length: > 0 } id)
        {
            rejection = new Rejection("missing_id", idField, "a prediction of a model with labels needs its id");
            return (null, null);
        }

        var monitors = model.PerformanceMonitors;
        var scores = new double[monitors.Count];
        var segments = new string?[monitors.Count];
        for (var i = 0; i < monitors.Count; i++)
        {
            var monitor = monitors[i];
            if (!root.TryGetProperty(monitor.ScoreField, out var score) || score.ValueKind == JsonValueKind.Null)
            {
                rejection = new Rejection("missing_field", monitor.ScoreField, "a performance monitor's score field is missing");
                return (null, null);
            }

            if (PredictionReader.AsNumber(score) is not { } value)
            {
                rejection = new Rejection("wrong_type", monitor.ScoreField, $"'{score.GetRawText()}' is not a number");
                return (null, null);
            }

            scores[i] = value;
            if (monitor.SegmentBy is { } segmentBy)
            {
                segments[i] = root.TryGetProperty(segmentBy, out var segment) && segment.ValueKind != JsonValueKind.Null
                    ? PredictionReader.AsText(segment).Replace('\n', ' ')
                    : MissingSegment;
            }
        }

        rejection = null;
        return (id, JoinScript.Payload(scores, segments));
    }

    private void ReadLabel(ConsumeResult<byte[]?, byte[]?> result, ModelJoin join, DeadLetterProducer deadLetters)
    {
        var partition = PartitionField(result.Topic, result.Partition.Value);
        var labels = join.Model.Labels!;
        Rejection? rejection;
        try
        {
            using var document = PredictionReader.Parse(result.Message.Value ?? []);
            rejection = ReadLabel(document.RootElement, labels, join.Model.PerformanceMonitors.Any(m => m.Task == PerformanceTask.BinaryClassification), result.Message.Timestamp.UnixTimestampMs, out var id, out var timeMs, out var value);
            if (rejection is null)
            {
                join.Script.Label(partition, result.Offset.Value, id!, timeMs, value!);
                return;
            }
        }
        catch (JsonException ex)
        {
            rejection = new Rejection("malformed_json", null, ex.Message);
        }

        DeadLetter(deadLetters, labels.DeadLetterTopic, result, rejection.Reason, rejection.Field, rejection.Detail);
        join.Script.Skip(partition, result.Offset.Value);
    }

    /// <summary>
    /// Reads one label event: its prediction id, when it became known and its value as the join takes it. A model
    /// with a classifier's monitor (<paramref name="classifier"/>) needs a bool or 0/1; a regressor's alone, a number.
    /// </summary>
    internal static Rejection? ReadLabel(JsonElement root, LabelsDefinition labels, bool classifier, long messageTimeMs, out string? id, out long timeMs, out byte[]? value)
    {
        id = null;
        value = null;
        timeMs = messageTimeMs;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return new Rejection("malformed_json", null, "a label is a JSON object");
        }

        if (!root.TryGetProperty(labels.IdField, out var idElement) || idElement.ValueKind is JsonValueKind.Null or JsonValueKind.Object or JsonValueKind.Array
            || PredictionReader.AsText(idElement) is not { Length: > 0 } text)
        {
            return new Rejection("missing_id", labels.IdField, "a label names the prediction it labels");
        }

        id = text;
        if (!root.TryGetProperty(labels.LabelField, out var label) || label.ValueKind == JsonValueKind.Null)
        {
            return new Rejection("missing_label", labels.LabelField, "no label value");
        }

        if (!classifier)
        {
            if (PredictionReader.AsNumber(label) is not { } target)
            {
                return new Rejection("wrong_type", labels.LabelField, $"'{label.GetRawText()}' is not a number");
            }

            value = JoinScript.LabelValue(target);
        }
        else
        {
            bool? positive = label.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Number when label.TryGetInt32(out var n) && n is 0 or 1 => n == 1,
                _ => null,
            };
            if (positive is not { } p)
            {
                return new Rejection("wrong_type", labels.LabelField, $"'{label.GetRawText()}' is neither a bool nor 0/1");
            }

            value = JoinScript.LabelValue(p ? 1 : 0);
        }

        if (labels.TimestampField is { } field)
        {
            if (!root.TryGetProperty(field, out var time) || time.ValueKind == JsonValueKind.Null)
            {
                return new Rejection("missing_timestamp", field, "no label time");
            }

            if (!(time.ValueKind == JsonValueKind.Number && time.TryGetInt64(out timeMs))
                && !(time.ValueKind == JsonValueKind.String && Rfc3339.TryParse(Encoding.UTF8.GetBytes(time.GetString()!), out timeMs)))
            {
                return new Rejection("invalid_timestamp", field, $"'{time.GetRawText()}' is neither RFC 3339 nor epoch milliseconds");
            }
        }

        return null;
    }

    private void DeadLetter(DeadLetterProducer producer, string topic, ConsumeResult<byte[]?, byte[]?> result, string reason, string? field, string? detail)
    {
        _metrics.DeadLetter(reason);
        producer.Send(topic, result, reason, field, detail);
    }

    // The models with windows waiting for evaluation, each at most once, and the signal that wakes the evaluating
    // task: a model added while its windows are being evaluated is taken again after.
    private sealed class ClosingWindows(ModelDefinition[] models)
    {
        private readonly ModelDefinition[] _models = models;
        private readonly int[] _waiting = new int[models.Length];
        private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

        public void Add(ModelDefinition model)
        {
            Volatile.Write(ref _waiting[Array.FindIndex(_models, m => m.Name == model.Name)], 1);
            _signal.Writer.TryWrite(true);
        }

        public void Complete() => _signal.Writer.TryComplete();

        // True when woken with models to take; false once completed and every model taken.
        public async ValueTask<bool> WaitAsync(CancellationToken cancellationToken)
        {
            if (await _signal.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                _signal.Reader.TryRead(out _);
                return true;
            }

            // Completed: whatever the last batches added is still taken.
            return Array.Exists(_waiting, w => w != 0);
        }

        public ModelDefinition? Take()
        {
            for (var i = 0; i < _models.Length; i++)
            {
                if (Interlocked.Exchange(ref _waiting[i], 0) != 0)
                {
                    return _models[i];
                }
            }

            return null;
        }
    }

    // A model's join: the script being filled with the batch read now, and the one the previous batch runs in.
    private sealed class ModelJoin(ModelDefinition model, JoinScript script, JoinScript spare)
    {
        public ModelDefinition Model { get; } = model;

        public JoinScript Script { get; private set; } = script;

        private JoinScript Spare { get; set; } = spare;

        public void Swap() => (Script, Spare) = (Spare, Script);
    }
}
