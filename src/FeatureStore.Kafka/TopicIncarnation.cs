using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace FeatureStore.Kafka;

/// <summary>
/// Which incarnation of a topic a stored position belongs to: the Kafka cluster's id and the topic's id,
/// as <c>CLUSTER/TOPIC</c>. Offsets only mean something within one incarnation: a topic deleted and
/// created again, or a new cluster (an embedded broker started afresh, a cluster rebuilt), starts again at
/// offset 0, and a position stored for the old one would skip the new one's events. Checkpoints store
/// the incarnation beside the offset, so a job can tell.
/// </summary>
public sealed class TopicIncarnation : IDisposable
{
    private readonly IAdminClient _admin;
    private readonly TimeSpan _timeout;

    /// <summary>An admin client on <paramref name="bootstrapServers"/> with the client settings in <paramref name="settings"/>.</summary>
    public TopicIncarnation(string bootstrapServers, IEnumerable<KeyValuePair<string, string>>? settings = null, TimeSpan? timeout = null)
    {
        var config = new AdminClientConfig { BootstrapServers = bootstrapServers };
        foreach (var (key, value) in settings ?? [])
        {
            // Consumer and producer settings are shared with the jobs' own clients; only the common ones matter here.
            if (!key.StartsWith("group.", StringComparison.Ordinal) && !key.StartsWith("auto.", StringComparison.Ordinal)
                && !key.StartsWith("enable.", StringComparison.Ordinal))
            {
                config.Set(key, value);
            }
        }

        config.Set("log_level", "3");
        _timeout = timeout ?? TimeSpan.FromSeconds(10);
        _admin = new AdminClientBuilder(config).SetLogHandler((_, _) => { }).Build();
    }

    /// <summary>
    /// The incarnation of each of <paramref name="topics"/>, <c>CLUSTER/TOPIC</c>; a topic the cluster does not
    /// describe (missing, or a broker too old to give ids) is absent, and so is every topic when the cluster
    /// cannot be reached within the timeout: a caller then goes on with what it stored.
    /// </summary>
    public IReadOnlyDictionary<string, string> Read(IReadOnlyCollection<string> topics)
    {
        ArgumentNullException.ThrowIfNull(topics);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (topics.Count == 0)
        {
            return result;
        }

        try
        {
            // Called from rebalance callbacks, which are synchronous: the wait is bounded by the timeout.
            var cluster = Task.Run(() => _admin.DescribeClusterAsync(new DescribeClusterOptions { RequestTimeout = _timeout })).GetAwaiter().GetResult();
            IEnumerable<TopicDescription> described;
            try
            {
                described = Task.Run(() => _admin.DescribeTopicsAsync(TopicCollection.OfTopicNames(topics), new DescribeTopicsOptions { RequestTimeout = _timeout }))
                    .GetAwaiter().GetResult().TopicDescriptions;
            }
            catch (DescribeTopicsException ex)
            {
                described = ex.Results.TopicDescriptions; // some topics failed (not there yet): the others count
            }

            foreach (var topic in described)
            {
                if (topic.Error.Code == ErrorCode.NoError && topic.TopicId is { } id && !IsZero(id))
                {
                    result[topic.Name] = $"{cluster.ClusterId}/{id}";
                }
            }
        }
        catch (KafkaException)
        {
            // Unreachable or refused: unknown, the caller keeps what it stored.
        }

        return result;
    }

    /// <summary>
    /// Why a stored position does not belong to the partition as it is now, or null when it does: it was stored
    /// for another incarnation (both known), or it lies beyond the partition's end
    /// (<paramref name="highWatermark"/>, when known) — the log it counted is not this one.
    /// </summary>
    public static string? Mismatch(string? storedIncarnation, long storedNextOffset, string? liveIncarnation, long highWatermark)
    {
        if (storedIncarnation is not null && liveIncarnation is not null && !string.Equals(storedIncarnation, liveIncarnation, StringComparison.Ordinal))
        {
            return $"stored for topic incarnation {storedIncarnation}, the topic is now {liveIncarnation}";
        }

        return highWatermark >= 0 && storedNextOffset > highWatermark
            ? FormattableString.Invariant($"stored offset {storedNextOffset} is beyond the partition's end ({highWatermark})")
            : null;
    }

    /// <inheritdoc />
    public void Dispose() => _admin.Dispose();

    private static bool IsZero(Uuid id) => id.MostSignificantBits == 0 && id.LeastSignificantBits == 0;
}
