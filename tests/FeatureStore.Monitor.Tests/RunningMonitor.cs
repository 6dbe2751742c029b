using FeatureStore.Monitor.Job;

namespace FeatureStore.Monitor.Tests;

/// <summary>A monitor job running in the background; disposing stops it cleanly and waits for it.</summary>
internal sealed class RunningMonitor(MonitorJob job, MonitorMetrics metrics, Task run, CancellationTokenSource stop) : IAsyncDisposable
{
    public MonitorJob Job { get; } = job;

    public MonitorMetrics Metrics { get; } = metrics;

    /// <summary>Runs <paramref name="job"/> until disposed or until <paramref name="cancellationToken"/> fires.</summary>
    public static RunningMonitor Start(MonitorJob job, MonitorMetrics metrics, CancellationToken cancellationToken)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        return new RunningMonitor(job, metrics, Task.Run(() => job.RunAsync(stop.Token), CancellationToken.None), stop);
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        await run;
        stop.Dispose();
        Metrics.Dispose();
    }
}
