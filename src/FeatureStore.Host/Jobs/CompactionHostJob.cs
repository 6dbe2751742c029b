using FeatureStore.Host.Supervision;
using FeatureStore.Parquet.Compaction;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Host.Jobs;

/// <summary>
/// Scheduled compaction of the offline event log: every interval, runs of small files the offline writer
/// added are merged into larger ones (what <c>featurestore offline compact</c> does), beside the writer and
/// any reader. A compaction stopped midway leaves the log as before its current run; the next one removes
/// what it left.
/// </summary>
internal sealed partial class CompactionHostJob(string storeDirectory, EventLogCompactionOptions options, TimeSpan interval, ILogger logger, TimeProvider? timeProvider = null)
    : ISupervisedJob
{
    private readonly ILogger _logger = logger;

    public string Name => "compaction";

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var compactor = new EventLogCompactor(storeDirectory, options, timeProvider);
        using var timer = new PeriodicTimer(interval, timeProvider ?? TimeProvider.System);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            var result = await compactor.RunAsync(null, cancellationToken).ConfigureAwait(false);
            foreach (var run in result.Runs)
            {
                LogMerged(run.Source, run.Partition, run.FirstOffset, run.NextOffset - 1, run.FilesBefore, run.FilesAfter, run.Rows);
            }

            foreach (var source in result.BusySources)
            {
                LogBusy(source);
            }

            LogCompacted(result.Runs.Count, result.Runs.Sum(r => r.FilesBefore), result.Runs.Sum(r => r.FilesAfter), result.ReplacedFilesDeleted, result.ReplacedFilesWaiting, result.LeftoversDeleted);
        }
    }

    [LoggerMessage(1, LogLevel.Information, "compacted {Source} partition {Partition} offsets {First}..{Last}: {FilesBefore} files → {FilesAfter}, {Rows} rows")]
    private partial void LogMerged(string source, int partition, long first, long last, int filesBefore, int filesAfter, long rows);

    [LoggerMessage(2, LogLevel.Warning, "compaction of {Source} skipped: another compaction of it is running")]
    private partial void LogBusy(string source);

    [LoggerMessage(3, LogLevel.Information, "compaction done: {Runs} runs, {FilesBefore} files → {FilesAfter}; {Deleted} replaced files deleted, {Waiting} kept for their grace, {Leftovers} leftovers of an interrupted compaction removed")]
    private partial void LogCompacted(int runs, int filesBefore, int filesAfter, int deleted, int waiting, int leftovers);
}
