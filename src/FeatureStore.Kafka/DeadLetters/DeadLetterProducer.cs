using System.Globalization;
using System.Text;
using Confluent.Kafka;
namespace FeatureStore.Kafka.DeadLetters;

/// <summary>
/// Sends rejected records (source events, predictions) to a dead-letter topic, the original key and payload
/// unchanged, with headers naming why: <c>fs-reason</c> (e.g. <c>missing_key</c>), <c>fs-field</c>,
/// <c>fs-detail</c>, and where it came from: <c>fs-source-topic</c>, <c>fs-source-partition</c>,
/// <c>fs-source-offset</c>. This type is the one writer of that header contract.
/// Offsets are committed only after <see cref="Flush"/> confirmed every send, so nothing is lost. A payload
/// too large for the dead-letter producer or topic is cut to its first bytes, its size in a header
/// (<see cref="DeadLetterSize"/>): an event the source topic took never stops the job.
/// </summary>
public sealed class DeadLetterProducer : IDisposable
{
    /// <summary>Header carrying the rejection reason.</summary>
    public const string ReasonHeader = "fs-reason";

    /// <summary>Header carrying the field at fault, when there is one.</summary>
    public const string FieldHeader = "fs-field";

    /// <summary>Header carrying a human-readable detail.</summary>
    public const string DetailHeader = "fs-detail";

    /// <summary>Header carrying the source topic.</summary>
    public const string SourceTopicHeader = "fs-source-topic";

    /// <summary>Header carrying the source partition.</summary>
    public const string SourcePartitionHeader = "fs-source-partition";

    /// <summary>Header carrying the source offset.</summary>
    public const string SourceOffsetHeader = "fs-source-offset";

    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly int _maxRecordBytes;
    private Exception? _failure;
    private long _pending;

    /// <summary>Creates a dead-letter producer (idempotent, acks=all) on <paramref name="bootstrapServers"/>.</summary>
    public DeadLetterProducer(string bootstrapServers, IEnumerable<KeyValuePair<string, string>>? extraConfig = null, string clientId = "featurestore-dlq")
    {
        var config = new ProducerConfig
        {
            BootstrapServers = bootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            ClientId = clientId,
        };
        foreach (var (key, value) in extraConfig ?? [])
        {
            config.Set(key, value);
        }

        _maxRecordBytes = DeadLetterSize.MaxRecordBytes(config);
        _producer = new ProducerBuilder<byte[]?, byte[]?>(config).Build();
    }

    /// <summary>Dead-lettered events not yet confirmed.</summary>
    public long Pending => Interlocked.Read(ref _pending);

    /// <summary>Queues one rejected record; <paramref name="reason"/> is a snake_case reason code.</summary>
    public void Send(string deadLetterTopic, ConsumeResult<byte[]?, byte[]?> source, string reason, string? field, string? detail)
    {
        ArgumentNullException.ThrowIfNull(source);
        var headers = new Headers
        {
            { ReasonHeader, Encoding.UTF8.GetBytes(reason) },
            { SourceTopicHeader, Encoding.UTF8.GetBytes(source.Topic) },
            { SourcePartitionHeader, Encoding.UTF8.GetBytes(source.Partition.Value.ToString(CultureInfo.InvariantCulture)) },
            { SourceOffsetHeader, Encoding.UTF8.GetBytes(source.Offset.Value.ToString(CultureInfo.InvariantCulture)) },
        };
        if (field is not null)
        {
            headers.Add(FieldHeader, Encoding.UTF8.GetBytes(field));
        }

        if (detail is not null)
        {
            headers.Add(DetailHeader, Encoding.UTF8.GetBytes(detail));
        }

        var message = new Message<byte[]?, byte[]?> { Key = source.Message.Key, Value = source.Message.Value, Headers = headers };
        Produce(deadLetterTopic, DeadLetterSize.Fit(message, _maxRecordBytes));
    }

    private void Produce(string topic, Message<byte[]?, byte[]?> message)
    {
        Interlocked.Increment(ref _pending);
        try
        {
            _producer.Produce(topic, message, report =>
            {
                if (report.Error.IsError)
                {
                    if (DeadLetterSize.IsTooLarge(report.Error.Code) && DeadLetterSize.CanCut(message))
                    {
                        // The dead-letter topic takes less than the producer sends: its payload is cut.
                        Produce(topic, DeadLetterSize.Cut(message));
                    }
                    else
                    {
                        _failure ??= new KafkaException(report.Error);
                    }
                }

                Interlocked.Decrement(ref _pending);
            });
        }
        catch (ProduceException<byte[]?, byte[]?> ex) when (DeadLetterSize.IsTooLarge(ex.Error.Code) && DeadLetterSize.CanCut(message))
        {
            Interlocked.Decrement(ref _pending);
            Produce(topic, DeadLetterSize.Cut(message));
        }
        catch
        {
            Interlocked.Decrement(ref _pending);
            throw;
        }
    }

    /// <summary>
    /// Waits until every queued event is confirmed by the broker; throws when one failed (the caller must
    /// then not commit past it) or when <paramref name="timeout"/> passes.
    /// </summary>
    public void Flush(TimeSpan timeout)
    {
        if (Pending > 0)
        {
            _producer.Flush(timeout);
        }

        if (Interlocked.Exchange(ref _failure, null) is { } failure)
        {
            throw new InvalidOperationException("a dead-letter send failed; offsets are not committed past it", failure);
        }

        if (Pending > 0)
        {
            throw new TimeoutException($"{Pending} dead-letter sends not confirmed within {timeout.TotalSeconds:0.#} s");
        }
    }

    /// <summary>Flushes what it can (5 s) and closes the producer.</summary>
    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(5));
        _producer.Dispose();
    }
}
