using Confluent.Kafka;

namespace FeatureStore.Serving.Internal.Push;

/// <summary>
/// The server's one Kafka producer for pushed events: idempotent (no duplicate from a retry, one entity's events
/// kept in order) and acks=all, built at the first push. Each request's events are produced together and
/// awaited as a whole: the answer gives, per partition written, the offset after the request's last event.
/// </summary>
internal sealed class PushProducer : IDisposable
{
    private readonly PushOptions _options;
    private readonly Lazy<IProducer<byte[], byte[]>> _producer;

    public PushProducer(PushOptions options)
    {
        _options = options;
        _producer = new Lazy<IProducer<byte[], byte[]>>(Build, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    private IProducer<byte[], byte[]> Build()
    {
        var config = new ProducerConfig
        {
            BootstrapServers = _options.BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 1,
            ClientId = "featurestore-push",
            // A request of the largest size fits in the local queue at once, with room for a few at a time.
            QueueBufferingMaxMessages = Math.Max(100_000, _options.MaxEvents * 4),
        };
        foreach (var (key, value) in _options.KafkaSettings)
        {
            config.Set(key, value);
        }

        return new ProducerBuilder<byte[], byte[]>(config).Build();
    }

    /// <summary>
    /// Produces <paramref name="events"/> (key, value) to <paramref name="topic"/> and waits until Kafka has them
    /// all: the next offset per partition written. A failed delivery fails the whole call (UNAVAILABLE), saying
    /// how many events Kafka did take.
    /// </summary>
    public async Task<SortedDictionary<int, long>> ProduceAsync(string topic, IReadOnlyList<(byte[] Key, ReadOnlyMemory<byte> Value)> events, CancellationToken cancellationToken)
    {
        var producer = _producer.Value;
        var delivery = new RequestDelivery(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            var (key, value) = events[i];
            var message = new Message<byte[], byte[]> { Key = key, Value = value.ToArray() };
            while (true)
            {
                try
                {
                    producer.Produce(topic, message, delivery.Handler);
                    break;
                }
                catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    // Other requests fill the local queue: wait for deliveries to make room.
                    await Task.Delay(5, cancellationToken).ConfigureAwait(false);
                }
                catch (KafkaException ex)
                {
                    delivery.Abandon(events.Count - i);
                    ThrowHelper.ThrowUnavailable($"Kafka refused event {i} of {events.Count}: {ex.Error.Reason}; {i} were handed to the producer before it", ex);
                }
            }
        }

        return await delivery.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        if (_producer.IsValueCreated)
        {
            _producer.Value.Flush(TimeSpan.FromSeconds(10));
            _producer.Value.Dispose();
        }
    }

    /// <summary>Counts one request's deliveries down; keeps the greatest offset per partition and the first failure.</summary>
    private sealed class RequestDelivery(int total)
    {
        private readonly TaskCompletionSource<SortedDictionary<int, long>> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly SortedDictionary<int, long> _next = [];
        private readonly int _total = total;
        private int _pending = total;
        private int _failed;
        private string? _failure;

        public Task<SortedDictionary<int, long>> Task => _done.Task;

        public void Handler(DeliveryReport<byte[], byte[]> report)
        {
            lock (_next)
            {
                if (report.Error.IsError)
                {
                    _failed++;
                    _failure ??= report.Error.Reason;
                }
                else
                {
                    var next = report.Offset.Value + 1;
                    _next[report.Partition.Value] = _next.TryGetValue(report.Partition.Value, out var seen) ? Math.Max(seen, next) : next;
                }
            }

            if (Interlocked.Decrement(ref _pending) == 0)
            {
                Complete();
            }
        }

        /// <summary>Events never handed to the producer: counted as delivered nowhere.</summary>
        public void Abandon(int count) => Interlocked.Add(ref _pending, -count);

        private void Complete()
        {
            if (_failed == 0)
            {
                _done.TrySetResult(_next);
                return;
            }

            var produced = _total - _failed;
            _done.TrySetException(LookupException.Unavailable(
                $"Kafka did not take {_failed} of {_total} events ({_failure}); {produced} were produced, so pushing the request again may add those a second time"));
        }
    }
}
