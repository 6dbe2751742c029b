using System.CommandLine;
using FeatureStore.Core.Definitions;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Redis.Registry;

namespace FeatureStore.Cli.Commands;

/// <summary>
/// <c>featurestore apply -f FILE</c>: validates, shows the plan against the registry (item by item, and per
/// feature of each changed view its effect on the online state), stores the new version. A feature the
/// offline event log cannot rebuild whole is refused unless <c>--allow-partial</c>.
/// </summary>
internal static class ApplyCommand
{
    public static Command Create()
    {
        var file = CommonOptions.RepositoryFile();
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var dryRun = new Option<bool>("--dry-run") { Description = "Show the plan without storing anything." };
        var offlineStore = OfflineCommands.Store();
        offlineStore.Description = "The offline store whose event log rebuilds added or changed features (its commit markers are counted for the plan). Env: FEATURESTORE__OFFLINE__DIRECTORY.";
        var allowPartial = new Option<bool>("--allow-partial")
        {
            Description = "Apply even when the event log cannot rebuild an added or changed feature whole (it starts later than the feature's window, or a lifetime feature's log does not reach back to the first event).",
        };
        var command = new Command("apply", "Validate a feature repository, show what changes against the registry's current version, and store it as a new version.")
        {
            file, redis, prefix, dryRun, offlineStore, allowPartial,
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

            var repo = result!.Repository!;
            var storeRoot = parse.GetValue(offlineStore)!;
            var (store, keyPrefix, connected) = await OnlineStores.ConnectSharedAsync(parse, redis, prefix, error);
            if (store is null)
            {
                return connected;
            }

            await using (store)
            {
                var registry = new RegistryStore(store.Database, keyPrefix);
                var current = await registry.GetCurrentAsync(repo.Project);
                var previous = current is null ? null : FeatureRepositoryLoader.LoadFromText(current.SourceText, $"registry v{current.Version}").Repository;
                var plan = RepositoryPlan.Compute(previous, repo);
                await output.WriteLineAsync(current is null ? $"project {repo.Project}: nothing applied yet" : $"project {repo.Project}: current version {current.Version}");
                foreach (var change in plan)
                {
                    await output.WriteLineAsync("  " + change);
                }

                if (plan.Count == 0)
                {
                    await output.WriteLineAsync("  no changes");
                }

                var sources = FeaturePlan.SourcesToRead(previous, repo);
                if (sources.Count > 0 && !await FileRoot.AllowAsync(error, ("--store", storeRoot)))
                {
                    return CliApp.Usage;
                }

                var features = await PlanFeaturesAsync(previous, repo, sources, storeRoot, cancellationToken);
                if (features.Count > 0)
                {
                    await output.WriteLineAsync($"per feature (event log: {Path.GetFullPath(storeRoot)}):");
                    foreach (var line in features)
                    {
                        await output.WriteLineAsync("  " + line);
                    }
                }

                var refused = features.Count(f => f.Refusal is not null);
                if (refused > 0 && !parse.GetValue(allowPartial))
                {
                    await error.WriteLineAsync($"error: {refused} feature(s) would serve values that miss events (REFUSED above); nothing applied. "
                        + "Give --store the offline store that holds the source's events, or --allow-partial to accept values that miss events.");
                    return CliApp.Usage;
                }

                if (parse.GetValue(dryRun))
                {
                    await output.WriteLineAsync("dry run: nothing stored");
                    return CliApp.Ok;
                }

                var outcome = await registry.ApplyAsync(repo, result.SourceText, cancellationToken);
                await output.WriteLineAsync(outcome.Changed ? $"applied as version {outcome.Version}" : $"unchanged: version {outcome.Version} is current");
                if (outcome.Changed && await registry.LoadCurrentAsync(repo.Project) is { } applied)
                {
                    foreach (var (view, layout) in applied.Layout.Views.Where(v => v.Value.BuildingGroup is not null))
                    {
                        var building = layout.BuildingGroup!;
                        await output.WriteLineAsync($"  {view}: building {string.Join(", ", building.Slots.Select(s => s.Feature))} beside the serving state (group {building.Signature}); "
                            + "they answer BUILDING until the rebuild job switches them in (`featurestore rebuild`, or the `rebuild` job of `run`)");
                    }
                }
                return CliApp.Ok;
            }
        });
        return command;
    }

    private static async Task<IReadOnlyList<FeaturePlanLine>> PlanFeaturesAsync(
        FeatureRepository? previous, FeatureRepository next, IReadOnlySet<string> sources, string storeRoot, CancellationToken cancellationToken)
    {
        // Only the logs of sources with a feature to rebuild are read, each once, from its commit markers.
        var logs = new Dictionary<string, EventLogCoverage>(StringComparer.Ordinal);
        foreach (var source in sources)
        {
            logs[source] = await EventLogCoverageReader.ReadAsync(storeRoot, source, cancellationToken);
        }

        return FeaturePlan.Compute(previous, next, source => logs[source], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }
}
