using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;
using static FeatureStore.Kafka.Embedded.NativeLibrdkafka;

namespace FeatureStore.Kafka.Embedded;

/// <summary>
/// A Kafka-protocol broker cluster in this process: librdkafka's mock cluster, started through its public
/// C API. Each broker listens on 127.0.0.1 over real TCP; any Kafka client can produce, consume and join
/// consumer groups. Everything is kept in memory. Topics a client asks for that do not exist are created
/// on first use with the mock's defaults (4 partitions); <see cref="CreateTopic"/> sets a partition count.
/// Faults can be injected: brokers down and up, request errors, leader changes.
/// A development and test broker, not a production one.
/// </summary>
public sealed class EmbeddedKafkaCluster : IDisposable
{
    private const int ProducerType = 0;
    private readonly Lock _gate = new();
    private nint _rk;
    private nint _cluster;

    private EmbeddedKafkaCluster(nint rk, nint cluster, int brokers, string bootstrapServers)
    {
        _rk = rk;
        _cluster = cluster;
        BrokerCount = brokers;
        BootstrapServers = bootstrapServers;
    }

    /// <summary>The brokers' addresses, <c>127.0.0.1:PORT,…</c>, for <c>bootstrap.servers</c>.</summary>
    public string BootstrapServers { get; }

    /// <summary>Number of brokers; their ids are 1 to <see cref="BrokerCount"/>.</summary>
    public int BrokerCount { get; }

    /// <summary>Starts a cluster of <paramref name="brokers"/> brokers on free 127.0.0.1 ports.</summary>
    public static EmbeddedKafkaCluster Start(int brokers = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(brokers, 1);
        EnsureLoaded();
        var errstr = new byte[512];
        var conf = rd_kafka_conf_new();
        Check(rd_kafka_conf_set(conf, "client.id", "featurestore-embedded-kafka", errstr, (nuint)errstr.Length), errstr);
        Check(rd_kafka_conf_set(conf, "log_level", "3", errstr, (nuint)errstr.Length), errstr);
        var rk = rd_kafka_new(ProducerType, conf, errstr, (nuint)errstr.Length);
        if (rk == 0)
        {
            rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException("rd_kafka_new failed: " + Text(errstr));
        }

        var cluster = rd_kafka_mock_cluster_new(rk, brokers);
        if (cluster == 0)
        {
            rd_kafka_destroy(rk);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed");
        }

        var bootstraps = Marshal.PtrToStringUTF8(rd_kafka_mock_cluster_bootstraps(cluster)) ?? "";
        return new EmbeddedKafkaCluster(rk, cluster, brokers, bootstraps);
    }

    /// <summary>Creates a topic (replication at most the number of brokers).</summary>
    public void CreateTopic(string name, int partitions, int replicationFactor = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicationFactor, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(replicationFactor, BrokerCount);
        Call(c => ThrowOnError(rd_kafka_mock_topic_create(c, name, partitions, replicationFactor), $"create topic {name}"));
    }

    /// <summary>Takes a broker down: its connections close and it refuses new ones until <see cref="SetBrokerUp"/>.</summary>
    public void SetBrokerDown(int brokerId) => Call(c => ThrowOnError(rd_kafka_mock_broker_set_down(c, brokerId), $"broker {brokerId} down"));

    /// <summary>Brings a broker back up.</summary>
    public void SetBrokerUp(int brokerId) => Call(c => ThrowOnError(rd_kafka_mock_broker_set_up(c, brokerId), $"broker {brokerId} up"));

    /// <summary>
    /// Makes the next requests with API key <paramref name="apiKey"/> (e.g. 0 Produce, 1 Fetch) fail, one
    /// per error, in order, on whichever broker receives them.
    /// </summary>
    public void PushRequestErrors(short apiKey, params ErrorCode[] errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        var codes = errors.Select(e => (int)e).ToArray();
        Call(c => rd_kafka_mock_push_request_errors_array(c, apiKey, (nuint)codes.Length, codes));
    }

    /// <summary>Drops request errors still queued for <paramref name="apiKey"/>.</summary>
    public void ClearRequestErrors(short apiKey) => Call(c => rd_kafka_mock_clear_request_errors(c, apiKey));

    /// <summary>Moves a partition's leadership to <paramref name="brokerId"/>.</summary>
    public void SetPartitionLeader(string topic, int partition, int brokerId) =>
        Call(c => ThrowOnError(rd_kafka_mock_partition_set_leader(c, topic, partition, brokerId), $"leader of {topic}[{partition}]"));

    /// <summary>Stops every broker and frees the cluster.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_cluster != 0)
            {
                rd_kafka_mock_cluster_destroy(_cluster);
                _cluster = 0;
            }

            if (_rk != 0)
            {
                rd_kafka_destroy(_rk);
                _rk = 0;
            }
        }
    }

    private void Call(Action<nint> action)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == 0, this);
            action(_cluster);
        }
    }

    private static void ThrowOnError(int error, string what)
    {
        if (error != 0)
        {
            throw new KafkaException(new Error((ErrorCode)error, $"{what}: {(ErrorCode)error}"));
        }
    }

    private static void Check(int confResult, byte[] errstr)
    {
        if (confResult != 0)
        {
            throw new InvalidOperationException("rd_kafka_conf_set failed: " + Text(errstr));
        }
    }

    private static string Text(byte[] errstr)
    {
        var end = Array.IndexOf(errstr, (byte)0);
        return Encoding.UTF8.GetString(errstr, 0, end < 0 ? errstr.Length : end);
    }
}
