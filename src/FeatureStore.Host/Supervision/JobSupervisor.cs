using Microsoft.Extensions.Logging;

namespace FeatureStore.Host.Supervision;

/// <summary>Restart and stop policy of the supervisor.</summary>
public sealed class SupervisionOptions
{
    /// <summary>Delay before the first restart of a failed job.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest delay between restarts; the delay doubles up to it.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>A job that ran this long before failing is restarted after the initial delay again.</summary>
    public TimeSpan ResetAfter { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// Runs each job in its own loop: a job that throws is logged, reported as restarting in <see cref="JobHealth"/>,
/// and started again after an exponential backoff (initial delay doubling up to the maximum; back to the initial
/// delay after a run longer than <see cref="SupervisionOptions.ResetAfter"/>). Cancellation stops every job
/// and waits for each to return, so each commits what it has.
/// </summary>
public sealed partial class JobSupervisor(IReadOnlyList<ISupervisedJob> jobs, SupervisionOptions options, JobHealth health, ILogger logger, TimeProvider? timeProvider = null)
{
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly ILogger _logger = logger;

    /// <summary>The jobs' health.</summary>
    public JobHealth Health => health;

    /// <summary>The delay before restart number <paramref name="failures"/> (1 for the first).</summary>
    public static TimeSpan Backoff(SupervisionOptions options, int failures)
    {
        ArgumentNullException.ThrowIfNull(options);
        var ticks = options.InitialBackoff.Ticks * Math.Pow(2, Math.Max(0, failures - 1));
        return TimeSpan.FromTicks((long)Math.Min(options.MaxBackoff.Ticks, ticks));
    }

    /// <summary>Runs every job until <paramref name="cancellationToken"/> fires, then waits for all to stop.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(jobs.Select(job => Task.Run(() => SuperviseAsync(job, cancellationToken), CancellationToken.None)));

    private async Task SuperviseAsync(ISupervisedJob job, CancellationToken cancellationToken)
    {
        var restarts = 0;
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            health.Set(new JobStatus(job.Name, JobState.Running, restarts, null, null));
            LogStarting(job.Name, restarts);
            var started = _time.GetTimestamp();
            try
            {
                await job.RunAsync(cancellationToken).ConfigureAwait(false);
                if (!cancellationToken.IsCancellationRequested)
                {
                    health.Set(new JobStatus(job.Name, JobState.Completed, restarts, null, null));
                    LogCompleted(job.Name);
                    return;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // stopping
            }
            catch (Exception ex)
            {
                failures = _time.GetElapsedTime(started) >= options.ResetAfter ? 1 : failures + 1;
                var delay = Backoff(options, failures);
                restarts++;
                health.Set(new JobStatus(job.Name, JobState.Restarting, restarts, ex.Message, _time.GetUtcNow() + delay));
                // One line per failure: a restart loop (port in use, broker or store down) repeats it every backoff.
                LogFailed(job.Name, Cause(ex), delay.TotalSeconds, restarts);
                LogFailedTrace(ex, job.Name);
                try
                {
                    await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        health.Set(new JobStatus(job.Name, JobState.Stopped, restarts, null, null));
        LogStopped(job.Name);
    }

    /// <summary>An exception as one line: its type and message, then each inner cause's, joined by ←.</summary>
    public static string Cause(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var parts = new List<string>();
        for (Exception? e = exception; e is not null && parts.Count < 8; e = e.InnerException)
        {
            if (e is AggregateException { InnerExceptions.Count: > 1 } many)
            {
                parts.Add(string.Join(" + ", many.InnerExceptions.Select(Cause)));
                break;
            }

            if (e is AggregateException)
            {
                continue; // a wrapper of one: its cause says it all
            }

            parts.Add($"{e.GetType().Name}: {string.Join(' ', e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))}");
        }

        return string.Join(" ← ", parts);
    }

    [LoggerMessage(1, LogLevel.Information, "job {Job} starting (restarts so far: {Restarts})")]
    private partial void LogStarting(string job, int restarts);

    [LoggerMessage(2, LogLevel.Error, "job {Job} failed: {Cause}; restarting in {DelaySeconds:0.###} s (restart {Restarts})")]
    private partial void LogFailed(string job, string cause, double delaySeconds, int restarts);

    [LoggerMessage(5, LogLevel.Debug, "job {Job} failure trace")]
    private partial void LogFailedTrace(Exception exception, string job);

    [LoggerMessage(3, LogLevel.Information, "job {Job} has nothing to do and stopped")]
    private partial void LogCompleted(string job);

    [LoggerMessage(4, LogLevel.Information, "job {Job} stopped")]
    private partial void LogStopped(string job);
}
