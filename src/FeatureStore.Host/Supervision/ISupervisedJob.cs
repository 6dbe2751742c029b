namespace FeatureStore.Host.Supervision;

/// <summary>
/// A long-running job the host supervises. <see cref="RunAsync"/> runs until its token is cancelled (then it
/// commits what it has and returns) or until it fails (it throws; the supervisor restarts it after a backoff).
/// Returning before cancellation means the job has nothing to do (a monitor without monitored models, say).
/// </summary>
public interface ISupervisedJob
{
    /// <summary>The job's name in logs and health: ingest, offline, serve, monitor, backfill, compaction.</summary>
    string Name { get; }

    /// <summary>Runs the job.</summary>
    Task RunAsync(CancellationToken cancellationToken);
}
