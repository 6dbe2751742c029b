using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FeatureStore.Host.Supervision;

/// <summary>Where a supervised job stands.</summary>
public enum JobState
{
    /// <summary>Started, running.</summary>
    Running,

    /// <summary>Failed; waiting for its restart.</summary>
    Restarting,

    /// <summary>Returned on its own: nothing to do.</summary>
    Completed,

    /// <summary>Stopped by a shutdown.</summary>
    Stopped,
}

/// <summary>One job's health as the host reports it.</summary>
/// <param name="Name">The job.</param>
/// <param name="State">Its state.</param>
/// <param name="Restarts">Restarts since the host started.</param>
/// <param name="LastError">The last failure's message, if any.</param>
/// <param name="NextStartAt">When a restarting job starts again.</param>
public sealed record JobStatus(string Name, JobState State, int Restarts, string? LastError, DateTimeOffset? NextStartAt);

/// <summary>
/// The supervised jobs' states, read by the health endpoints: healthy when every job runs (or completed),
/// degraded while any waits for a restart.
/// </summary>
public sealed class JobHealth : IHealthCheck
{
    private readonly Dictionary<string, JobStatus> _jobs = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Every job's status, in registration order.</summary>
    public IReadOnlyList<JobStatus> Jobs
    {
        get
        {
            lock (_lock)
            {
                return [.. _jobs.Values];
            }
        }
    }

    /// <summary>One job's status, or null.</summary>
    public JobStatus? this[string name]
    {
        get
        {
            lock (_lock)
            {
                return _jobs.GetValueOrDefault(name);
            }
        }
    }

    /// <summary>Records a job's status.</summary>
    public void Set(JobStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        lock (_lock)
        {
            _jobs[status.Name] = status;
        }
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var jobs = Jobs;
        var data = jobs.ToDictionary(j => j.Name, j => (object)Describe(j), StringComparer.Ordinal);
        var failing = jobs.Where(j => j.State == JobState.Restarting).Select(j => j.Name).ToList();
        return Task.FromResult(failing.Count == 0
            ? HealthCheckResult.Healthy($"{jobs.Count} job(s) running", data)
            : HealthCheckResult.Degraded($"restarting: {string.Join(", ", failing)}", data: data));
    }

    /// <summary>
    /// One job's health, for gRPC health's per-job services: healthy while it runs (or completed), unhealthy
    /// while it waits for a restart, after it stopped, or before it started.
    /// </summary>
    public IHealthCheck Of(string name) => new OneJob(this, name);

    private static string Describe(JobStatus job) => job.State switch
    {
        JobState.Restarting => $"restarting (restarts {job.Restarts}; next start {job.NextStartAt:O}): {job.LastError}",
        _ => $"{job.State.ToString().ToLowerInvariant()} (restarts {job.Restarts})",
    };

    private sealed class OneJob(JobHealth health, string name) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(health[name] is not { } job
                ? HealthCheckResult.Unhealthy("not started yet")
                : job.State is JobState.Running or JobState.Completed
                    ? HealthCheckResult.Healthy(Describe(job))
                    : HealthCheckResult.Unhealthy(Describe(job)));
    }
}
