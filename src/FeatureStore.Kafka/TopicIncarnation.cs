using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using static FeatureStore.Kafka.Embedded.NativeLibrdkafka;

namespace FeatureStore.Kafka;

/// <summary>
/// Which incarnation of a topic a stored position belongs to: the Kafka cluster's id, and the topic's id where
/// the cluster gives one, as <c>CLUSTER</c> or <c>CLUSTER/TOPIC</c>. Offsets only mean something within one
/// incarnation: a new cluster (an embedded broker started afresh, a cluster rebuilt) or a topic deleted and
/// created again starts again at offset 0, and a position stored for the old one would skip the new one's
/// events. Checkpoints store the incarnation beside the offset, so a job can tell.
/// </summary>
public sealed class TopicIncarnation : IDisposable
{
    // The embedded (mock) cluster gives no topic ids and does not answer the request for them.
    private const string MockClusterPrefix = "mockCluster";
    private const int ProducerType = 0;
    private readonly Lock _gate = new();
    private readonly IAdminClient _admin;
    private readonly TimeSpan _timeout;
    private nint _rk;
    private bool _noTopicIds;

    /// <summary>A client of <paramref name="bootstrapServers"/> with the client settings in <paramref name="settings"/>.</summary>
    public TopicIncarnation(string bootstrapServers, IEnumerable<KeyValuePair<string, string>>? settings = null, TimeSpan? timeout = null)
    {
        _timeout = timeout ?? TimeSpan.FromSeconds(5);
        var common = new List<KeyValuePair<string, string>> { new("bootstrap.servers", bootstrapServers), new("log_level", "3") };

        // Consumer and producer settings are shared with the jobs' own clients; only the common ones (security,
        // addresses) matter here.
        common.AddRange((settings ?? []).Where(kv => !kv.Key.StartsWith("group.", StringComparison.Ordinal)
            && !kv.Key.StartsWith("auto.", StringComparison.Ordinal) && !kv.Key.StartsWith("enable.", StringComparison.Ordinal)));
        var config = new AdminClientConfig();
        foreach (var (key, value) in common)
        {
            config.Set(key, value);
        }

        _admin = new AdminClientBuilder(config).SetLogHandler((_, _) => { }).Build();

        // The cluster id is in every metadata response, but Confluent.Kafka does not expose it: a handle of librdkafka's own.
        EnsureLoaded();
        var errstr = new byte[512];
        var conf = rd_kafka_conf_new();
        foreach (var (key, value) in common)
        {
            _ = rd_kafka_conf_set(conf, key, value, errstr, (nuint)errstr.Length); // one it does not take is left out
        }

        _rk = rd_kafka_new(ProducerType, conf, errstr, (nuint)errstr.Length);
        if (_rk == 0)
        {
            rd_kafka_conf_destroy(conf);
            _admin.Dispose();
            var end = Array.IndexOf(errstr, (byte)0);
            throw new InvalidOperationException("cannot create a Kafka client: " + Encoding.UTF8.GetString(errstr, 0, end < 0 ? errstr.Length : end));
        }
    }

    /// <summary>
    /// The incarnation of each of <paramref name="topics"/>. Every topic is absent when the cluster cannot be
    /// reached within the timeout: a caller then goes on with what it stored.
    /// </summary>
    public IReadOnlyDictionary<string, string> Read(IReadOnlyCollection<string> topics)
    {
        ArgumentNullException.ThrowIfNull(topics);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (topics.Count == 0 || ClusterId() is not { Length: > 0 } cluster)
        {
            return result;
        }

        foreach (var topic in topics)
        {
            result[topic] = cluster;
        }

        if (_noTopicIds || cluster.StartsWith(MockClusterPrefix, StringComparison.Ordinal))
        {
            return result;
        }

        try
        {
            // Called from rebalance callbacks, which are synchronous: the wait is bounded by the timeout.
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
                if (topic.Error.Code == ErrorCode.NoError && topic.TopicId is { } id && (id.MostSignificantBits != 0 || id.LeastSignificantBits != 0))
                {
                    result[topic.Name] = $"{cluster}/{id}";
                }
            }
        }
        catch (KafkaException)
        {
            _noTopicIds = true; // a broker too old to describe topics: the cluster id alone, from now on
        }

        return result;
    }

    /// <summary>
    /// Why a stored position does not belong to the partition as it is now, or null when it does: it was stored
    /// for another incarnation (both known; topic ids compared only when both have one), or it lies beyond the
    /// partition's end (<paramref name="highWatermark"/>, when known) — the log it counted is not this one.
    /// </summary>
    public static string? Mismatch(string? storedIncarnation, long storedNextOffset, string? liveIncarnation, long highWatermark)
    {
        if (storedIncarnation is not null && liveIncarnation is not null && !Same(storedIncarnation, liveIncarnation))
        {
            return $"stored for topic incarnation {storedIncarnation}, the topic is now {liveIncarnation}";
        }

        return highWatermark >= 0 && storedNextOffset > highWatermark
            ? FormattableString.Invariant($"stored offset {storedNextOffset} is beyond the partition's end ({highWatermark})")
            : null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _admin.Dispose();
        lock (_gate)
        {
            if (_rk != 0)
            {
                rd_kafka_destroy(_rk);
                _rk = 0;
            }
        }
    }

    private static bool Same(string a, string b)
    {
        var (clusterA, topicA) = Split(a);
        var (clusterB, topicB) = Split(b);
        return clusterA == clusterB && (topicA is null || topicB is null || topicA == topicB);
    }

    private static (string Cluster, string? Topic) Split(string incarnation)
    {
        var slash = incarnation.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (incarnation, null) : (incarnation[..slash], incarnation[(slash + 1)..]);
    }

    private string? ClusterId()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_rk == 0, this);
            var id = rd_kafka_clusterid(_rk, (int)_timeout.TotalMilliseconds);
            if (id == 0)
            {
                return null;
            }

            try
            {
                return Marshal.PtrToStringUTF8(id);
            }
            finally
            {
                rd_kafka_mem_free(_rk, id);
            }
        }
    }
}
