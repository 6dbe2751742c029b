using System.Buffers;
using System.Threading.Channels;
using FeatureStore.Contracts.V1;
using FeatureStore.Contracts.Wire;
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
    // Lookups sent together in one LookupBatch: at most this many, and no more once their entity rows reach
    // MaxBatchRows (so that one message's answer stays far from the receive limit).
    private const int MaxBatch = 64;
    private const int MaxBatchRows = 1024;

    /// <summary>Writes the lookups sent together as a <c>LookupBatch</c>.</summary>
    internal static Marshaller<Pending[]> BatchMarshaller { get; } = Marshallers.Create<Pending[]>(
        WriteBatch, static _ => throw new NotSupportedException("lookup requests are only written"));

    private static readonly Method<Pending[], Answer[]> Stream = new(
        MethodType.DuplexStreaming,
        OnlineFeatures.Descriptor.FullName,
        "StreamOnlineFeatures",
        BatchMarshaller,
        Marshallers.Create<Answer[]>(
            static (_, _) => throw new NotSupportedException("streamed answers are only read"),
            static context => Answer.ReadBatch(context.PayloadAsReadOnlySequence())));

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

    /// <summary>
    /// Looks up <paramref name="features"/>, request-time ones among them, for entities named by one join key, each
    /// row with its request context from <paramref name="context"/>'s columns.
    /// </summary>
    /// <param name="features">Feature references, of feature views and request views.</param>
    /// <param name="joinKey">The join key's name (<c>user_id</c>).</param>
    /// <param name="keys">Its value for each row.</param>
    /// <param name="context">The request context, one value per row in each column.</param>
    /// <param name="asOf">Evaluate at this instant instead of now.</param>
    /// <param name="cancellationToken">Stops waiting for the answer.</param>
    public Task<OnlineFeatureSet> GetOnlineFeaturesAsync(
        IReadOnlyList<string> features, string joinKey, IReadOnlyList<string> keys, RequestContextColumns context, DateTimeOffset? asOf = null,
        CancellationToken cancellationToken = default) =>
        SendAsync(FeatureStoreClient.Keyed(features, joinKey, keys, asOf, context), cancellationToken);

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
                // A broken stream's lookups have all failed: its call is released as the new one opens.
                _connection?.Abandon();
                _connection = new Connection(_invoker.AsyncDuplexStreamingCall(Stream, null, new CallOptions(_headers)));
            }

            return _connection;
        }
    }

    // A LookupBatch: lookups = 1, each a GetOnlineFeaturesRequest's encoding.
    private static void WriteBatch(Pending[] batch, SerializationContext context)
    {
        var total = 0;
        foreach (var pending in batch)
        {
            total += ProtoWriter.DelimitedSize(pending.Size);
        }

        context.SetPayloadLength(total);
        var output = context.GetBufferWriter();
        foreach (var pending in batch)
        {
            var span = output.GetSpan(ProtoWriter.DelimitedSize(pending.Size));
            var head = new ProtoWriter(span);
            head.Delimited(OnlineWire.BatchLookups, pending.Size);
            var into = span.Slice(head.Position, pending.Size);
            if (pending.Request is KeyedLookupRequest keyed)
            {
                keyed.Write(into);
            }
            else
            {
                Google.Protobuf.MessageExtensions.WriteTo((GetOnlineFeaturesRequest)pending.Request, into);
            }

            output.Advance(head.Position + pending.Size);
        }

        context.Complete();
    }

    /// <summary>A lookup sent, or to be sent, and the caller waiting for its answer.</summary>
    internal sealed class Pending : TaskCompletionSource<OnlineFeatureSet>
    {
        public Pending(object request)
            : base(TaskCreationOptions.RunContinuationsAsynchronously)
        {
            Request = request;
            (Size, Rows) = request is KeyedLookupRequest keyed
                ? (keyed.Size(), keyed.Rows)
                : (((GetOnlineFeaturesRequest)request).CalculateSize(), ((GetOnlineFeaturesRequest)request).Entities.Count);
        }

        /// <summary>The request's entity rows.</summary>
        public int Rows { get; }

        public object Request { get; }

        /// <summary>The request's encoded size.</summary>
        public int Size { get; }
    }

    /// <summary>One stream: a writer sends the lookups in the order taken, a reader answers them in that order.</summary>
    private sealed class Connection
    {
        private readonly AsyncDuplexStreamingCall<Pending[], Answer[]> _call;
        private readonly Channel<Pending> _outgoing = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleWriter = false, SingleReader = false });
        private readonly Queue<Pending[]> _sent = new();
        private readonly Lock _gate = new();
        private readonly Task _writing;
        private readonly Task _reading;
        private RpcException? _failure;

        public Connection(AsyncDuplexStreamingCall<Pending[], Answer[]> call)
        {
            _call = call;
            _reading = Task.Run(ReadAsync);
            _writing = Task.Run(WriteAsync);
        }

        public bool Broken => Volatile.Read(ref _failure) is not null;

        public bool TryEnqueue(Pending pending) => _outgoing.Writer.TryWrite(pending);

        public void Abandon() => _call.Dispose();

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
                var batch = new List<Pending>(MaxBatch);
                while (await _outgoing.Reader.WaitToReadAsync().ConfigureAwait(false))
                {
                    // Every lookup waiting, up to MaxBatch lookups or MaxBatchRows rows, goes in one message.
                    var rows = 0;
                    while (batch.Count < MaxBatch && rows < MaxBatchRows && _outgoing.Reader.TryRead(out var pending))
                    {
                        batch.Add(pending);
                        rows += pending.Rows;
                    }

                    Pending[] sent = [.. batch];
                    batch.Clear();
                    lock (_gate)
                    {
                        if (_failure is { } failure)
                        {
                            foreach (var pending in sent)
                            {
                                pending.TrySetException(failure);
                            }

                            continue;
                        }

                        _sent.Enqueue(sent);
                    }

                    await requests.WriteAsync(sent).ConfigureAwait(false);
                }

                if (!Broken)
                {
                    await requests.CompleteAsync().ConfigureAwait(false);
                }
            }
            catch (Exception ex)
            {
                // A write fails once the call has ended (the server refused the stream, or went away): the status
                // the reader receives says why, so the lookups fail with it; with the write's error only if no
                // status comes soon.
                await _reading.WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                Fail(Broke(ex));
            }
        }

        private async Task ReadAsync()
        {
            try
            {
                var answers = _call.ResponseStream;
                while (await answers.MoveNext(CancellationToken.None).ConfigureAwait(false))
                {
                    Pending[]? batch;
                    lock (_gate)
                    {
                        _sent.TryDequeue(out batch);
                    }

                    var results = answers.Current;
                    if (batch is null || results.Length != batch.Length)
                    {
                        throw new RpcException(new Status(StatusCode.Internal,
                            $"the server answered {results.Length} lookups where {batch?.Length ?? 0} were sent"));
                    }

                    for (var i = 0; i < batch.Length; i++)
                    {
                        if (results[i].Set is { } set)
                        {
                            batch[i].TrySetResult(set);
                        }
                        else
                        {
                            batch[i].TrySetException(results[i].Error!);
                        }
                    }
                }

                Fail(new RpcException(new Status(StatusCode.Unavailable, "the server ended the lookup stream")));
            }
            catch (Exception ex)
            {
                Fail(Broke(ex));
            }
        }

        // A stream the transport broke is UNAVAILABLE, whatever code an HTTP/2 reset carried (a server stopping
        // resets its open streams with INTERNAL_ERROR, which gRPC maps to INTERNAL): the next lookup opens a new
        // stream, as after any server that went away. A status the server sent stays as it is.
        private static RpcException Broke(Exception ex) => ex switch
        {
            RpcException { StatusCode: StatusCode.Internal, Status.DebugException: System.Net.Http.HttpProtocolException or IOException } reset =>
                new RpcException(new Status(StatusCode.Unavailable, "the lookup stream was reset: " + reset.Status.Detail, reset.Status.DebugException)),
            RpcException rpc => rpc,
            _ => new RpcException(new Status(StatusCode.Unavailable, $"the lookup stream failed: {ex.Message}", ex)),
        };

        private void Fail(RpcException failure)
        {
            Pending[] waiting;
            lock (_gate)
            {
                _failure ??= failure;
                waiting = [.. _sent.SelectMany(b => b)];
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
        public OnlineFeatureSet? Set { get; } = set;

        public RpcException? Error { get; } = error;

        /// <summary>Reads a <c>LookupBatchResult</c>: its results, in order (fields of other numbers, a newer server's, skipped).</summary>
        public static Answer[] ReadBatch(ReadOnlySequence<byte> payload) => ProtoReader.Contiguous(payload, static span => ReadBatch(span));

        private static Answer[] ReadBatch(ReadOnlySpan<byte> payload)
        {
            var results = new List<Answer>();
            try
            {
                var reader = new ProtoReader(payload);
                while (reader.More)
                {
                    var tag = reader.Tag();
                    if (tag == OnlineWire.BatchResults)
                    {
                        results.Add(Read(reader.Message()));
                    }
                    else
                    {
                        reader.Skip(tag);
                    }
                }
            }
            catch (InvalidDataException ex)
            {
                throw new InvalidDataException($"malformed LookupBatchResult: {ex.Message}", ex);
            }

            return [.. results];
        }

        private static Answer Read(ProtoReader result)
        {
            Answer? answer = null;
            while (result.More)
            {
                var tag = result.Tag();
                switch (tag)
                {
                    case OnlineWire.StreamedResponse:
                        answer = new Answer(OnlineFeatureSet.FromWire(result.Bytes()), null);
                        break;
                    case OnlineWire.StreamedError:
                        var error = LookupError.Parser.ParseFrom(result.Bytes());
                        answer = new Answer(null, new RpcException(new Status((StatusCode)error.Code, error.Message)));
                        break;
                    default:
                        result.Skip(tag);
                        break;
                }
            }

            return answer ?? throw new InvalidDataException("a streamed answer holds neither a response nor an error");
        }
    }
}
