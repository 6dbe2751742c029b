using System.CommandLine;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Registry;

namespace FeatureStore.Cli.Commands;

/// <summary><c>featurestore apply -f FILE</c>: validates, shows the plan against the registry, stores the new version.</summary>
internal static class ApplyCommand
{
    public static Command Create()
    {
        var file = CommonOptions.RepositoryFile();
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var dryRun = new Option<bool>("--dry-run") { Description = "Show the plan without storing anything." };
        var command = new Command("apply", "Validate a feature repository, show what changes against the registry's current version, and store it as a new version.")
        {
            file, redis, prefix, dryRun,
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

                if (parse.GetValue(dryRun))
                {
                    await output.WriteLineAsync("dry run: nothing stored");
                    return CliApp.Ok;
                }

                var outcome = await registry.ApplyAsync(repo.Project, repo.ContentHash(), repo.ToCanonicalJson(), result.SourceText, cancellationToken);
                await output.WriteLineAsync(outcome.Changed ? $"applied as version {outcome.Version}" : $"unchanged: version {outcome.Version} is current");
                return CliApp.Ok;
            }
        });
        return command;
    }
}
