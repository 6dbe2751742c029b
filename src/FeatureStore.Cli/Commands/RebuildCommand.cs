using System.CommandLine;
using FeatureStore.Ingest.Rebuild;
using FeatureStore.Parquet.Export;
using StackExchange.Redis;

namespace FeatureStore.Cli.Commands;

/// <summary>
/// <c>featurestore rebuild -f FILE --store DIR</c>: builds every state group the registry's current version of the
/// project has building (a view changed by an apply) from the offline event log, shows its progress and switches
/// it in, then exits; what the host's <c>rebuild</c> job does continuously (docs/evolution.md).
/// </summary>
internal static class RebuildCommand
{
    public static Command Create()
    {
        var file = CommonOptions.RepositoryFile();
        file.Description = "The feature repository file: its project's registry is the one built from.";
        var store = OfflineCommands.Store();
        store.Description = "The offline store whose event log holds the source's events (the folder `ingest --offline` or `run` writes). Env: FEATURESTORE__OFFLINE__DIRECTORY.";
        var group = new Option<string>("--group")
        {
            Description = "The ingest consumer group whose checkpoints and start offsets of the new group are read. Env: FEATURESTORE__JOBS__INGEST__GROUP.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__JOBS__INGEST__GROUP") ?? "featurestore-ingest",
        };
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var command = new Command("rebuild", "Build the state of the features a changed view adds or changes from the offline event log (beside the serving state), then switch it in; exits when nothing is left building.")
        {
            file, store, group, redis, prefix,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var (result, code) = RepositoryFiles.Load(parse.GetRequiredValue(file), error);
            if (code != CliApp.Ok)
            {
                return code;
            }

            var directory = parse.GetValue(store)!;
            if (!await FileRoot.AllowAsync(error, ("--store", directory)) || !await OfflineCommands.StoreExistsAsync(directory, error))
            {
                return CliApp.Usage;
            }

            var (connection, keyPrefix, connected) = await OnlineStores.ConnectSharedAsync(parse, redis, prefix, error);
            if (connection is null)
            {
                return connected;
            }

            await using (connection)
            {
                var project = result!.Repository!.Project;
                var job = new RebuildJob(connection.Database, new RebuildJobOptions
                {
                    Project = project,
                    KeyPrefix = keyPrefix,
                    Rebuild = new GroupRebuildOptions { StoreDirectory = directory, IngestGroup = parse.GetValue(group)! },
                }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
                var progress = new OfflineCommands.TerminalProgress(error);
                var name = "";
                string? said = null;
                var shown = new InlineProgress(p =>
                {
                    if (p.State == BuildState.Waiting && p.Reason != said)
                    {
                        progress.Finish();
                        said = p.Reason;
                        error.WriteLine($"{name} waiting: {p.Reason}");
                    }
                    else if (p.State == BuildState.Rebuilding)
                    {
                        progress.Report(new ExportProgress($"{name} rebuilding: rows", p.RowsDone, p.RowsTotal));
                    }
                });
                IReadOnlyList<GroupRebuildResult> done;
                try
                {
                    done = await job.RunOnceAsync(r =>
                    {
                        name = $"{r.Group.Name}:{r.Group.Signature}";
                        said = null;
                        error.WriteLine($"{name}: building {string.Join(", ", r.View.Definition.Features.Where((_, f) => r.View.Groups[r.View.PlaceOf(f).Group] == r.Group).Select(f => f.Name))}");
                    }, shown, cancellationToken);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or RedisException or InvalidOperationException)
                {
                    progress.Finish();
                    await error.WriteLineAsync($"rebuild failed: {ex.Message}");
                    return CliApp.Failure;
                }

                progress.Finish();
                if (done.Count == 0)
                {
                    await output.WriteLineAsync($"project {project}: nothing to build (no view of the registry's current version has a group being built)");
                    return CliApp.Ok;
                }

                foreach (var r in done)
                {
                    await output.WriteLineAsync(r.Outcome == RebuildOutcome.Switched
                        ? $"{r.View}:{r.Signature}: {(r.RowsRead > 0 || r.Entities > 0 ? $"{r.RowsRead} event-log rows read, {r.Entities} entities written; " : "rebuilt earlier; ")}switched in{(r.Version is { } v ? $" as registry version {v}" : "")}"
                        : $"{r.View}:{r.Signature}: abandoned: a newer apply replaced this group (its keys expire by the view's ttl)");
                }

                return CliApp.Ok;
            }
        });
        return command;
    }

    /// <summary>Reports on the caller's thread, at once.</summary>
    private sealed class InlineProgress(Action<BuildProgress> report) : IProgress<BuildProgress>
    {
        public void Report(BuildProgress value) => report(value);
    }
}
