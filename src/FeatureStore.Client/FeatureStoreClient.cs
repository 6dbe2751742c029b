using FeatureStore.Contracts.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;

namespace FeatureStore.Client;

/// <summary>
/// A client of the serving host for model services: online lookups and registry reads over gRPC.
/// Thread-safe; create one per process and reuse it. Failures surface as <see cref="RpcException"/>
/// with the server's status (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE, UNAUTHENTICATED, …).
/// </summary>
public sealed class FeatureStoreClient : IDisposable
{
    // GetOnlineFeatures as the generated stub calls it, its answer read into an OnlineFeatureSet's index
    // instead of a message per value.
    private static readonly Method<GetOnlineFeaturesRequest, OnlineFeatureSet> Lookup = new(
        MethodType.Unary,
        OnlineFeatures.Descriptor.FullName,
        "GetOnlineFeatures",
        OnlineFeaturesMarshallers.Request,
        Marshallers.Create(
            static (OnlineFeatureSet answer, SerializationContext context) =>
            {
                var response = answer.Response;
                context.SetPayloadLength(response.CalculateSize());
                response.WriteTo(context.GetBufferWriter());
                context.Complete();
            },
            static context => OnlineFeatureSet.FromWire(context.PayloadAsReadOnlySequence())));

    // The same call with a request written straight from one join key's values.
    private static readonly Method<KeyedLookupRequest, OnlineFeatureSet> KeyedLookup = new(
        MethodType.Unary, OnlineFeatures.Descriptor.FullName, "GetOnlineFeatures", KeyedLookupRequest.Marshaller, Lookup.ResponseMarshaller);

    private readonly GrpcChannel _channel;
    private readonly CallInvoker _invoker;
    private readonly FeatureStoreClientOptions _options;
    private readonly Metadata? _headers;

    /// <summary>Connects to the gRPC endpoint at <paramref name="address"/> (e.g. <c>http://127.0.0.1:6566</c>).</summary>
    public FeatureStoreClient(Uri address, FeatureStoreClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        _options = options ?? new FeatureStoreClientOptions();
        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = _options.HttpHandler,
            MaxReceiveMessageSize = 64 << 20,
        });
        if (_options.ApiKey is { Length: > 0 } key)
        {
            _headers = new Metadata { { "x-api-key", key } };
        }

        _invoker = _channel.CreateCallInvoker();
        Online = new OnlineFeatures.OnlineFeaturesClient(_channel);
        Registry = new Registry.RegistryClient(_channel);
        Drift = new DriftMonitor.DriftMonitorClient(_channel);
        Pushes = new Push.PushClient(_channel);
    }

    /// <summary>The generated push client, for calls this type does not wrap.</summary>
    public Push.PushClient Pushes { get; }

    /// <summary>The generated online-lookup stub, for calls this class does not wrap.</summary>
    public OnlineFeatures.OnlineFeaturesClient Online { get; }

    /// <summary>The generated registry stub.</summary>
    public Registry.RegistryClient Registry { get; }

    /// <summary>The generated drift-history and alerts stub.</summary>
    public DriftMonitor.DriftMonitorClient Drift { get; }

    /// <summary>Looks up <paramref name="features"/> (<c>view:feature</c> or <c>view</c>) for each entity row.</summary>
    /// <param name="features">Feature references.</param>
    /// <param name="entities">One dictionary of join keys per entity (e.g. <c>user_id → u1</c>).</param>
    /// <param name="asOf">Evaluate at this instant instead of now.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<OnlineFeatureSet> GetOnlineFeaturesAsync(
        IEnumerable<string> features, IEnumerable<IReadOnlyDictionary<string, string>> entities, DateTimeOffset? asOf = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(features);
        var request = Request(entities, asOf);
        request.Features.AddRange(features);
        return GetOnlineFeaturesAsync(request, cancellationToken);
    }

    /// <summary>
    /// Looks up <paramref name="features"/>, request-time ones among them, for each entity row with its request
    /// context: <paramref name="requestContext"/> holds one dictionary per row, in the order of
    /// <paramref name="entities"/> (values as <see cref="RequestContext.ToValue"/> takes them).
    /// </summary>
    /// <param name="features">Feature references (<c>view:feature</c> or <c>view</c>, of feature views or request views).</param>
    /// <param name="entities">One dictionary of join keys per entity.</param>
    /// <param name="requestContext">One dictionary of context values per entity, e.g. <c>amount → 12.5</c>.</param>
    /// <param name="asOf">Evaluate at this instant instead of now.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<OnlineFeatureSet> GetOnlineFeaturesAsync(
        IEnumerable<string> features, IReadOnlyList<IReadOnlyDictionary<string, string>> entities, IReadOnlyList<IReadOnlyDictionary<string, object?>> requestContext,
        DateTimeOffset? asOf = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(entities);
        ArgumentNullException.ThrowIfNull(requestContext);
        if (requestContext.Count != entities.Count)
        {
            throw new ArgumentException($"{requestContext.Count} request contexts for {entities.Count} entity rows: give one per row", nameof(requestContext));
        }

        var request = Request(entities, asOf);
        request.Features.AddRange(features);
        for (var r = 0; r < requestContext.Count; r++)
        {
            foreach (var (name, value) in requestContext[r])
            {
                request.Entities[r].RequestContext[name] = RequestContext.ToValue(value);
            }
        }

        return GetOnlineFeaturesAsync(request, cancellationToken);
    }

    /// <summary>
    /// Looks up <paramref name="features"/> for entities named by one join key, one row per value of
    /// <paramref name="keys"/> in order (e.g. <c>user_id</c> and the users of a scoring batch). The cheapest
    /// call for a batch: the request is written straight from the values, with no message or map per row.
    /// </summary>
    /// <param name="features">Feature references (<c>view:feature</c> or <c>view</c>) of views of that entity.</param>
    /// <param name="joinKey">The join key's name (<c>user_id</c>).</param>
    /// <param name="keys">Its value for each row.</param>
    /// <param name="asOf">Evaluate at this instant instead of now.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<OnlineFeatureSet> GetOnlineFeaturesAsync(
        IReadOnlyList<string> features, string joinKey, IReadOnlyList<string> keys, DateTimeOffset? asOf = null, CancellationToken cancellationToken = default)
    {
        return await _invoker.AsyncUnaryCall(KeyedLookup, null, Options(cancellationToken), Keyed(features, joinKey, keys, asOf)).ConfigureAwait(false);
    }

    /// <summary>
    /// Looks up <paramref name="features"/>, request-time ones among them, for entities named by one join key, each
    /// row with its request context from <paramref name="context"/>'s columns (e.g. the amount and country of each
    /// payment of a scoring batch). Written straight from the values, like the keyed lookup without context.
    /// </summary>
    /// <param name="features">Feature references, of feature views and request views.</param>
    /// <param name="joinKey">The join key's name (<c>user_id</c>).</param>
    /// <param name="keys">Its value for each row.</param>
    /// <param name="context">The request context, one value per row in each column.</param>
    /// <param name="asOf">Evaluate at this instant instead of now.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<OnlineFeatureSet> GetOnlineFeaturesAsync(
        IReadOnlyList<string> features, string joinKey, IReadOnlyList<string> keys, RequestContextColumns context, DateTimeOffset? asOf = null,
        CancellationToken cancellationToken = default)
    {
        return await _invoker.AsyncUnaryCall(KeyedLookup, null, Options(cancellationToken), Keyed(features, joinKey, keys, asOf, context)).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a stream for many lookups at once (<see cref="LookupStream"/>): what a service making many
    /// small lookups, one entity per scored request, should call them through. Dispose it when done.
    /// </summary>
    public LookupStream OpenLookupStream() => new(_invoker, _headers, _options.Timeout);

    /// <summary>Looks up the features a model version reads (<c>model</c> or <c>model@version</c>) for each entity row.</summary>
    /// <param name="model">The model, optionally with <c>@version</c>; the newest version otherwise.</param>
    /// <param name="entities">One dictionary of join keys per entity.</param>
    /// <param name="asOf">Evaluate at this instant instead of now.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<OnlineFeatureSet> GetModelFeaturesAsync(
        string model, IEnumerable<IReadOnlyDictionary<string, string>> entities, DateTimeOffset? asOf = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        var request = Request(entities, asOf);
        request.Model = model;
        return GetOnlineFeaturesAsync(request, cancellationToken);
    }

    /// <summary>Sends a request as built by the caller.</summary>
    public async Task<OnlineFeatureSet> GetOnlineFeaturesAsync(GetOnlineFeaturesRequest request, CancellationToken cancellationToken = default) =>
        await _invoker.AsyncUnaryCall(Lookup, null, Options(cancellationToken), request).ConfigureAwait(false);

    /// <summary>The served repository version and everything it declares.</summary>
    public async Task<ListDefinitionsResponse> ListDefinitionsAsync(CancellationToken cancellationToken = default) =>
        await Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), Options(cancellationToken)).ConfigureAwait(false);

    /// <summary>
    /// A model version's drift history, oldest first: the newest <paramref name="limit"/> evaluated windows
    /// (0 for the server's default, 500), optionally of one <paramref name="column"/>.
    /// </summary>
    public async Task<GetDriftHistoryResponse> GetDriftHistoryAsync(string model, string version, string? column = null, int limit = 0, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(version);
        var request = new GetDriftHistoryRequest { Model = model, Version = version, Column = column ?? "", Limit = limit };
        return await Drift.GetDriftHistoryAsync(request, Options(cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>
    /// A model version's performance history, oldest first: the newest <paramref name="limit"/> closed windows (0 for
    /// the server's default, 500) of every segment (<paramref name="segment"/> null), of the whole population only
    /// (empty) or of one segment; with the model's label counts and the version's reference metrics. Metrics are NaN
    /// where undefined.
    /// </summary>
    public async Task<GetPerformanceHistoryResponse> GetPerformanceHistoryAsync(
        string model, string version, string? segment = null, int limit = 0, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(version);
        var request = new GetPerformanceHistoryRequest { Model = model, Version = version, Limit = limit };
        if (segment is not null)
        {
            request.Segment = segment;
        }

        return await Drift.GetPerformanceHistoryAsync(request, Options(cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>
    /// One model's stage history from the model registry, oldest first: promotions with their gates, forced ones with
    /// their reason, and the degradation policy's rollbacks and retraining requests. <paramref name="limit"/> 0 asks for
    /// the newest 50.
    /// </summary>
    public async Task<GetModelHistoryResponse> GetModelHistoryAsync(string model, int limit = 0, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        return await Registry.GetModelHistoryAsync(new GetModelHistoryRequest { Model = model, Limit = limit }, Options(cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>The drift monitor's open and recently resolved incidents, and its webhook deliveries.</summary>
    public async Task<ListAlertsResponse> ListAlertsAsync(CancellationToken cancellationToken = default) =>
        await Drift.ListAlertsAsync(new ListAlertsRequest(), Options(cancellationToken)).ConfigureAwait(false);

    /// <summary>
    /// Pushes events (each one JSON object, as the source's topic carries it) to <paramref name="source"/> through the
    /// server, which validates them as ingest reads them and produces them to the source's topic; with
    /// <paramref name="waitOnline"/>, returns only once ingest has applied them, so a lookup made next sees them. The
    /// call's deadline is <paramref name="timeout"/> (the client's timeout when null); past it with
    /// <paramref name="waitOnline"/> the call fails with DEADLINE_EXCEEDED, the events produced but not yet applied.
    /// </summary>
    /// <exception cref="PushRejectedException">One or more events were rejected, so none was produced.</exception>
    public Task<PushEventsResponse> PushEventsAsync(
        string source, IEnumerable<string> events, bool waitOnline = false, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentNullException.ThrowIfNull(events);
        var request = new PushEventsRequest { Source = source, WaitOnline = waitOnline };
        request.Events.AddRange(events.Select(ByteString.CopyFromUtf8));
        return PushEventsAsync(request, timeout, cancellationToken);
    }

    /// <summary>Sends a push request as built by the caller (see the other overload).</summary>
    /// <exception cref="PushRejectedException">Events were rejected and the request did not set <c>accept_valid</c>: none was produced.</exception>
    public async Task<PushEventsResponse> PushEventsAsync(PushEventsRequest request, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            return await Pushes.PushEventsAsync(request, new CallOptions(_headers, DateTime.UtcNow + (timeout ?? _options.Timeout), cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument && ex.Trailers.GetValueBytes(PushRejectedException.Trailer) is { } bytes)
        {
            throw new PushRejectedException(ex.Status.Detail, PushEventsResponse.Parser.ParseFrom(bytes), ex);
        }
    }

    /// <summary>Closes the channel.</summary>
    public void Dispose() => _channel.Dispose();

    private CallOptions Options(CancellationToken cancellationToken) =>
        new(_headers, DateTime.UtcNow + _options.Timeout, cancellationToken);

    internal static KeyedLookupRequest Keyed(
        IReadOnlyList<string> features, string joinKey, IReadOnlyList<string> keys, DateTimeOffset? asOf, RequestContextColumns? context = null)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentException.ThrowIfNullOrEmpty(joinKey);
        ArgumentNullException.ThrowIfNull(keys);
        if (context is not null && context.Rows != keys.Count)
        {
            throw new ArgumentException($"the request context has {context.Rows} rows for {keys.Count} keys: give one per key", nameof(context));
        }

        (long Seconds, int Nanos)? at = null;
        if (asOf is { } time)
        {
            var timestamp = Timestamp.FromDateTimeOffset(time);
            at = (timestamp.Seconds, timestamp.Nanos);
        }

        return new KeyedLookupRequest(features, joinKey, keys, at, context);
    }

    internal static GetOnlineFeaturesRequest Request(IEnumerable<IReadOnlyDictionary<string, string>> entities, DateTimeOffset? asOf)
    {
        ArgumentNullException.ThrowIfNull(entities);
        var request = new GetOnlineFeaturesRequest();
        foreach (var entity in entities)
        {
            var row = new EntityRow();
            foreach (var (key, value) in entity)
            {
                row.JoinKeys[key] = value;
            }

            request.Entities.Add(row);
        }

        if (asOf is { } at)
        {
            request.AsOf = Timestamp.FromDateTimeOffset(at);
        }

        return request;
    }
}
