namespace FeatureStore.Host;

/// <summary>
/// What a program that embeds the host (the demo) sets beside its <see cref="HostSettings"/>: values a
/// configuration file does not hold. Each left null keeps the host's behaviour under <c>featurestore run</c>.
/// </summary>
public sealed class HostExtensions
{
    /// <summary>Where the monitor reads an alert webhook's secret by its <c>secret_env</c> name; null: the environment.</summary>
    public Func<string, string?>? WebhookSecrets { get; init; }

    /// <summary>How often the monitor looks for alerts to deliver; null: the monitor's default.</summary>
    public TimeSpan? AlertPollInterval { get; init; }

    /// <summary>
    /// Partitions of particular topics of the embedded Kafka cluster (a topic that must keep one order, such as
    /// predictions read in time order, gets one); the others get <see cref="KafkaSettings.EmbeddedPartitions"/>.
    /// </summary>
    public IReadOnlyDictionary<string, int> EmbeddedTopicPartitions { get; init; } = new Dictionary<string, int>(StringComparer.Ordinal);
}
