using FeatureStore.Core.Definitions;
using FeatureStore.Host.Supervision;
using FeatureStore.Parquet.Snapshots;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Host.Jobs;

/// <summary>
/// Scheduled backfills: every interval, each selected view's tile snapshots are recomputed from the offline
/// event log (what <c>featurestore backfill</c> does), so exports of long windows start from a recent snapshot.
/// A backfill in progress at a stop is abandoned; snapshots are written atomically, so none is half written.
/// </summary>
internal sealed partial class BackfillHostJob(CompiledRepository repository, IReadOnlyList<string> views, string storeDirectory, TimeSpan interval, ILogger logger, TimeProvider? timeProvider = null)
    : ISupervisedJob
{
    private readonly ILogger _logger = logger;

    public string Name => "backfill";

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var selected = repository.Views.Where(v => views.Count == 0 || views.Contains(v.Name)).ToList();
        using var timer = new PeriodicTimer(interval, timeProvider ?? TimeProvider.System);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var view in selected)
            {
                var result = await TileBackfill.RunAsync(view, storeDirectory, null, null, cancellationToken).ConfigureAwait(false);
                LogBackfilled(view.Name, result.Events, result.Entities, result.Snapshots);
            }
        }
    }

    [LoggerMessage(1, LogLevel.Information, "backfilled {View}: {Events} events, {Entities} entities, {Snapshots} daily snapshots")]
    private partial void LogBackfilled(string view, long events, int entities, int snapshots);
}
