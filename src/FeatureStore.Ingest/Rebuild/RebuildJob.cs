using FeatureStore.Redis.Registry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Ingest.Rebuild;

/// <summary>What a <see cref="RebuildJob"/> builds and how often it looks at the registry.</summary>
public sealed record RebuildJobOptions
{
    /// <summary>The project whose registry it follows.</summary>
    public required string Project { get; init; }

    /// <summary>The online store's key prefix.</summary>
    public string KeyPrefix { get; init; } = "fs";

    /// <summary>Where each group's rebuild reads and how it waits.</summary>
    public required GroupRebuildOptions Rebuild { get; init; }

    /// <summary>How often the registry is read besides its change notifications (a notice missed while disconnected).</summary>
    public TimeSpan RegistryPollInterval { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The rebuild job (docs/evolution.md): builds every state group the registry's current version has building,
/// one at a time (<see cref="GroupRebuild"/>: wait for ingest's start offsets and the event log, rebuild from the
/// log, switch in), then again whenever the registry changes (its change notifications, and a slow poll for a
/// notice missed). Every step is idempotent, so a restart at any point goes on where the stores say.
/// </summary>
public sealed partial class RebuildJob(IDatabase database, RebuildJobOptions options, ILogger logger, TimeProvider? timeProvider = null)
{
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>
    /// Builds what the registry's current version has building now, each group in turn (a switch stores a new
    /// version: the next group is taken from it), until no group is left that this call has not built or
    /// abandoned. <paramref name="starting"/> is told of each group before its rebuild runs.
    /// </summary>
    public async Task<IReadOnlyList<GroupRebuildResult>> RunOnceAsync(Action<GroupRebuild>? starting, IProgress<BuildProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var registry = new RegistryStore(database, options.KeyPrefix, _time);
        var results = new List<GroupRebuildResult>();
        var seen = new HashSet<(string View, string Signature)>();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var current = await registry.LoadCurrentAsync(options.Project).ConfigureAwait(false);
            if (current is null)
            {
                return results;
            }

            var next = current.Layout.Views
                .Where(v => v.Value.BuildingGroup is { } g && !seen.Contains((v.Key, g.Signature)))
                .OrderBy(v => v.Key, StringComparer.Ordinal)
                .Select(v => (View: v.Key, v.Value.BuildingGroup!.Signature))
                .FirstOrDefault();
            if (next.View is null)
            {
                return results;
            }

            seen.Add(next);
            var rebuild = new GroupRebuild(database, options.KeyPrefix, current, next.View, options.Rebuild, logger, progress, _time);
            starting?.Invoke(rebuild);
            results.Add(await rebuild.RunAsync(cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> fires: builds what is building, then waits for the registry to change.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var registry = new RegistryStore(database, options.KeyPrefix, _time);
        await using var notices = await RegistryNotices.SubscribeAsync(database.Multiplexer, registry, options.Project).ConfigureAwait(false);
        LogStarted(logger, options.Project, options.Rebuild.StoreDirectory, options.Rebuild.IngestGroup);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await RunOnceAsync(null, null, cancellationToken).ConfigureAwait(false);
                await notices.WaitAsync(options.RegistryPollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopping: a rebuild stopped midway is done again from the start of its step
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "rebuild job started: project {Project}, event log {Store}, ingest group {Group}")]
    private static partial void LogStarted(ILogger logger, string project, string store, string group);
}
