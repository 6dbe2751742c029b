using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Definitions;

/// <summary>A validated feature repository (DESIGN.md §3): everything one <c>featurestore.yaml</c> declares.</summary>
/// <param name="Project">The project name; it scopes every key in the online store.</param>
/// <param name="Settings">Job-wide settings.</param>
/// <param name="Entities">Entities and their join keys.</param>
/// <param name="Sources">Kafka sources of events.</param>
/// <param name="FeatureViews">Windowed features per entity and source.</param>
/// <param name="Models">Models, their versions' features, predictions and monitors.</param>
/// <param name="Webhooks">Alert endpoints.</param>
public sealed partial record FeatureRepository(
    string Project,
    RepositorySettings Settings,
    IReadOnlyList<EntityDefinition> Entities,
    IReadOnlyList<SourceDefinition> Sources,
    IReadOnlyList<FeatureViewDefinition> FeatureViews,
    IReadOnlyList<ModelDefinition> Models,
    IReadOnlyList<WebhookDefinition> Webhooks)
{
    /// <summary>The entity named <paramref name="name"/>, or null.</summary>
    public EntityDefinition? FindEntity(string name) => Entities.FirstOrDefault(e => e.Name == name);

    /// <summary>The source named <paramref name="name"/>, or null.</summary>
    public SourceDefinition? FindSource(string name) => Sources.FirstOrDefault(s => s.Name == name);

    /// <summary>The feature view named <paramref name="name"/>, or null.</summary>
    public FeatureViewDefinition? FindView(string name) => FeatureViews.FirstOrDefault(v => v.Name == name);

    /// <summary>The model named <paramref name="name"/>, or null.</summary>
    public ModelDefinition? FindModel(string name) => Models.FirstOrDefault(m => m.Name == name);

    /// <summary>Its request views (features computed at lookup from the request context), in declaration order.</summary>
    public IReadOnlyList<RequestViewDefinition> RequestViews { get; init; } = [];
}

/// <summary>Settings that apply to every source.</summary>
/// <param name="AllowedLatenessMs">How far behind its partition's watermark an event may arrive and still count.</param>
/// <param name="MaxFutureSkewMs">How far ahead of the processing time an event may be stamped.</param>
public sealed record RepositorySettings(long AllowedLatenessMs, long MaxFutureSkewMs)
{
    /// <summary>The Schema Registry of every <c>framing: confluent</c> source that names none of its own, or null.</summary>
    public SchemaRegistryDefinition? SchemaRegistry { get; init; }

    /// <summary>5 minutes each.</summary>
    public static RepositorySettings Default { get; } = new(5 * 60_000, 5 * 60_000);
}

/// <summary>Something features are about (a user, a merchant), identified by its join keys.</summary>
public sealed record EntityDefinition(string Name, IReadOnlyList<string> JoinKeys, string? Description);

/// <summary>A typed field of a source's events.</summary>
public sealed record FieldDefinition(string Name, FieldKind Kind);

/// <summary>A Kafka topic of JSON events.</summary>
/// <param name="Name">The source's name.</param>
/// <param name="Topic">The Kafka topic.</param>
/// <param name="DeadLetterTopic">Where rejected events go (default <c>TOPIC.dlq</c>).</param>
/// <param name="Format">Payload format; <c>json</c>.</param>
/// <param name="TimestampField">The property holding the event time.</param>
/// <param name="TimestampFormat">How the event time is written.</param>
/// <param name="Fields">Typed fields, in declaration order.</param>
/// <param name="History">The files of the source's past events that <c>featurestore run</c> imports before streaming, or null.</param>
/// <param name="Quality">Its dead-letter rate monitor, or null.</param>
/// <param name="Alert">The webhook its quality incidents alert, or null.</param>
/// <param name="Payload">The schema of an Avro or Protobuf source's payloads; null for JSON.</param>
public sealed record SourceDefinition(
    string Name,
    string Topic,
    string DeadLetterTopic,
    string Format,
    string TimestampField,
    TimestampFormat TimestampFormat,
    IReadOnlyList<FieldDefinition> Fields,
    SourceHistoryDefinition? History = null,
    SourceQualityDefinition? Quality = null,
    string? Alert = null,
    SourcePayloadSchema? Payload = null)
{
    /// <summary>The field named <paramref name="name"/>, or null.</summary>
    public FieldDefinition? FindField(string name) => Fields.FirstOrDefault(f => f.Name == name);
}

/// <summary>
/// The schema of an Avro or Protobuf source's payloads, written in the repository (<c>schema:</c>), so every process
/// that loads a repository version reads the same one.
/// </summary>
/// <param name="Text">The Avro schema JSON (a record) or the <c>.proto</c> text.</param>
/// <param name="Message">For Protobuf: the message of the events (its name or full name); null for the file's first.</param>
/// <param name="Framing">Whether each payload carries Confluent Schema Registry's header (magic byte, schema id), which is read past.</param>
/// <param name="Registry">
/// With <c>framing: confluent</c>, the Schema Registry each payload's writer schema is read from by its schema id (the
/// source's own <c>schema_registry</c>, else the settings'); null: the header is read past and <paramref name="Text"/> reads every payload.
/// </param>
public sealed record SourcePayloadSchema(string Text, string? Message, Events.Payloads.PayloadFraming Framing, SchemaRegistryDefinition? Registry = null);

/// <summary>
/// Where a Confluent Schema Registry answers (<c>schema_registry: { url, basic_auth_env }</c>), as Confluent's clients
/// take it: <c>schema.registry.url</c> and <c>basic.auth.user.info</c>, the latter read from an environment variable
/// so that no secret is written in the repository.
/// </summary>
/// <param name="Urls">The registry's base URLs (one, or several of one cluster, tried in turn).</param>
/// <param name="BasicAuthEnv">The environment variable holding <c>USER:PASSWORD</c> (or <c>API_KEY:API_SECRET</c>), or null.</param>
public sealed record SchemaRegistryDefinition(IReadOnlyList<string> Urls, string? BasicAuthEnv)
{
    /// <summary>One text per registry, for keying shared clients and comparing versions.</summary>
    public string Identity => string.Join(",", Urls) + (BasicAuthEnv is null ? "" : "|" + BasicAuthEnv);
}

/// <summary>
/// A source's history declared in the repository (<c>history: { path, format, cutover }</c>): what
/// <c>featurestore run</c> imports once, as <c>featurestore import</c> would, before its streaming jobs start.
/// </summary>
/// <param name="Path">A file, a folder (its files) or a file pattern (<c>*</c>, <c>?</c> in the last part), as written: relative to the repository file.</param>
/// <param name="Format"><c>jsonl</c>, <c>csv</c> or <c>parquet</c>; null for each file's extension.</param>
/// <param name="CutoverMs">The hand-over instant (epoch ms) as <c>import --cutover</c>; null for the newest imported event + 1 ms.</param>
public sealed record SourceHistoryDefinition(string Path, string? Format, long? CutoverMs)
{
    /// <summary>The formats a history file may have.</summary>
    public static IReadOnlyList<string> Formats { get; } = ["jsonl", "csv", "parquet"];
}

/// <summary>Features of one entity computed from one source, with a ttl.</summary>
/// <param name="Name">The view's name.</param>
/// <param name="Entity">Its entity.</param>
/// <param name="Source">Its source.</param>
/// <param name="TtlMs">How long an entity's state lives without a new event.</param>
/// <param name="Features">Its features.</param>
/// <param name="FreshnessMs">Its freshness objective: the most its newest applied event may lag behind now, or null.</param>
/// <param name="Quality">Its served-value quality monitor, or null.</param>
/// <param name="Alert">The webhook its freshness and quality incidents alert, or null.</param>
public sealed record FeatureViewDefinition(
    string Name,
    string Entity,
    string Source,
    long TtlMs,
    IReadOnlyList<FeatureDefinition> Features,
    long? FreshnessMs = null,
    ViewQualityDefinition? Quality = null,
    string? Alert = null)
{
    /// <summary>The feature named <paramref name="name"/>, or null.</summary>
    public FeatureDefinition? FindFeature(string name) => Features.FirstOrDefault(f => f.Name == name);
}

/// <summary>One windowed aggregate.</summary>
/// <param name="Name">The feature's name within its view.</param>
/// <param name="Aggregation">What it computes.</param>
/// <param name="Field">The aggregated field; null for <c>count</c>.</param>
/// <param name="Window">Window and hop (resolved: the default hop when none was written).</param>
/// <param name="Parameter">p of percentile, n of last_n and last_n_distinct, k of top_k; 0 for the others.</param>
public sealed record FeatureDefinition(string Name, AggregationKind Aggregation, string? Field, WindowSpec Window, double Parameter = 0);

/// <summary>A model: its versions' feature lists, its prediction topic, its monitors.</summary>
/// <param name="Name">The model's name.</param>
/// <param name="Prediction">Its prediction topic.</param>
/// <param name="Versions">Its declared versions.</param>
/// <param name="Monitors">Its drift monitors.</param>
/// <param name="Labels">Where its ground truth arrives, or null.</param>
/// <param name="Performance">Its performance monitors (they need <paramref name="Labels"/>); null or empty for none.</param>
/// <param name="Lifecycle">Its promotion gates and degradation policy, or null when it declares neither.</param>
public sealed record ModelDefinition(
    string Name,
    PredictionDefinition Prediction,
    IReadOnlyList<ModelVersionDefinition> Versions,
    IReadOnlyList<MonitorDefinition> Monitors,
    LabelsDefinition? Labels = null,
    IReadOnlyList<PerformanceMonitorDefinition>? Performance = null,
    ModelLifecycle? Lifecycle = null)
{
    /// <summary>The performance monitors, empty when none.</summary>
    public IReadOnlyList<PerformanceMonitorDefinition> PerformanceMonitors => Performance ?? [];

    /// <summary>The gates and degradation policy: none and alert only when not declared.</summary>
    public ModelLifecycle LifecycleOrDefault => Lifecycle ?? ModelLifecycle.None;
}

/// <summary>The prediction topic of a model: JSON events with model, version, time and typed fields.</summary>
/// <param name="Topic">The Kafka topic.</param>
/// <param name="DeadLetterTopic">Where malformed predictions go.</param>
/// <param name="TimestampField">The field holding the prediction time.</param>
/// <param name="Fields">Typed fields.</param>
/// <param name="IdField">The field holding the prediction's id, which labels name; null when the model has no labels.</param>
/// <param name="Format">Payload format: <c>json</c>, <c>avro</c> or <c>protobuf</c>, as a source's.</param>
/// <param name="Payload">The schema of Avro or Protobuf predictions; null for JSON.</param>
public sealed record PredictionDefinition(string Topic, string DeadLetterTopic, string TimestampField, IReadOnlyList<FieldDefinition> Fields, string? IdField = null,
    string Format = "json", SourcePayloadSchema? Payload = null);

/// <summary>One version of a model and the features it reads (<c>view:feature</c>).</summary>
public sealed record ModelVersionDefinition(string Version, IReadOnlyList<string> Features, string? Description);

/// <summary>A drift monitor on one column: a prediction field or a <c>view:feature</c>.</summary>
/// <param name="Column">The monitored column.</param>
/// <param name="Methods">Drift methods with optional thresholds (null: the method's default).</param>
/// <param name="WindowSizeMs">Tumbling window by time, or null.</param>
/// <param name="WindowCount">Tumbling window by count, or null.</param>
/// <param name="Bins">Quantile bins of the baseline.</param>
/// <param name="Alert">Webhook to alert, or null.</param>
/// <param name="MinSamples">Fewest values a window needs for a verdict; fewer is <c>insufficient_data</c> (default <see cref="Drift.DriftDefaults.MinSamples"/>, or a smaller count window's size).</param>
/// <param name="SegmentBy">A categorical prediction field: a window, history and alerts per value, or null.</param>
/// <param name="Segments">With <paramref name="SegmentBy"/>: the most frequent values kept apart; the rest are <c>other</c>.</param>
public sealed record MonitorDefinition(
    string Column,
    IReadOnlyList<MonitorMethod> Methods,
    long? WindowSizeMs,
    long? WindowCount,
    int Bins,
    string? Alert,
    int MinSamples = Drift.DriftDefaults.MinSamples,
    string? SegmentBy = null,
    int Segments = PerformanceMonitorDefinition.DefaultSegments)
{
    /// <summary>The <c>min_samples</c> of a monitor that writes none: the documented default, or its count window's size when smaller.</summary>
    public static int DefaultMinSamples(long? windowCount) => (int)Math.Min(Drift.DriftDefaults.MinSamples, windowCount ?? long.MaxValue);
}

/// <summary>A drift method and its threshold (null: the method's documented default).</summary>
/// <param name="Name">The method: psi, ks, js, wasserstein, chi2 or hellinger.</param>
/// <param name="Threshold">The threshold as written, or null.</param>
/// <param name="Learned">True for <c>threshold: learned</c>: the threshold learned from the training data (mean + 3σ over chunks).</param>
public sealed record MonitorMethod(string Name, double? Threshold, bool Learned = false);

/// <summary>An alert endpoint.</summary>
/// <param name="Name">Its name, referenced by monitors.</param>
/// <param name="Url">Where alerts are POSTed (http or https).</param>
/// <param name="SecretEnv">Environment variable holding the HMAC secret.</param>
/// <param name="CooldownMs">Least time between two alerts of one (model, column, method).</param>
public sealed record WebhookDefinition(string Name, string Url, string SecretEnv, long CooldownMs);

/// <summary>
/// Where a model's ground truth arrives (<c>labels:</c>): a topic of JSON events, each naming the prediction it
/// labels. The monitor joins each label to its logged prediction exactly once within <see cref="HorizonMs"/>.
/// </summary>
/// <param name="Topic">The labels' Kafka topic.</param>
/// <param name="DeadLetterTopic">Where malformed labels go (default <c>TOPIC.dlq</c>).</param>
/// <param name="IdField">The label's field holding the prediction id (the prediction's <see cref="PredictionDefinition.IdField"/>).</param>
/// <param name="LabelField">The label's field holding the truth: a bool or 0/1 for a classifier, a number for a regressor.</param>
/// <param name="TimestampField">The label's field holding when it became known, or null for the Kafka message timestamp.</param>
/// <param name="HorizonMs">How long after its prediction a label may arrive and still be joined; later ones are counted late.</param>
/// <param name="Coverage">The labelled share of a window's predictions at which it closes before its horizon has passed, or null.</param>
public sealed record LabelsDefinition(string Topic, string DeadLetterTopic, string IdField, string LabelField, string? TimestampField, long HorizonMs, double? Coverage);

/// <summary>What a performance monitor's model predicts.</summary>
public enum PerformanceTask
{
    /// <summary>A score in [0, 1] for the positive class; the label is a bool or 0/1.</summary>
    BinaryClassification,

    /// <summary>A number; the label is a number.</summary>
    Regression,
}

/// <summary>
/// A performance monitor (<c>performance:</c> under a model): realized metrics per window of prediction time once
/// the labels are joined, and for a classifier the confidence-based estimate before they arrive.
/// </summary>
/// <param name="Task">Binary classification or regression.</param>
/// <param name="ScoreField">The prediction field holding the score (classifier) or the predicted value (regressor).</param>
/// <param name="DecisionThreshold">A classifier's threshold: a score at or above it predicts the positive class (precision, recall, F1).</param>
/// <param name="WindowMs">Tumbling window by prediction time.</param>
/// <param name="Thresholds">Alert thresholds per metric.</param>
/// <param name="Estimate">True to estimate a classifier's performance before its labels arrive (needs a reference with scores and labels).</param>
/// <param name="SegmentBy">A categorical prediction field: windows, history and alerts per value, or null.</param>
/// <param name="Segments">With <paramref name="SegmentBy"/>: the most frequent values kept apart; the rest are <c>other</c>.</param>
/// <param name="MinSamples">Fewest labelled predictions a window needs for a verdict; fewer is <c>insufficient_data</c>.</param>
/// <param name="Alert">The webhook to alert, or null.</param>
public sealed record PerformanceMonitorDefinition(
    PerformanceTask Task,
    string ScoreField,
    double DecisionThreshold,
    long WindowMs,
    IReadOnlyList<MetricThreshold> Thresholds,
    bool Estimate,
    string? SegmentBy,
    int Segments,
    int MinSamples,
    string? Alert)
{
    /// <summary>Values of <c>segments</c> when none is written.</summary>
    public const int DefaultSegments = 10;

    /// <summary><c>min_samples</c> of a performance monitor when none is written.</summary>
    public const int DefaultMinSamples = 100;
}

/// <summary>
/// An alert threshold on one metric (<c>{ metric: roc_auc, min: 0.8 }</c>): absolute bounds, and/or the most the
/// metric may fall behind the model version's reference (validation) value in its bad direction.
/// </summary>
/// <param name="Metric">A metric name of <see cref="Performance.PerformanceMetrics"/>.</param>
/// <param name="Min">Alert below this value, or null.</param>
/// <param name="Max">Alert above this value, or null.</param>
/// <param name="MaxDrop">Alert when the metric is worse than the reference by more than this (in the metric's units), or null.</param>
public sealed record MetricThreshold(string Metric, double? Min, double? Max, double? MaxDrop);
