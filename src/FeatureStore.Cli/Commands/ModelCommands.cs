using System.CommandLine;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Performance;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;

namespace FeatureStore.Cli.Commands;

/// <summary><c>featurestore model register|list|show|promote|history|reference</c>: the model registry in the online store.</summary>
internal static partial class ModelCommands
{
    public static Command Create()
    {
        var command = new Command("model", "The model registry: versions with their features, training export, baseline and stage (staging, production, archived).");
        command.Subcommands.Add(Register());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Promote());
        command.Subcommands.Add(History());
        command.Subcommands.Add(Reference());
        return command;
    }

    private static Option<FileInfo> File() => new("--file", "-f") { Description = "The feature repository file (gives the project and the declared versions' features)." };

    private static Option<string?> Project() => new("--project")
    {
        Description = "The project, instead of --file. Env: FEATURESTORE__PROJECT.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__PROJECT"),
    };

    private static Option<string> Model(bool required = true) => new("--model", "-m") { Description = "The model.", Required = required };

    private static Option<string> Version() => new("--version", "-v") { Description = "The model version.", Required = true };

    private static Option<bool> Json() => new("--json") { Description = "JSON on standard output." };

    private static Command Register()
    {
        var file = File();
        file.Required = true;
        var model = Model();
        var version = Version();
        var features = new Option<string?>("--features") { Description = "Feature references view:feature,… (default: the version's features in the repository)." };
        var export = new Option<string?>("--training-export") { Description = "The training export the version was trained on (a path or URI)." };
        var baseline = new Option<string?>("--baseline-id") { Description = "Its drift baseline (default: the baseline stored for MODEL VERSION by `featurestore baseline`, if any)." };
        var reference = new ReferenceOptions(required: false);
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var json = Json();
        var command = new Command("register", "Register a model version in the staging stage, tied to its feature list, training export, baseline and reference performance (--metrics or --validation).")
        {
            file, model, version, features, export, baseline, redis, prefix, json,
        };
        reference.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var (result, code) = RepositoryFiles.Load(parse.GetRequiredValue(file), error);
            if (code != CliApp.Ok)
            {
                return code;
            }

            var repository = result!.Repository!;
            var name = parse.GetRequiredValue(model);
            var label = parse.GetRequiredValue(version);
            var declared = repository.FindModel(name)?.Versions.FirstOrDefault(v => v.Version == label);
            IReadOnlyList<string>? list = parse.GetValue(features) is { } text
                ? text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                : declared?.Features;
            if (list is null || list.Count == 0)
            {
                await error.WriteLineAsync($"model '{name}' version '{label}' is not declared in the repository: give its features with --features view:feature,…");
                return CliApp.Usage;
            }

            var unknown = list.Where(f => !Resolves(repository, f)).ToList();
            if (unknown.Count > 0)
            {
                await error.WriteLineAsync($"unknown feature reference(s): {string.Join(", ", unknown)} (write view:feature with a view and feature of the repository)");
                return CliApp.Usage;
            }

            // Before anything is written: a bad validation or metrics file leaves no half-registered version.
            var (performance, computed) = await reference.ComputeAsync(parse, repository.FindModel(name), name, label, error, cancellationToken);
            if (computed != CliApp.Ok)
            {
                return computed;
            }

            var (store, keyPrefix, connected) = await OnlineStores.ConnectSharedAsync(parse, redis, prefix, error);
            if (store is null)
            {
                return connected;
            }

            await using (store)
            {
                var baselineId = parse.GetValue(baseline)
                    ?? (await (await DriftCommands.OpenDriftStoreAsync(store.Database, keyPrefix, repository.Project, error, cancellationToken)).LoadBaselineAsync(name, label))?.Id;
                var registry = new ModelRegistryStore(store.Database, keyPrefix, repository.Project);
                if (!await registry.RegisterAsync(name, label, list, parse.GetValue(export), baselineId))
                {
                    await error.WriteLineAsync($"{name} {label} is already registered (see `featurestore model show`)");
                    return CliApp.Failure;
                }

                if (performance is not null)
                {
                    await new PerformanceStore(store.Database, new DriftKeys(keyPrefix, repository.Project)).SaveReferenceAsync(performance);
                }

                var record = (await registry.GetAsync(name, label))!;
                await output.WriteLineAsync(parse.GetValue(json) ? WithReference(record, performance)
                    : $"registered {name} {label} (staging): {list.Count} features, baseline {baselineId ?? "none"}, reference {(performance is null ? "none" : Describe(performance))}");
                return CliApp.Ok;
            }
        });
        return command;
    }

    private static Command List()
    {
        var file = File();
        var project = Project();
        var model = Model(required: false);
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var json = Json();
        var command = new Command("list", "List registered model versions with their stage and baseline.")
        {
            file, project, model, redis, prefix, json,
        };
        command.SetAction(async (parse, cancellationToken) => await WithRegistryAsync(parse, file, project, redis, prefix, async registry =>
        {
            var output = parse.InvocationConfiguration.Output;
            var models = parse.GetValue(model) is { } one ? [one] : await registry.ModelsAsync();
            var records = new List<ModelVersionRecord>();
            foreach (var name in models)
            {
                records.AddRange(await registry.VersionsAsync(name));
            }

            if (parse.GetValue(json))
            {
                await output.WriteLineAsync("[" + string.Join(",", records.Select(ModelRegistryStore.ToJson)) + "]");
                return CliApp.Ok;
            }

            await output.WriteLineAsync($"{"model",-20} {"version",-10} {"stage",-11} {"features",8}  baseline");
            foreach (var r in records)
            {
                await output.WriteLineAsync($"{r.Model,-20} {r.Version,-10} {ModelStages.Name(r.Stage),-11} {r.Features.Count,8}  {r.BaselineId ?? "-"}");
            }

            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Show()
    {
        var file = File();
        var project = Project();
        var model = Model();
        var version = Version();
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var json = Json();
        var command = new Command("show", "Show one model version: features, training export, baseline, reference performance, stage and when it changed.")
        {
            file, project, model, version, redis, prefix, json,
        };
        command.SetAction(async (parse, cancellationToken) => await WithStoresAsync(parse, file, project, redis, prefix, async (registry, performance) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (await registry.GetAsync(parse.GetRequiredValue(model), parse.GetRequiredValue(version)) is not { } r)
            {
                await error.WriteLineAsync($"{parse.GetRequiredValue(model)} {parse.GetRequiredValue(version)} is not registered");
                return CliApp.Failure;
            }

            var reference = await performance.LoadReferenceAsync(r.Model, r.Version);
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(WithReference(r, reference));
                return CliApp.Ok;
            }

            await output.WriteLineAsync($"model:           {r.Model}");
            await output.WriteLineAsync($"version:         {r.Version}");
            await output.WriteLineAsync($"stage:           {ModelStages.Name(r.Stage)} (since {DateTimeOffset.FromUnixTimeMilliseconds(r.StageChangedAtMs):u})");
            await output.WriteLineAsync($"registered:      {DateTimeOffset.FromUnixTimeMilliseconds(r.RegisteredAtMs):u}");
            await output.WriteLineAsync($"features:        {string.Join(", ", r.Features)}");
            await output.WriteLineAsync($"training export: {r.TrainingExport ?? "-"}");
            await output.WriteLineAsync($"baseline:        {r.BaselineId ?? "-"}");
            await output.WriteLineAsync($"reference:       {(reference is null ? "-" : Describe(reference))}");
            if (reference is not null)
            {
                await output.WriteLineAsync($"  metrics:       {Metrics(reference)}");
                await output.WriteLineAsync($"  estimate band: {Band(reference)}");
            }

            return CliApp.Ok;
        }));
        return command;
    }

    private static bool Resolves(Core.Definitions.FeatureRepository repository, string reference)
    {
        var colon = reference.IndexOf(':', StringComparison.Ordinal);
        var name = colon < 0 ? reference : reference[..colon];
        if (repository.RequestViews.FirstOrDefault(r => r.Name == name) is { } request)
        {
            return colon < 0 || request.IndexOf(reference[(colon + 1)..]) >= 0; // a request-time feature, as a model version may list
        }

        var view = repository.FeatureViews.FirstOrDefault(v => v.Name == name);
        return view is not null && (colon < 0 || view.FindFeature(reference[(colon + 1)..]) is not null);
    }

    private static Task<int> WithRegistryAsync(ParseResult parse, Option<FileInfo> file, Option<string?> project, Option<string?> redis, Option<string?> prefix, Func<ModelRegistryStore, Task<int>> action) =>
        WithStoresAsync(parse, file, project, redis, prefix, (registry, _) => action(registry));

    private static async Task<int> WithStoresAsync(ParseResult parse, Option<FileInfo> file, Option<string?> project, Option<string?> redis, Option<string?> prefix, Func<ModelRegistryStore, PerformanceStore, Task<int>> action)
    {
        var error = parse.InvocationConfiguration.Error;
        string name;
        if (parse.GetValue(file) is { } path)
        {
            var (result, code) = RepositoryFiles.Load(path, error);
            if (code != CliApp.Ok)
            {
                return code;
            }

            name = result!.Repository!.Project;
        }
        else if (parse.GetValue(project) is { Length: > 0 } given)
        {
            name = given;
        }
        else
        {
            await error.WriteLineAsync("give --file featurestore.yaml or --project NAME");
            return CliApp.Usage;
        }

        var (store, keyPrefix, connected) = await OnlineStores.ConnectSharedAsync(parse, redis, prefix, error);
        if (store is null)
        {
            return connected;
        }

        await using (store)
        {
            return await action(new ModelRegistryStore(store.Database, keyPrefix, name), new PerformanceStore(store.Database, new DriftKeys(keyPrefix, name)));
        }
    }
}
