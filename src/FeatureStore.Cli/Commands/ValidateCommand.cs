using System.CommandLine;

namespace FeatureStore.Cli.Commands;

/// <summary><c>featurestore validate -f FILE</c>: checks a feature repository and reports every error at once.</summary>
internal static class ValidateCommand
{
    public static Command Create()
    {
        var file = CommonOptions.RepositoryFile();
        var command = new Command("validate", "Check a feature repository file; every error at once as file:line:column with a hint. Exit 0 valid, 2 invalid or missing, 1 unreadable.")
        {
            file,
        };
        command.SetAction(parse =>
        {
            var config = parse.InvocationConfiguration;
            var (result, code) = RepositoryFiles.Load(parse.GetRequiredValue(file), config.Error);
            if (code != CliApp.Ok)
            {
                return code;
            }

            var repo = result!.Repository!;
            config.Output.WriteLine(
                $"{parse.GetRequiredValue(file)}: valid: project {repo.Project}, {repo.Entities.Count} entities, {repo.Sources.Count} sources, " +
                $"{repo.FeatureViews.Count} feature views, {repo.FeatureViews.Sum(v => v.Features.Count)} features, " +
                (repo.RequestViews.Count > 0 ? $"{repo.RequestViews.Count} request views, {repo.RequestViews.Sum(v => v.Features.Count)} request-time features, " : "") +
                $"{repo.Models.Count} models, " +
                $"{repo.Webhooks.Count} webhooks (hash {repo.ContentHash()[..12]})");
            return CliApp.Ok;
        });
        return command;
    }
}
