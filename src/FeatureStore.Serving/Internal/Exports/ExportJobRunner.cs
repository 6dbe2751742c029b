using System.Collections.Concurrent;
using System.Threading.Channels;
using FeatureStore.Contracts.V1;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Tables;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Serving.Internal.Exports;

/// <summary>
/// Point-in-time exports started over gRPC: checked when started (features, model, paths, keys), queued,
/// and run one at a time with the same <see cref="PointInTimeExport"/> the command line runs. Files are
/// read and written only inside the export folder; jobs live in memory (a restart forgets them, and an
/// export that did not finish leaves no output).
/// </summary>
internal sealed class ExportJobRunner : IAsyncDisposable
{
    private const int MaxQueued = 16;
    private readonly RegistryCache _registry;
    private readonly ApiKeyPolicy _keys;
    private readonly FeatureServerOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly Channel<Job> _queue = Channel.CreateBounded<Job>(MaxQueued);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lazy<Task> _worker;

    public ExportJobRunner(RegistryCache registry, ApiKeyPolicy keys, FeatureServerOptions options, ILogger logger)
    {
        _registry = registry;
        _keys = keys;
        _options = options;
        _logger = logger;
        _worker = new Lazy<Task>(() => Task.Run(WorkAsync));
    }

    public ExportJob Start(StartExportRequest request, string? apiKey)
    {
        var principal = _keys.Authenticate(apiKey);
        if (_options.OfflineStore is not { } store || _options.ExportDirectory is not { } folder)
        {
            throw new LookupException(StatusCode.FailedPrecondition,
                "this server runs no exports: start it with an offline store and an export folder (serve --store DIR --export-dir DIR)");
        }

        var served = _registry.Current;
        IReadOnlyList<FeatureSelection> selection;
        try
        {
            var references = request.Features.ToList();
            if (request.Model.Length > 0)
            {
                references.AddRange(FeatureSelection.ModelFeatures(served.Compiled, request.Model));
            }

            selection = FeatureSelection.Parse(served.Compiled, references);
        }
        catch (ArgumentException ex)
        {
            selection = ThrowHelper.ThrowInvalid<IReadOnlyList<FeatureSelection>>(ex.Message);
        }

        foreach (var view in selection)
        {
            ApiKeyPolicy.Authorize(principal, view.View.Name);
        }

        var entities = ExportFolder.Resolve(folder, request.Entities, "entities");
        if (!File.Exists(entities))
        {
            ThrowHelper.ThrowInvalid($"entities: no file '{request.Entities}' in the export folder");
        }

        var output = ExportFolder.Resolve(folder, request.Output, "output");
        var job = new Job(Guid.NewGuid().ToString("N")[..12], request.Clone(), served.Compiled, store, entities, output, selection,
            _options.TimeProvider.GetUtcNow(), CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token));
        if (!_queue.Writer.TryWrite(job))
        {
            job.Dispose();
            throw new LookupException(StatusCode.ResourceExhausted, $"{MaxQueued} exports are already queued; start this one when one has finished");
        }

        _jobs[job.Id] = job;
        _ = _worker.Value;
        return job.Snapshot();
    }

    public ExportJob Get(string id, string? apiKey)
    {
        _keys.Authenticate(apiKey);
        return Find(id).Snapshot();
    }

    public ListExportsResponse List(string? apiKey)
    {
        _keys.Authenticate(apiKey);
        var response = new ListExportsResponse();
        response.Jobs.AddRange(_jobs.Values.OrderByDescending(j => j.CreatedAt).Select(j => j.Snapshot()));
        return response;
    }

    public ExportJob Cancel(string id, string? apiKey)
    {
        _keys.Authenticate(apiKey);
        var job = Find(id);
        job.Cancel();
        return job.Snapshot();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _queue.Writer.TryComplete();
        if (_worker.IsValueCreated)
        {
            await _worker.Value.ConfigureAwait(false);
        }

        foreach (var job in _jobs.Values)
        {
            job.Dispose();
        }

        _stopping.Dispose();
    }

    private Job Find(string id) =>
        _jobs.TryGetValue(id, out var job) ? job : throw new LookupException(StatusCode.NotFound, $"no export job '{ThrowHelper.Shown(id)}'");

    private async Task WorkAsync()
    {
        try
        {
            await foreach (var job in _queue.Reader.ReadAllAsync(_stopping.Token).ConfigureAwait(false))
            {
                await RunAsync(job).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // the server is stopping: queued jobs stay cancelled
        }
    }

    private async Task RunAsync(Job job)
    {
        if (!job.TryStart())
        {
            return; // cancelled while queued
        }

        try
        {
            var format = (ExportFormat)(int)job.Request.Format;
            // Epoch numbers are told apart by magnitude (seconds, ms, us, ns), as the command line's export does.
            var done = await PointInTimeExport.RunAsync(job.Repository, job.Store, job.Entities, job.Selection, job.Output, format,
                new Progress(job), job.Token, timestampUnit: TimestampUnit.Auto).ConfigureAwait(false);
            job.Succeed(done, _options.TimeProvider.GetUtcNow());
            _logger.ExportFinished(job.Id, done.Rows, done.FeatureColumns, done.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException)
        {
            job.Finish(ExportJob.Types.State.Cancelled, "", _options.TimeProvider.GetUtcNow());
        }
        catch (Exception ex) when (ex is TableFileException or ArgumentException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            job.Finish(ExportJob.Types.State.Failed, ex.Message, _options.TimeProvider.GetUtcNow());
            _logger.ExportFailed(job.Id, ex.Message);
        }
    }

    /// <summary>Reports on the caller's thread straight into the job (no synchronisation context to post to).</summary>
    private sealed class Progress(Job job) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => job.Report(value);
    }

    private sealed class Job(
        string id, StartExportRequest request, Core.Definitions.CompiledRepository repository, string store, string entities, string output,
        IReadOnlyList<FeatureSelection> selection, DateTimeOffset createdAt, CancellationTokenSource cancellation) : IDisposable
    {
        private readonly Lock _lock = new();
        private ExportJob.Types.State _state = ExportJob.Types.State.Queued;
        private ExportProgress _progress;
        private ExportResult? _result;
        private string _error = "";
        private DateTimeOffset? _finishedAt;

        public string Id => id;

        public StartExportRequest Request => request;

        public Core.Definitions.CompiledRepository Repository => repository;

        public string Store => store;

        public string Entities => entities;

        public string Output => output;

        public IReadOnlyList<FeatureSelection> Selection => selection;

        public DateTimeOffset CreatedAt => createdAt;

        public CancellationToken Token => cancellation.Token;

        public bool TryStart()
        {
            lock (_lock)
            {
                if (_state != ExportJob.Types.State.Queued)
                {
                    return false;
                }

                _state = ExportJob.Types.State.Running;
                return true;
            }
        }

        public void Report(ExportProgress progress)
        {
            lock (_lock)
            {
                _progress = progress;
            }
        }

        public void Succeed(ExportResult result, DateTimeOffset at)
        {
            lock (_lock)
            {
                _result = result;
            }

            Finish(ExportJob.Types.State.Succeeded, "", at);
        }

        public void Finish(ExportJob.Types.State state, string error, DateTimeOffset at)
        {
            lock (_lock)
            {
                _state = state;
                _error = error;
                _finishedAt = at;
            }
        }

        public void Cancel()
        {
            lock (_lock)
            {
                if (_state == ExportJob.Types.State.Queued)
                {
                    _state = ExportJob.Types.State.Cancelled;
                    _finishedAt = DateTimeOffset.UtcNow;
                }
            }

            cancellation.Cancel();
        }

        public ExportJob Snapshot()
        {
            lock (_lock)
            {
                var snapshot = new ExportJob
                {
                    Id = id,
                    State = _state,
                    Request = request,
                    Stage = _progress.Stage ?? "",
                    Done = _progress.Done,
                    Total = _progress.Total,
                    Error = _error,
                    CreatedAt = Timestamp.FromDateTimeOffset(createdAt),
                };
                if (_result is { } result)
                {
                    snapshot.Rows = result.Rows;
                    snapshot.FeatureColumns = result.FeatureColumns;
                    snapshot.EventsRead = result.EventsRead;
                }

                if (_finishedAt is { } finished)
                {
                    snapshot.FinishedAt = Timestamp.FromDateTimeOffset(finished);
                }

                return snapshot;
            }
        }

        public void Dispose() => cancellation.Dispose();
    }
}
