using System.Buffers;
using System.Diagnostics;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Expressions;
using FeatureStore.Core.Windows;
using FeatureStore.Redis.Online;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// The one lookup both the gRPC service and the HTTP mirror run: resolve the references against the
/// cached repository, build every (view, entity) key, read them in one round trip, evaluate each state
/// at the lookup's instant with the §4 implementation, and shape the answer.
/// </summary>
internal sealed class OnlineLookup
{
    private readonly RegistryCache _registry;
    private readonly OnlineStateReader _reader;
    private readonly ApiKeyPolicy _keys;
    private readonly FeatureServerOptions _options;
    private readonly ServingMetrics _metrics;
    private readonly ILogger _logger;
    private readonly RecentLatencies? _latencies;
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<StateGroup, byte[]> _prefixes = new();

    // Lookups of at least this many keys are evaluated by several workers, at most this many.
    private const int ParallelKeys = 64;
    private const int MaxWorkers = 4;

    public OnlineLookup(RegistryCache registry, OnlineStateReader reader, ApiKeyPolicy keys, FeatureServerOptions options, ServingMetrics metrics, ILogger logger, RecentLatencies? latencies = null)
    {
        _latencies = latencies;
        _registry = registry;
        _reader = reader;
        _keys = keys;
        _options = options;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>
    /// A lookup with its metrics: the duration (from <paramref name="start"/>, a timestamp, when the request was read before),
    /// and the outcome by status code. A refusal is thrown as the <see cref="LookupException"/>, or with
    /// <paramref name="rpcErrors"/> as the <see cref="RpcException"/> gRPC answers it with.
    /// </summary>
    public Task<LookupAnswer> RunAsync(LookupRequest request, string? apiKey, string transport, CancellationToken cancellationToken, long? start = null, bool rpcErrors = false) =>
        LookupAsync(request, apiKey, transport, rpcErrors, cancellationToken, start ?? Stopwatch.GetTimestamp());

    /// <summary>A lookup without metrics (tests and benchmarks).</summary>
    public Task<LookupAnswer> LookupAsync(LookupRequest request, string? apiKey, CancellationToken cancellationToken) =>
        LookupAsync(request, apiKey, null, rpcErrors: false, cancellationToken, 0);

    // One async method from the request to the answer (with its metrics when a transport is named): a unary lookup
    // keeps one state machine rather than one per layer.
    private async Task<LookupAnswer> LookupAsync(LookupRequest request, string? apiKey, string? transport, bool rpcErrors, CancellationToken cancellationToken, long started)
    {
        var keys = ArrayPool<RedisKey>.Shared.Rent(16);
        try
        {
            var principal = _keys.Authenticate(apiKey);
            var served = _registry.Current;
            var lookup = Prepare(served, request, principal, ref keys, 0);
            StoredShares? shares = null;
            if (lookup.Keys > 0)
            {
                try
                {
                    shares = await ReadAsync(keys, lookup.Keys, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsStoreFailure(ex))
                {
                    ThrowStoreFailure(ex);
                }
            }

            using var read = shares;
            var answer = Shape(served, lookup, shares);
            return transport is null ? answer : Answered(answer, transport, started);
        }
        catch (LookupException ex) when (transport is not null)
        {
            Refused(ex, transport, started);
            if (rpcErrors)
            {
                throw ex.ToRpc();
            }

            throw;
        }
        finally
        {
            ArrayPool<RedisKey>.Shared.Return(keys, clearArray: true);
        }
    }

    /// <summary>
    /// The lookups of one stream message, with their metrics: each resolved and refused on its own, their
    /// states read together (one round trip for as many of them as fit in the row limit together), each
    /// answered or failed with its status, in order.
    /// </summary>
    public async Task<LookupResult[]> RunManyAsync(List<LookupRequest> requests, string? apiKey, string transport, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var results = new LookupResult[requests.Count];
        var prepared = new Prepared[requests.Count];
        var keys = ArrayPool<RedisKey>.Shared.Rent(Math.Max(16, requests.Count * 2));
        try
        {
            HashSet<string>? principal;
            try
            {
                principal = _keys.Authenticate(apiKey);
            }
            catch (LookupException ex)
            {
                for (var i = 0; i < requests.Count; i++)
                {
                    results[i] = Failed(ex, transport, start);
                }

                return results;
            }

            var served = _registry.Current;
            for (var first = 0; first < requests.Count;)
            {
                // One group: the lookups from `first` on whose rows together stay within the row limit (at least one).
                var count = 0;
                var rows = 0;
                var end = first;
                for (; end < requests.Count && (end == first || rows + requests[end].Rows <= _options.MaxEntities); end++)
                {
                    rows += requests[end].Rows;
                    try
                    {
                        prepared[end] = Prepare(served, requests[end], principal, ref keys, count);
                        count += prepared[end].Keys;
                    }
                    catch (LookupException ex)
                    {
                        results[end] = Failed(ex, transport, start);
                    }
                }

                try
                {
                    StoredShares? shares = null;
                    if (count > 0)
                    {
                        try
                        {
                            shares = await ReadAsync(keys, count, cancellationToken).ConfigureAwait(false);
                        }
                        catch (Exception ex) when (IsStoreFailure(ex))
                        {
                            ThrowStoreFailure(ex);
                        }
                    }

                    using var read = shares;
                    for (var i = first; i < end; i++)
                    {
                        if (results[i] is null)
                        {
                            results[i] = new LookupResult(Answered(Shape(served, prepared[i], shares), transport, start));
                        }
                    }
                }
                catch (LookupException ex)
                {
                    for (var i = first; i < end; i++)
                    {
                        results[i] ??= Failed(ex, transport, start);
                    }
                }

                first = end;
            }

            return results;
        }
        finally
        {
            ArrayPool<RedisKey>.Shared.Return(keys, clearArray: true);
        }
    }

    /// <summary>Counts an answered lookup (its duration and values) and returns it.</summary>
    private LookupAnswer Answered(LookupAnswer answer, string transport, long start)
    {
        var elapsed = Stopwatch.GetElapsedTime(start);
        _metrics.Lookup(transport, "OK", elapsed.TotalSeconds, (long)answer.Rows * answer.Names.Count);
        _latencies?.Record(_options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds(), elapsed.TotalMilliseconds);
        return answer;
    }

    /// <summary>
    /// Counts a refused or failed lookup by its status (and logs it when the store is unavailable); also called
    /// for a lookup refused before it could run (a body or message that does not parse).
    /// </summary>
    public void Refused(LookupException ex, string transport, long start)
    {
        var status = StatusNames.Of(ex.Status);
        _metrics.Lookup(transport, status, Stopwatch.GetElapsedTime(start).TotalSeconds, 0);
        if (ex.Status == StatusCode.Unavailable)
        {
            _logger.LookupFailed(status, ex.Message);
        }
    }

    private LookupResult Failed(LookupException ex, string transport, long start)
    {
        Refused(ex, transport, start);
        return new LookupResult(ex.Status, ex.Message);
    }

    /// <summary>
    /// One view a lookup reads: <see cref="Groups"/> is the mask (<see cref="ViewReading.Bit"/>) of its serving
    /// groups that hold a requested feature, <see cref="Count"/> how many they are; its keys start
    /// <see cref="FirstKey"/> keys into the lookup's, entity row by entity row, each row's groups in order.
    /// </summary>
    private readonly record struct ViewKeys(int View, long Groups, int Count, int FirstKey);

    /// <summary>A lookup resolved and checked, its keys written into the read's key array from <see cref="FirstKey"/> on.</summary>
    private readonly record struct Prepared(List<FeatureColumn> Columns, int[] SlotOfView, ViewKeys[] Used, int Rows, long AtMs, int FirstKey, int Keys, RequestPlan? Requests = null);

    /// <summary>
    /// The request-time features of a lookup: the columns before <see cref="Visible"/> are answered (the rest are
    /// stored features read only for the request views); the request views used, where each one's values start
    /// in a row's request part, and each one's context, row by row.
    /// </summary>
    private sealed record RequestPlan(int Visible, int[] Views, int[] Base, int Width, ContextValue[][] Context);

    /// <summary>
    /// Resolves <paramref name="request"/>'s references, checks its size and the key's rights, and writes the
    /// (group, entity) keys it reads into <paramref name="keys"/> from <paramref name="at"/> on (growing the
    /// pooled array when needed): view slot by view slot, entity row by entity row, for each row the serving
    /// groups of the view that hold a requested feature (one for a view never changed). Features whose group
    /// is building read nothing.
    /// </summary>
    private Prepared Prepare(ServingRepository served, LookupRequest request, HashSet<string>? principal, ref RedisKey[] keys, int at)
    {
        var columns = Resolve(served, request);
        var rows = request.Rows;
        if (rows > _options.MaxEntities)
        {
            throw new LookupException(StatusCode.ResourceExhausted,
                $"{rows} entity rows asked for; this server answers at most {_options.MaxEntities} per lookup (split the request)");
        }

        var requests = PlanRequests(served, request, columns);

        // The views the columns span, each once, in first-use order, with the groups their columns are in.
        var slotOfView = new int[served.Views.Length];
        Array.Fill(slotOfView, -1);
        var viewCount = 0;
        var masks = ArrayPool<long>.Shared.Rent(served.Views.Length);
        try
        {
            foreach (var column in columns)
            {
                var v = column.ViewIndex;
                if (v < 0)
                {
                    continue;
                }

                if (slotOfView[v] < 0)
                {
                    slotOfView[v] = viewCount++;
                    masks[v] = 0;
                }

                var group = served.Reading[v].GroupOf[column.FeatureIndex];
                if (group >= 0)
                {
                    masks[v] |= ViewReading.Bit(group);
                }
            }

            var used = new ViewKeys[viewCount];
            var count = 0;
            for (var v = 0; v < served.Views.Length; v++)
            {
                if (slotOfView[v] >= 0)
                {
                    ApiKeyPolicy.Authorize(principal, served.Views[v].Name);
                    var groups = 0;
                    for (var g = 0; g < served.Views[v].Groups.Count; g++)
                    {
                        groups += served.Reading[v].Reads(masks[v], g) ? 1 : 0;
                    }

                    used[slotOfView[v]] = new ViewKeys(v, masks[v], groups, 0);
                }
            }

            for (var u = 0; u < used.Length; u++)
            {
                used[u] = used[u] with { FirstKey = count };
                count += used[u].Count * rows;
            }

            var atMs = request.AsOf is { } asOf ? AsOfMs(asOf)
                : _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
            if (at + count > keys.Length)
            {
                var grown = ArrayPool<RedisKey>.Shared.Rent(Math.Max(at + count, keys.Length * 2));
                keys.AsSpan(0, at).CopyTo(grown);
                ArrayPool<RedisKey>.Shared.Return(keys, clearArray: true);
                keys = grown;
            }

            foreach (var (v, mask, groups, first) in used)
            {
                if (groups == 0)
                {
                    continue;
                }

                var view = served.Views[v];
                var reading = served.Reading[v];
                for (var e = 0; e < rows; e++)
                {
                    var entity = EntityKey(served, v, request, e);
                    var key = at + first + (e * groups);
                    for (var g = 0; g < view.Groups.Count; g++)
                    {
                        if (reading.Reads(mask, g))
                        {
                            keys[key++] = ((RedisKey)entity).Prepend(EntityPrefix(view.Groups[g]));
                        }
                    }
                }
            }

            return new Prepared(columns, slotOfView, used, rows, atMs, at, count, requests);
        }
        finally
        {
            ArrayPool<long>.Shared.Return(masks);
        }
    }

    /// <summary>
    /// The bytes before the entity in a key of <paramref name="group"/>, made once per group (a group of a repository version
    /// replaced goes with it): a key is then these bytes and the request's entity string, no string built per key.
    /// </summary>
    private RedisKey EntityPrefix(StateGroup group)
    {
        if (!_prefixes.TryGetValue(group, out var prefix))
        {
            prefix = _prefixes.GetValue(group, g => _registry.Keys.EntityPrefix(g));
        }

        return prefix;
    }

    /// <summary>
    /// Reads the keys, a store failure thrown as UNAVAILABLE. Awaited by its caller's state machine, with the failure
    /// translated in its filter (<see cref="ThrowStoreFailure"/>), rather than by an async method of its own per lookup.
    /// </summary>
    private Task<StoredShares> ReadAsync(RedisKey[] keys, int count, CancellationToken cancellationToken) =>
        _reader.ReadAsync(keys, count, _options.StoreTimeout, cancellationToken);

    /// <summary>Whether <paramref name="ex"/>, thrown by a read, is the store failing (then <see cref="ThrowStoreFailure"/> throws it as UNAVAILABLE).</summary>
    private static bool IsStoreFailure(Exception ex) =>
        ex is TimeoutException or RedisConnectionException or ObjectDisposedException || (ex is RedisServerException server && OnlineStoreHealth.IsTransient(server));

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void ThrowStoreFailure(Exception ex)
    {
        switch (ex)
        {
            case TimeoutException:
                ThrowHelper.ThrowUnavailable($"the online store did not answer within {_options.StoreTimeout.TotalMilliseconds:0} ms", ex);
                break;
            case ObjectDisposedException:
                ThrowHelper.ThrowUnavailable("the online store connection is closed", ex);
                break;
            default:
                // A cluster failing a master over or moving a slot (transient): a retry in a moment is answered.
                ThrowHelper.ThrowUnavailable($"the online store is unavailable: {ex.Message}", ex);
                break;
        }

        throw new UnreachableException();
    }

    // protobuf's Timestamp range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
    private static long AsOfMs((long Seconds, int Nanos) asOf) =>
        asOf.Seconds is < -62_135_596_800 or > 253_402_300_799 || asOf.Nanos is < 0 or > 999_999_999
            ? ThrowHelper.ThrowInvalid<long>($"as_of is not a valid timestamp (seconds {asOf.Seconds}, nanos {asOf.Nanos}): it must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
            : (asOf.Seconds * 1000) + (asOf.Nanos / 1_000_000);

    private List<FeatureColumn> Resolve(ServingRepository served, LookupRequest request)
    {
        var columns = new List<FeatureColumn>(request.Features.Count + 8);
        foreach (var reference in request.Features)
        {
            columns.AddRange(served.Resolve(reference) ?? served.ResolveRequest(reference) ?? ThrowHelper.ThrowInvalid<FeatureColumn[]>(Unknown(served, reference)));
        }

        if (request.Model.Length > 0)
        {
            columns.AddRange(served.ResolveModel(request.Model, _registry.ModelStages) ?? ThrowHelper.ThrowInvalid<FeatureColumn[]>(
                $"unknown model '{ThrowHelper.Shown(request.Model)}' (models: {string.Join(", ", served.Repository.Models.Select(m => m.Name))})"));
        }

        if (columns.Count == 0)
        {
            ThrowHelper.ThrowInvalid("no features asked for: give feature references (view:feature or view) or a model");
        }

        return columns;
    }

    private static string Unknown(ServingRepository served, string reference)
    {
        var colon = reference.IndexOf(':', StringComparison.Ordinal);
        var viewName = colon < 0 ? reference : reference[..colon];
        var view = served.Compiled.FindView(viewName);
        if (served.Compiled.FindRequestView(viewName) is { } requestView)
        {
            return $"unknown feature '{ThrowHelper.Shown(reference[(colon + 1)..])}' in request view '{viewName}' (features: {string.Join(", ", requestView.Definition.Features.Select(f => f.Name))})";
        }

        if (view is null)
        {
            return $"unknown feature view '{ThrowHelper.Shown(viewName)}' in '{ThrowHelper.Shown(reference)}' (views: {string.Join(", ", served.Views.Select(v => v.Name).Concat(served.Compiled.RequestViews.Select(v => v.Name)))})";
        }

        return $"unknown feature '{ThrowHelper.Shown(reference[(colon + 1)..])}' in view '{viewName}' (features: {string.Join(", ", view.Definition.Features.Select(f => f.Name))})";
    }

    private static string EntityKey(ServingRepository served, int view, LookupRequest request, int index)
    {
        var joinKeys = served.JoinKeys[view];
        if (joinKeys.Length == 1)
        {
            return JoinValue(served, view, request, index, joinKeys[0]);
        }

        var parts = new string[joinKeys.Length];
        for (var k = 0; k < joinKeys.Length; k++)
        {
            parts[k] = JoinValue(served, view, request, index, joinKeys[k]);
        }

        return string.Join('|', parts);
    }

    private static string JoinValue(ServingRepository served, int view, LookupRequest request, int index, string joinKey)
    {
        var found = request.TryGetJoinKey(index, joinKey, out var value);
        if (!found || value.Length == 0)
        {
            // Rows are numbered from 1, as the export numbers the entity table's rows and `get` its --entity options.
            ThrowHelper.ThrowInvalid(
                $"entity row {index + 1} has no {(found ? "value for " : "")}join key '{joinKey}' (entity '{served.Views[view].Definition.Entity}' of view '{served.Views[view].Name}')");
        }

        return value;
    }

    private static LookupAnswer Shape(ServingRepository served, in Prepared lookup, StoredShares? shares)
    {
        var (columns, slotOfView, used, rows, atMs) = (lookup.Columns, lookup.SlotOfView, lookup.Used, lookup.Rows, lookup.AtMs);
        // Values of entity row e, view slot u, feature f at ((e * used) + u) * maxFeatures + f.
        var maxFeatures = 0;
        foreach (var read in used)
        {
            maxFeatures = Math.Max(maxFeatures, served.Views[read.View].Features.Count);
        }

        var requests = lookup.Requests;
        var stored = used.Length * maxFeatures;
        var stride = stored + (requests?.Width ?? 0);
        var visible = requests?.Visible ?? columns.Count;
        var names = new string[visible];
        var offsets = new int[visible];
        for (var c = 0; c < visible; c++)
        {
            names[c] = columns[c].Reference;
            offsets[c] = columns[c].IsRequest
                ? stored + requests!.Base[Array.IndexOf(requests.Views, columns[c].RequestView)] + columns[c].FeatureIndex
                : (slotOfView[columns[c].ViewIndex] * maxFeatures) + columns[c].FeatureIndex;
        }

        var evaluated = ArrayPool<CoreValue>.Shared.Rent(Math.Max(1, rows * stride));
        try
        {
            // Work goes by (view slot, entity row), view slot by view slot, as the keys do. A large lookup's rows
            // are split into one run per worker, each read from its own reader over the same reply (after stepping
            // over the keys before its run), so the decoding is shared among the cores.
            var units = used.Length * rows;
            var workers = shares is null || lookup.Keys < ParallelKeys ? 1 : Math.Min(MaxWorkers, Environment.ProcessorCount);
            if (workers == 1)
            {
                EvaluateRun(served, lookup, shares, 0, units, evaluated, maxFeatures, stride);
            }
            else
            {
                EvaluateParallel(served, lookup, shares, units, workers, evaluated, maxFeatures, stride);
            }
        }
        catch
        {
            ArrayPool<CoreValue>.Shared.Return(evaluated, clearArray: true);
            throw;
        }

        if (requests is not null)
        {
            EvaluateRequests(served, lookup, requests, evaluated, maxFeatures, stride);
        }

        for (var c = 0; c < visible; c++)
        {
            if (!columns[c].IsRequest)
            {
                served.Served.Count(columns[c].ViewIndex, columns[c].FeatureIndex, evaluated, offsets[c], rows, stride);
            }
        }

        return new LookupAnswer(names, offsets, evaluated, rows, stride, atMs, served.Version);
    }

    // Apart from Shape, whose every call would otherwise allocate this closure's captures, parallel or not.
    private static void EvaluateParallel(
        ServingRepository served, Prepared lookup, StoredShares? shares, int units, int workers, CoreValue[] evaluated, int maxFeatures, int stride)
    {
        try
        {
            Parallel.For(0, workers, w => EvaluateRun(served, lookup, shares, units * w / workers, units * (w + 1) / workers, evaluated, maxFeatures, stride));
        }
        catch (AggregateException ex)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
        }
    }

    /// <summary>
    /// The request-time part of a lookup, or null when it asks for none: appends the stored features the request
    /// views read to <paramref name="columns"/> (after the answered ones) and reads every row's context, checked
    /// against the views' context fields (INVALID_ARGUMENT naming a missing or mistyped field).
    /// </summary>
    private static RequestPlan? PlanRequests(ServingRepository served, LookupRequest request, List<FeatureColumn> columns)
    {
        var visible = columns.Count;
        List<int>? views = null;
        for (var c = 0; c < visible; c++)
        {
            if (columns[c].IsRequest && !(views ??= []).Contains(columns[c].RequestView))
            {
                views.Add(columns[c].RequestView);
            }
        }

        if (views is null)
        {
            return null;
        }

        var bases = new int[views.Count];
        var width = 0;
        var context = new ContextValue[views.Count][];
        for (var i = 0; i < views.Count; i++)
        {
            var view = served.RequestViews[views[i]];
            columns.AddRange(served.RequestDependencies[views[i]]);
            bases[i] = width;
            width += view.Definition.Features.Count;
            var fields = view.Context;
            var values = new ContextValue[request.Rows * fields.Count];
            for (var row = 0; row < request.Rows; row++)
            {
                for (var f = 0; f < fields.Count; f++)
                {
                    values[(row * fields.Count) + f] = ServingRepository.ContextOf(request, row, fields[f], view.Name);
                }
            }

            context[i] = values;
        }

        return new RequestPlan(visible, [.. views], bases, width, context);
    }

    /// <summary>
    /// Evaluates the request views of a lookup row by row, from the stored values just evaluated into the same
    /// rows (the request part of each row starts after its stored part).
    /// </summary>
    private static void EvaluateRequests(ServingRepository served, in Prepared lookup, RequestPlan requests, CoreValue[] evaluated, int maxFeatures, int stride)
    {
        var stored = lookup.Used.Length * maxFeatures;
        var most = 0;
        foreach (var r in requests.Views)
        {
            most = Math.Max(most, served.RequestDependencies[r].Length);
        }

        var inputs = ArrayPool<CoreValue>.Shared.Rent(Math.Max(1, most));
        try
        {
            for (var i = 0; i < requests.Views.Length; i++)
            {
                var view = served.RequestViews[requests.Views[i]];
                var dependencies = served.RequestDependencies[requests.Views[i]];
                var contextWidth = view.Context.Count;
                var width = view.Definition.Features.Count;
                for (var e = 0; e < lookup.Rows; e++)
                {
                    var row = e * stride;
                    for (var d = 0; d < dependencies.Length; d++)
                    {
                        inputs[d] = evaluated[row + (lookup.SlotOfView[dependencies[d].ViewIndex] * maxFeatures) + dependencies[d].FeatureIndex];
                    }

                    view.Evaluate(inputs.AsSpan(0, dependencies.Length), requests.Context[i].AsSpan(e * contextWidth, contextWidth),
                        evaluated.AsSpan(row + stored + requests.Base[i], width));
                }
            }
        }
        finally
        {
            ArrayPool<CoreValue>.Shared.Return(inputs, clearArray: true);
        }
    }

    /// <summary>
    /// Evaluates (view slot, entity row) units <paramref name="from"/> to <paramref name="to"/> (exclusive) of the
    /// lookup, view slot by view slot; the lookup's keys start <see cref="Prepared.FirstKey"/> keys into the reply.
    /// </summary>
    private static void EvaluateRun(
        ServingRepository served, in Prepared lookup, StoredShares? shares, int from, int to, CoreValue[] evaluated, int maxFeatures, int stride)
    {
        if (from >= to)
        {
            return;
        }

        var (used, rows) = (lookup.Used, lookup.Rows);
        var reader = shares is null ? new ShareReader(default, null, 0) : shares.Reader();
        var u = from / rows;
        var skip = lookup.FirstKey + used[u].FirstKey + ((from - (u * rows)) * used[u].Count);
        for (var k = 0; k < skip; k++)
        {
            reader.SkipKey();
        }

        for (var k = from; k < to;)
        {
            u = k / rows;
            var end = Math.Min(to, (u + 1) * rows);
            Evaluate(served, used[u], ref reader, k - (u * rows), end - k, lookup.AtMs, evaluated.AsSpan(u * maxFeatures), stride);
            k = end;
        }
    }

    /// <summary>
    /// Decodes <paramref name="rows"/> entities of one view from row <paramref name="first"/> on (the next keys of
    /// <paramref name="shares"/>: per row, each group read), one group state at a time into a reused state, and
    /// evaluates each at <paramref name="atMs"/> into <paramref name="values"/> (row e at e × <paramref name="stride"/>,
    /// each feature at its index in the view). Features whose group is building answer BUILDING.
    /// </summary>
    private static void Evaluate(ServingRepository served, in ViewKeys read, ref ShareReader shares, int first, int rows, long atMs, Span<CoreValue> values, int stride)
    {
        var view = read.View;
        var reading = served.Reading[view];
        var n = served.Views[view].Features.Count;
        if (reading.Direct)
        {
            // A view never changed: its one group's slots are its features, evaluated straight into the answer.
            var state = served.RentState(view, 0);
            ViewWindowState? share = null;
            try
            {
                for (var e = first; e < first + rows; e++)
                {
                    Load(served, view, 0, state, ref share, ref shares, atMs);
                    state.Evaluate(atMs, values.Slice(e * stride, n));
                }
            }
            finally
            {
                served.ReturnState(view, 0, state);
                if (share is not null)
                {
                    served.ReturnState(view, 0, share);
                }
            }

            return;
        }

        var groups = served.Views[view].Groups;
        var slots = ArrayPool<CoreValue>.Shared.Rent(Math.Max(1, reading.MaxSlots));
        try
        {
            for (var e = first; e < first + rows; e++)
            {
                var row = values.Slice(e * stride, n);
                if (reading.Building)
                {
                    for (var f = 0; f < n; f++)
                    {
                        if (reading.GroupOf[f] < 0)
                        {
                            row[f] = CoreValue.Null(ValueStatus.Building);
                        }
                    }
                }

                for (var g = 0; g < groups.Count; g++)
                {
                    if (!reading.Reads(read.Groups, g))
                    {
                        continue;
                    }

                    var state = served.RentState(view, g);
                    ViewWindowState? share = null;
                    try
                    {
                        Load(served, view, g, state, ref share, ref shares, atMs);
                        var count = groups[g].Features.Count;
                        state.Evaluate(atMs, slots.AsSpan(0, count));
                        var features = reading.FeatureOfSlot[g];
                        for (var s = 0; s < count; s++)
                        {
                            if (features[s] >= 0)
                            {
                                row[features[s]] = slots[s];
                            }
                        }
                    }
                    finally
                    {
                        served.ReturnState(view, g, state);
                        if (share is not null)
                        {
                            served.ReturnState(view, g, share);
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<CoreValue>.Shared.Return(slots, clearArray: true);
        }
    }

    /// <summary>
    /// Loads the next key's shares (one group's hash of one entity) into <paramref name="state"/>, merged, for
    /// evaluation at <paramref name="atMs"/>; <paramref name="share"/> is rented when there are several.
    /// </summary>
    private static void Load(ServingRepository served, int view, int group, ViewWindowState state, ref ViewWindowState? share, ref ShareReader shares, long atMs)
    {
        var count = shares.NextKey();
        if (count == 0)
        {
            state.Reset();
        }
        else if (count == 1)
        {
            state.LoadForEvaluation(shares.NextShare(), atMs);
        }
        else
        {
            // Several partitions' shares: cutting a tile at atMs needs every share's raw entries when any
            // share holds an event after it; otherwise tiles alone suffice.
            var from = atMs;
            var again = shares.Mark();
            for (var s = 0; s < count; s++)
            {
                if (ViewWindowState.StoredLastEventTime(shares.NextShare()) > atMs)
                {
                    from = long.MinValue;
                }
            }

            share ??= served.RentState(view, group);
            state.LoadForEvaluation(again.NextShare(), from);
            for (var s = 1; s < count; s++)
            {
                share.LoadForEvaluation(again.NextShare(), from);
                state.MergeFrom(share);
            }
        }
    }
}
