namespace FeatureStore.Monitor.Job;

/// <summary>Settings of the monitor job; the defaults suit production.</summary>
public sealed class MonitorOptions
{
    /// <summary>Kafka bootstrap servers.</summary>
    public required string BootstrapServers { get; init; }

    /// <summary>Consumer group of the monitor.</summary>
    public string GroupId { get; init; } = "featurestore-monitor";

    /// <summary>Kafka session timeout.</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Predictions read ahead of evaluation at most (backpressure on the consumer).</summary>
    public int ChannelCapacity { get; init; } = 10_000;

    /// <summary>Use thresholds learned from the training data for methods the monitor gives none.</summary>
    public bool UseLearnedThresholds { get; init; }

    /// <summary>Base of the drift-history link in alerts; <c>?model=…&amp;version=…&amp;column=…</c> is appended.</summary>
    public string HistoryUrl { get; init; } = "http://localhost:6567/v1/drift/history";

    /// <summary>The link in freshness and quality alerts: the serving host's quality answer (docs/quality.md).</summary>
    public string QualityUrl { get; init; } = "http://localhost:6567/v1/quality";

    /// <summary>
    /// Also keep the whole history as Parquet under this folder (the online store keeps the newest 10 000
    /// windows per version); null: online store only.
    /// </summary>
    public string? HistoryDirectory { get; init; }

    /// <summary>How often the outbox is polled for due alerts when nothing new was raised.</summary>
    public TimeSpan OutboxPollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Delay before the first redelivery of an alert whose webhook failed; doubles each time.</summary>
    public TimeSpan RedeliveryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest delay between redeliveries.</summary>
    public TimeSpan MaxRedeliveryDelay { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Delay before the second quick attempt within one delivery (then doubled once).</summary>
    public TimeSpan WebhookRetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Reads a webhook's secret from the environment variable it names.</summary>
    public Func<string, string?> Secrets { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>The clock of cooldowns and redeliveries.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// Consecutive drifted windows of one column of a model version that make its drift persistent and fire
    /// one retraining request (see <see cref="Core.Models.RetrainTracker"/>); 0 turns the trigger off.
    /// </summary>
    public int RetrainAfterWindows { get; init; }

    /// <summary>The webhook (by name, from the repository's <c>alerts</c>) retraining requests are POSTed to.</summary>
    public string? RetrainWebhook { get; init; }

    /// <summary>How often freshness objectives and data-quality thresholds are evaluated (docs/quality.md).</summary>
    public TimeSpan QualityInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the model registry is read besides its change notifications.</summary>
    public TimeSpan ModelStagePollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Stage timings of the jobs' batches (a profiling aid of the bench; null: not timed).</summary>
    internal StageTimings? Stages { get; init; }
}
