using FeatureStore.Contracts.V1;
using FeatureStore.Redis.Online;
using Grpc.Core;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// The gRPC face of <see cref="OnlineLookup"/>: <c>featurestore.v1.OnlineFeatures/GetOnlineFeatures</c>,
/// its answer written straight into the response's encoding (<see cref="LookupAnswerEncoding"/>), and
/// <c>StreamOnlineFeatures</c> (<see cref="LookupStreamSession"/>).
/// </summary>
internal sealed class OnlineFeaturesService(
    OnlineLookup lookup, ApiKeyPolicy keys, Microsoft.Extensions.Logging.ILogger<OnlineFeaturesService> logger, Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime)
    : OnlineFeaturesBinding.ServiceBase
{
    public override async Task StreamOnlineFeatures(IAsyncStreamReader<List<LookupRequest>> requests, IServerStreamWriter<LookupResult[]> answers, ServerCallContext context)
    {
        MalformedRequests.MarkReached(context);
        var apiKey = GrpcCalls.ApiKey(context);
        try
        {
            keys.Authenticate(apiKey);
        }
        catch (LookupException ex)
        {
            throw ex.ToRpc();
        }

        await new LookupStreamSession(lookup, apiKey, logger).RunAsync(requests, answers, context.CancellationToken, lifetime.ApplicationStopping).ConfigureAwait(false);
    }

    // Not async: the lookup's one state machine answers, refusals thrown as RpcExceptions; the request headers are
    // read into metadata only when keys are configured.
    public override Task<LookupAnswer> GetOnlineFeatures(LookupRequest request, ServerCallContext context)
    {
        MalformedRequests.MarkReached(context);
        return lookup.RunAsync(request, keys.Enabled ? GrpcCalls.ApiKey(context) : null, "grpc", context.CancellationToken, rpcErrors: true);
    }
}

/// <summary>
/// Binds <c>featurestore.v1.OnlineFeatures</c> as the generated code does (same service, method and
/// descriptor, so routing and reflection see no difference), with the request read from its encoding by
/// <see cref="LookupRequest"/> and the response written by <see cref="LookupAnswerEncoding"/>.
/// </summary>
internal static class OnlineFeaturesBinding
{
    private static readonly Method<LookupRequest, LookupAnswer> GetOnlineFeatures = new(
        MethodType.Unary,
        OnlineFeatures.Descriptor.FullName,
        nameof(GetOnlineFeatures),
        Marshallers.Create<LookupRequest>(
            static (_, _) => throw new NotSupportedException("lookup requests are only read"),
            static context => LookupRequest.Parse(context.PayloadAsReadOnlySequence())),
        LookupAnswerEncoding.Marshaller);

    private static readonly Method<List<LookupRequest>, LookupResult[]> StreamOnlineFeatures = new(
        MethodType.DuplexStreaming,
        OnlineFeatures.Descriptor.FullName,
        nameof(StreamOnlineFeatures),
        Marshallers.Create<List<LookupRequest>>(
            static (_, _) => throw new NotSupportedException("lookup requests are only read"),
            static context => LookupRequest.ParseBatch(context.PayloadAsReadOnlySequence())),
        LookupAnswerEncoding.BatchMarshaller);

    /// <summary>The service's descriptor, where gRPC reflection looks for it.</summary>
    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => OnlineFeatures.Descriptor;

    public static void BindService(ServiceBinderBase binder, ServiceBase? service)
    {
        binder.AddMethod(GetOnlineFeatures, service is null ? null : service.GetOnlineFeatures);
        binder.AddMethod(StreamOnlineFeatures, service is null ? null : service.StreamOnlineFeatures);
    }

    [BindServiceMethod(typeof(OnlineFeaturesBinding), nameof(BindService))]
    internal abstract class ServiceBase
    {
        public abstract Task<LookupAnswer> GetOnlineFeatures(LookupRequest request, ServerCallContext context);

        public abstract Task StreamOnlineFeatures(IAsyncStreamReader<List<LookupRequest>> requests, IServerStreamWriter<LookupResult[]> answers, ServerCallContext context);
    }
}

/// <summary>The registry service, answered from the cached repository version.</summary>
internal sealed class RegistryService(ViewBuilds builds, ApiKeyPolicy keys, Dashboard.DashboardData data) : Registry.RegistryBase
{
    public override Task<ListDefinitionsResponse> ListDefinitions(ListDefinitionsRequest request, ServerCallContext context) =>
        Answer(context, d => d);

    public override Task<ListEntitiesResponse> ListEntities(ListEntitiesRequest request, ServerCallContext context) =>
        Answer(context, d => new ListEntitiesResponse { Entities = { d.Entities } });

    public override Task<ListFeatureViewsResponse> ListFeatureViews(ListFeatureViewsRequest request, ServerCallContext context) =>
        Answer(context, d => new ListFeatureViewsResponse { FeatureViews = { d.FeatureViews } });

    public override Task<ListFeaturesResponse> ListFeatures(ListFeaturesRequest request, ServerCallContext context) =>
        Answer(context, d =>
        {
            if (request.FeatureView.Length > 0 && d.FeatureViews.All(v => v.Name != request.FeatureView))
            {
                throw new LookupException(StatusCode.NotFound, $"no feature view '{ThrowHelper.Shown(request.FeatureView)}'");
            }

            return new ListFeaturesResponse
            {
                Features = { d.FeatureViews.Where(v => request.FeatureView.Length == 0 || v.Name == request.FeatureView).SelectMany(v => v.Features) },
            };
        });

    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context) =>
        Answer(context, d => new ListModelsResponse { Models = { d.Models } });

    public override Task<EntityInfo> DescribeEntity(DescribeRequest request, ServerCallContext context) =>
        Answer(context, d => d.Entities.FirstOrDefault(e => e.Name == request.Name) ?? throw NotFound("entity", request.Name));

    public override Task<FeatureViewInfo> DescribeFeatureView(DescribeRequest request, ServerCallContext context) =>
        Answer(context, d => d.FeatureViews.FirstOrDefault(v => v.Name == request.Name) ?? throw NotFound("feature view", request.Name));

    public override Task<FeatureInfo> DescribeFeature(DescribeRequest request, ServerCallContext context) =>
        Answer(context, d => d.FeatureViews.SelectMany(v => v.Features).FirstOrDefault(f => f.Reference == request.Name)
            ?? throw NotFound("feature", request.Name + (request.Name.Contains(':', StringComparison.Ordinal) ? "" : " (name it view:feature)")));

    public override Task<ModelInfo> DescribeModel(DescribeRequest request, ServerCallContext context) =>
        Answer(context, d => d.Models.FirstOrDefault(m => m.Name == request.Name) ?? throw NotFound("model", request.Name));

    public override async Task<GetModelHistoryResponse> GetModelHistory(GetModelHistoryRequest request, ServerCallContext context)
    {
        MalformedRequests.MarkReached(context);
        try
        {
            keys.Authenticate(GrpcCalls.ApiKey(context));
            if (request.Limit < 0)
            {
                ThrowHelper.ThrowInvalid($"limit must be 0 (for {Dashboard.DashboardData.DefaultStageChanges}) or a whole number from 1 to {Redis.Models.StageHistory.Limit}, not {request.Limit}");
            }

            var limit = request.Limit == 0 ? Dashboard.DashboardData.DefaultStageChanges : request.Limit;
            var changes = await data.StageHistoryAsync(request.Model, limit, "set model in the request", context.CancellationToken).ConfigureAwait(false);
            return new GetModelHistoryResponse { Changes = { changes.Select(RegistryAnswers.StageChange) } };
        }
        catch (LookupException ex)
        {
            throw ex.ToRpc();
        }
        catch (Exception ex) when (Redis.Online.OnlineStoreHealth.IsStoreFailure(ex))
        {
            throw LookupException.Unavailable($"the online store is unavailable: {ex.Message}", ex).ToRpc();
        }
    }

    private async Task<T> Answer<T>(ServerCallContext context, Func<ListDefinitionsResponse, T> answer)
    {
        MalformedRequests.MarkReached(context);
        try
        {
            keys.Authenticate(GrpcCalls.ApiKey(context));
            return answer(await builds.DefinitionsAsync(context.CancellationToken).ConfigureAwait(false));
        }
        catch (LookupException ex)
        {
            throw ex.ToRpc();
        }
    }

    private static LookupException NotFound(string what, string name) => new(StatusCode.NotFound, $"no {what} '{ThrowHelper.Shown(name)}'");
}

/// <summary>The gRPC face of <see cref="Exports.ExportJobRunner"/>.</summary>
internal sealed class ExportJobsService(Exports.ExportJobRunner runner) : ExportJobs.ExportJobsBase
{
    public override Task<ExportJob> StartExport(StartExportRequest request, ServerCallContext context) =>
        Answer(() => runner.Start(request, GrpcCalls.ApiKey(context)));

    public override Task<ExportJob> GetExport(GetExportRequest request, ServerCallContext context) =>
        Answer(() => runner.Get(request.Id, GrpcCalls.ApiKey(context)));

    public override Task<ListExportsResponse> ListExports(ListExportsRequest request, ServerCallContext context) =>
        Answer(() => runner.List(GrpcCalls.ApiKey(context)));

    public override Task<ExportJob> CancelExport(GetExportRequest request, ServerCallContext context) =>
        Answer(() => runner.Cancel(request.Id, GrpcCalls.ApiKey(context)));

    private static Task<T> Answer<T>(Func<T> answer)
    {
        try
        {
            return Task.FromResult(answer());
        }
        catch (LookupException ex)
        {
            throw ex.ToRpc();
        }
    }
}

internal static class GrpcCalls
{
    public static string? ApiKey(ServerCallContext context) =>
        ApiKeyPolicy.FromHeaders(context.RequestHeaders.GetValue("x-api-key"), context.RequestHeaders.GetValue("authorization"));
}

/// <summary>
/// <c>featurestore.v1.DriftMonitor</c>: the monitor's drift and performance history and incidents, read as the HTTP routes
/// read them (<see cref="Dashboard.DashboardData"/>); any valid API key may read them.
/// </summary>
internal sealed class DriftMonitorService(Dashboard.DashboardData data) : DriftMonitor.DriftMonitorBase
{
    /// <summary>Windows returned when the request sets no limit, as <c>GET /v1/drift/history</c>.</summary>
    public const int DefaultLimit = 500;

    public override Task<GetDriftHistoryResponse> GetDriftHistory(GetDriftHistoryRequest request, ServerCallContext context) =>
        AnswerAsync(context, async cancellationToken =>
        {
            if (request.Limit < 0)
            {
                ThrowHelper.ThrowInvalid($"limit must be 0 (for {DefaultLimit}) or a whole number from 1 to {Dashboard.DashboardData.MaxWindows}, not {request.Limit}");
            }

            var limit = request.Limit == 0 ? DefaultLimit : Math.Min(request.Limit, Dashboard.DashboardData.MaxWindows);
            var history = await data.HistoryAsync(request.Model, request.Version, request.Column.Length == 0 ? null : request.Column, limit,
                "set model and version in the request", cancellationToken).ConfigureAwait(false);
            return Dashboard.DriftAnswers.History(history);
        });

    public override Task<GetPerformanceHistoryResponse> GetPerformanceHistory(GetPerformanceHistoryRequest request, ServerCallContext context) =>
        AnswerAsync(context, async cancellationToken =>
        {
            if (request.Limit < 0)
            {
                ThrowHelper.ThrowInvalid($"limit must be 0 (for {DefaultLimit}) or a whole number from 1 to {Dashboard.DashboardData.MaxWindows}, not {request.Limit}");
            }

            var limit = request.Limit == 0 ? DefaultLimit : Math.Min(request.Limit, Dashboard.DashboardData.MaxWindows);
            var history = await data.PerformanceHistoryAsync(request.Model, request.Version, request.HasSegment ? request.Segment : null, limit,
                "set model and version in the request", cancellationToken).ConfigureAwait(false);
            return Dashboard.PerformanceAnswers.History(history);
        });

    public override Task<ListAlertsResponse> ListAlerts(ListAlertsRequest request, ServerCallContext context) =>
        AnswerAsync(context, async cancellationToken => Dashboard.DriftAnswers.Alerts(await data.AlertsAsync(cancellationToken).ConfigureAwait(false)));

    private async Task<T> AnswerAsync<T>(ServerCallContext context, Func<CancellationToken, Task<T>> answer)
    {
        MalformedRequests.MarkReached(context);
        try
        {
            data.Keys.Authenticate(GrpcCalls.ApiKey(context));
            return await answer(context.CancellationToken).ConfigureAwait(false);
        }
        catch (LookupException ex)
        {
            throw ex.ToRpc();
        }
        catch (Exception ex) when (OnlineStoreHealth.IsStoreFailure(ex))
        {
            throw LookupException.Unavailable($"the online store is unavailable: {ex.Message}", ex).ToRpc();
        }
    }
}
