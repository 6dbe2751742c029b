using System.Buffers;
using System.Threading.Channels;
using FeatureStore.Contracts.V1;
using Grpc.Core;

namespace FeatureStore.Client;

/// <summary>
/// Lookups multiplexed over one <c>StreamOnlineFeatures</c> call: many callers at once, each awaiting its
/// own answer, with the cost of a gRPC call spread over all of them. For a service making many small
/// lookups (one entity per scored request), where a call per lookup costs more than the lookup itself.
/// Thread-safe; open one per process (<see cref="FeatureStoreClient.OpenLookupStream"/>) and reuse it.
/// </summary>
/// <remarks>
/// Answers come back in the order the lookups were sent. A lookup that fails throws an
/// <see cref="RpcException"/> with the status the unary call would have failed with, and the stream goes on.
/// When the stream itself breaks (the server went away), the lookups waiting on it fail with its status
/// and the next lookup opens a new stream. A lookup not answered within the client's
/// <see cref="FeatureStoreClientOptions.Timeout"/> fails with DEADLINE_EXCEEDED.
/// </remarks>
public sealed class LookupStream : IAsyncDisposable
{
    private static readonly Method<object, Answer> Stream = new(
        MethodType.DuplexStreaming,
        OnlineFeatures.Descriptor.FullName,
        "StreamOnlineFeatures",
        Marshallers.Create<object>(
            static (request, context) =>
            {
                if (request is KeyedLookupRequest keyed)
                {
                    KeyedLookupRequest.Marshaller.ContextualSerializer(keyed, context);
                }
                else
                {
                    OnlineFeaturesMarshallers.Request.ContextualSerializer((GetOnlineFeaturesRequest)request, context);
                }
            },
            static _ => throw new NotSupportedException("lookup requests are only written")),
        Marshallers.Create<Answer>(
            static (_, _) => throw new NotSupportedException("streamed answers are only read"),
            static context => Answer.Read(context.PayloadAsReadOnlySequence())));

    private readonly CallInvoker _invoker;
    private readonly Metadata? _headers;
    private readonly TimeSpan _timeout;
    private readonly Lock _gate = new();
    private Connection? _connection;
    private bool _disposed;

    internal LookupStream(CallInvoker invoker, Metadata? headers, TimeSpan timeout)
    {
        _invoker = invoker;
        _headers = headers;
        _timeout = timeout;
    }

    /// <summary>Looks up <paramref name="features"/> for entities named by one join key, one row per value of <paramref name="keys"/>.</summary>
    /// <param name="features">Feature references (<c>view:feature</c> or <c>view</c>) of views of that entity.</param>
    /// <param name="joinKey">The join key's name (<c>user_id</c>).</param>
    /// <param name="keys">Its value for each row.</param>
    /// <param name="asOf">Evaluate at this instant instead of now.</param>
    /// <param name="cancellationToken">Stops waiting for the answer.</param>
    public Task<OnlineFeatureSet> GetOnlineFeaturesAsync(
        IReadOnlyList<string> features, string joinKey, IReadOnlyList<string> keys, DateTimeOffset? asOf = null, CancellationToken cancellationToken = default) =>
        SendAsync(FeatureStoreClient.Keyed(features, joinKey, keys, asOf), cancellationToken);

    /// <summary>Looks up <paramref name="features"/> (<c>view:feature</c> or <c>view</c>) for each entity row.</summary>
    /// <param name="features">Feature references.</param>
    /// <param name="entities">One dictionary of join keys per entity (e.g. <c>user_id → u1</c>).</param>
    /// <param name="asOf">Evaluate at this instant instead of now.</param>
    /// <param name="cancellationToken">Stops waiting for the answer.</param>
    public Task<OnlineFeatureSet> GetOnlineFeaturesAsync(
        IEnumerable<string> features, IEnumerable<IReadOnlyDictionary<string, string>> entities, DateTimeOffset? asOf = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(features);
        var request = FeatureStoreClient.Request(entities, asOf);
        request.Features.AddRange(features);
        return SendAsync(request, cancellationToken);
    }

    /// <summary>Sends a request as built by the caller (features, a model, or both).</summary>
    public Task<OnlineFeatureSet> GetOnlineFeaturesAsync(GetOnlineFeaturesRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendAsync(request, cancellationToken);
    }

    /// <summary>Ends the stream once the lookups sent are answered (or the client's timeout has passed).</summary>
    public async ValueTask DisposeAsync()
    {
        Connection? connection;
        lock (_gate)
        {
            _disposed = true;
            connection = _connection;
            _connection = null;
        }

        if (connection is not null)
        {
            await connection.CloseAsync(_timeout).ConfigureAwait(false);
        }
    }

    private async Task<OnlineFeatureSet> SendAsync(object request, CancellationToken cancellationToken)
    {
        var pending = new Pending(request);
        for (var attempt = 0; !Connect().TryEnqueue(pending); attempt++)
        {
            // The stream broke between taking it and enqueueing: the next one is new.
            if (attempt == 1)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "the lookup stream could not be opened"));
            }
        }

        try
        {
            return await pending.Task.WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, $"no answer on the lookup stream within {_timeout.TotalMilliseconds:0} ms"));
        }
    }

    private Connection Connect()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connection is not { Broken: false })
            {
                _connection = new Connection(_invoker.AsyncDuplexStreamingCall(Stream, null, new CallOptions(_headers)));
            }

            return _connection;
        }
    }

    private sealed class Pending(object request) : TaskCompletionSource<OnlineFeatureSet>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public object Request { get; } = request;
    }

    /// <summary>One stream: a writer sends the lookups in the order taken, a reader answers them in that order.</summary>
    private sealed class Connection
    {
        private static readonly WriteOptions Buffered = new(WriteFlags.BufferHint);
        private static readonly WriteOptions Flushed = new();

        private readonly AsyncDuplexStreamingCall<object, Answer> _call;
        private readonly Channel<Pending> _outgoing = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleWriter = false, SingleReader = false });
        private readonly Queue<Pending> _sent = new();
        private readonly Lock _gate = new();
        private readonly Task _writing;
        private readonly Task _reading;
        private RpcException? _failure;

        public Connection(AsyncDuplexStreamingCall<object, Answer> call)
        {
            _call = call;
            _writing = Task.Run(WriteAsync);
            _reading = Task.Run(ReadAsync);
        }

        public bool Broken => Volatile.Read(ref _failure) is not null;

        public bool TryEnqueue(Pending pending) => _outgoing.Writer.TryWrite(pending);

        public async Task CloseAsync(TimeSpan timeout)
        {
            _outgoing.Writer.TryComplete();
            try
            {
                await Task.WhenAll(_writing, _reading).WaitAsync(timeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Fail(new RpcException(new Status(StatusCode.Cancelled, "the lookup stream was closed before every lookup was answered")));
            }
            finally
            {
                _call.Dispose();
            }
        }

        private async Task WriteAsync()
        {
            try
            {
                var requests = _call.RequestStream;
                while (await _outgoing.Reader.WaitToReadAsync().ConfigureAwait(false))
                {
                    while (_outgoing.Reader.TryRead(out var pending))
                    {
                        lock (_gate)
                        {
                            if (_failure is { } failure)
                            {
                                pending.TrySetException(failure);
                                continue;
                            }

                            _sent.Enqueue(pending);
                        }

                        requests.WriteOptions = _outgoing.Reader.TryPeek(out _) ? Buffered : Flushed;
                        await requests.WriteAsync(pending.Request).ConfigureAwait(false);
                    }
                }

                if (!Broken)
                {
                    await requests.CompleteAsync().ConfigureAwait(false);
                }
            }
            catch (Exception ex)
            {
                Fail(ex as RpcException ?? new RpcException(new Status(StatusCode.Unavailable, $"the lookup stream failed: {ex.Message}", ex)));
            }
        }

        private async Task ReadAsync()
        {
            try
            {
                var answers = _call.ResponseStream;
                while (await answers.MoveNext(CancellationToken.None).ConfigureAwait(false))
                {
                    Pending? pending;
                    lock (_gate)
                    {
                        _sent.TryDequeue(out pending);
                    }

                    if (pending is null)
                    {
                        throw new RpcException(new Status(StatusCode.Internal, "the server answered a lookup that was not sent"));
                    }

                    var answer = answers.Current;
                    if (answer.Set is { } set)
                    {
                        pending.TrySetResult(set);
                    }
                    else
                    {
                        pending.TrySetException(answer.Error!);
                    }
                }

                Fail(new RpcException(new Status(StatusCode.Unavailable, "the server ended the lookup stream")));
            }
            catch (Exception ex)
            {
                Fail(ex as RpcException ?? new RpcException(new Status(StatusCode.Unavailable, $"the lookup stream failed: {ex.Message}", ex)));
            }
        }

        private void Fail(RpcException failure)
        {
            Pending[] waiting;
            lock (_gate)
            {
                _failure ??= failure;
                waiting = [.. _sent];
                _sent.Clear();
            }

            _outgoing.Writer.TryComplete();
            foreach (var pending in waiting)
            {
                pending.TrySetException(_failure);
            }

            while (_outgoing.Reader.TryRead(out var unsent))
            {
                unsent.TrySetException(_failure);
            }
        }
    }

    /// <summary>A <c>StreamedLookup</c> as received: the answer's index, or the lookup's error.</summary>
    internal sealed class Answer(OnlineFeatureSet? set, RpcException? error)
    {
        // StreamedLookup: response = 1, error = 2 (both length-delimited).
        private const int ResponseTag = (1 << 3) | 2;
        private const int ErrorTag = (2 << 3) | 2;

        public OnlineFeatureSet? Set { get; } = set;

        public RpcException? Error { get; } = error;

        public static Answer Read(ReadOnlySequence<byte> payload)
        {
            var reader = new SequenceReader<byte>(payload);
            Answer? answer = null;
            while (!reader.End)
            {
                var tag = Varint(ref reader);
                if ((tag & 7) != 2)
                {
                    // Another field (a newer server's): skipped by its wire type.
                    Skip(ref reader, (int)(tag & 7));
                    continue;
                }

                var length = (long)Varint(ref reader);
                if (length > reader.Remaining)
                {
                    throw new InvalidDataException("a streamed answer's field runs past its end");
                }

                var body = payload.Slice(reader.Position, length);
                reader.Advance(length);
                if (tag == ResponseTag)
                {
                    answer = new Answer(OnlineFeatureSet.FromWire(body), null);
                }
                else if (tag == ErrorTag)
                {
                    var error = LookupError.Parser.ParseFrom(body);
                    answer = new Answer(null, new RpcException(new Status((StatusCode)error.Code, error.Message)));
                }
            }

            return answer ?? throw new InvalidDataException("a streamed answer holds neither a response nor an error");
        }

        private static ulong Varint(ref SequenceReader<byte> reader)
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (!reader.TryRead(out var b))
                {
                    throw new InvalidDataException("a streamed answer ends inside a number");
                }

                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw new InvalidDataException("a streamed answer holds a number longer than 10 bytes");
        }

        private static void Skip(ref SequenceReader<byte> reader, int wireType)
        {
            switch (wireType)
            {
                case 0:
                    Varint(ref reader);
                    break;
                case 1:
                    reader.Advance(8);
                    break;
                case 5:
                    reader.Advance(4);
                    break;
                default:
                    throw new InvalidDataException($"a streamed answer holds a field of wire type {wireType}");
            }
        }
    }
}
