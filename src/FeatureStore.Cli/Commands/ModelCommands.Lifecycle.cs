// `model promote` with the repository's gates, and `model history`: every stage change with its gates and reason.
using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Lifecycle;
using FeatureStore.Monitor.Performance;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;

namespace FeatureStore.Cli.Commands;

internal static partial class ModelCommands
{
    private static Command Promote()
    {
        var file = File();
        var project = Project();
        var model = Model();
        var version = Version();
        var stage = new Option<string>("--stage") { Description = "staging, production or archived.", DefaultValueFactory = _ => "production" };
        stage.AcceptOnlyFromAmong("staging", "production", "archived");
        var validation = new Option<string?>("--validation") { Description = "The candidate's validation file (Parquet, or .csv), for the psi(COLUMN) vs production gates." };
        var force = new Option<bool>("--force") { Description = "Promote even when gates fail (needs --reason; recorded in the history)." };
        var reason = new Option<string?>("--reason") { Description = "Why: recorded with the stage change (required with --force)." };
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var json = Json();
        var command = new Command("promote", "Move a version to a stage (production by default; the previous production version is archived). To production, the model's gates in the repository are checked first: any failure refuses (exit 2) unless --force --reason TEXT. Running monitors switch to the new production baseline without a restart.")
        {
            file, project, model, version, stage, validation, force, reason, redis, prefix, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var name = parse.GetRequiredValue(model);
            var label = parse.GetRequiredValue(version);
            _ = ModelStages.TryParse(parse.GetValue(stage), out var target);
            var forced = parse.GetValue(force);
            var why = parse.GetValue(reason)?.Trim();
            if (forced && string.IsNullOrEmpty(why))
            {
                await error.WriteLineAsync("--force needs --reason TEXT: the reason is recorded with the stage change");
                return CliApp.Usage;
            }

            if (why is { Length: > MaxReasonLength })
            {
                await error.WriteLineAsync($"--reason is {why.Length} characters; at most {MaxReasonLength} are kept");
                return CliApp.Usage;
            }

            if (!await FileRoot.AllowAsync(error, ("--validation", parse.GetValue(validation))))
            {
                return CliApp.Usage;
            }

            FeatureRepository? repository = null;
            if (parse.GetValue(file) is { } path)
            {
                var (loaded, code) = RepositoryFiles.Load(path, error);
                if (code != CliApp.Ok)
                {
                    return code;
                }

                repository = loaded!.Repository!;
            }
            else if (parse.GetValue(project) is not { Length: > 0 })
            {
                await error.WriteLineAsync("give --file featurestore.yaml or --project NAME");
                return CliApp.Usage;
            }
            else if (target == ModelStage.Production && !forced)
            {
                // Without the repository its gates are unknown: checking none would let any version through.
                await error.WriteLineAsync("a promotion to production checks the gates the repository declares: give --file featurestore.yaml (or --force --reason TEXT)");
                return CliApp.Usage;
            }

            var projectName = repository?.Project ?? parse.GetValue(project)!;
            var (store, keyPrefix, connected) = await OnlineStores.ConnectSharedAsync(parse, redis, prefix, error);
            if (store is null)
            {
                return connected;
            }

            await using (store)
            {
                var registry = new ModelRegistryStore(store.Database, keyPrefix, projectName);
                if (await registry.GetAsync(name, label) is not { } candidate)
                {
                    await error.WriteLineAsync($"{name} {label} is not registered (`featurestore model register` first)");
                    return CliApp.Failure;
                }

                IReadOnlyList<GateResult> gates = [];
                if (target == ModelStage.Production && candidate.Stage != ModelStage.Production && repository?.FindModel(name) is { } declared)
                {
                    var production = (await registry.VersionsAsync(name)).FirstOrDefault(v => v.Stage == ModelStage.Production)?.Version;
                    var evaluator = new GateEvaluator(
                        new PerformanceStore(store.Database, new DriftKeys(keyPrefix, projectName)),
                        await DriftCommands.OpenDriftStoreAsync(store.Database, keyPrefix, projectName, error, cancellationToken),
                        keyPrefix,
                        projectName);
                    gates = await evaluator.EvaluateAsync(declared, candidate, production, new GateInputs(parse.GetValue(validation)), cancellationToken);
                }

                var failed = gates.Count(g => !g.Passed);
                if (!parse.GetValue(json))
                {
                    foreach (var gate in gates)
                    {
                        await output.WriteLineAsync(GateLine(gate));
                    }
                }

                if (failed > 0 && !forced)
                {
                    if (parse.GetValue(json))
                    {
                        await output.WriteLineAsync(new JsonObject { ["refused"] = true, ["changed"] = new JsonArray(), ["gates"] = GatesJson(gates) }.ToJsonString());
                    }

                    await error.WriteLineAsync($"refused: {failed} of {gates.Count} gates failed; {name} {label} stays {ModelStages.Name(candidate.Stage)} (--force --reason TEXT promotes anyway, recorded in `model history`)");
                    return CliApp.Usage;
                }

                var outcome = await registry.PromoteAsync(name, label, target, new StageNote(StageChange.Cli, gates, forced, why));
                if (!outcome.Found)
                {
                    await error.WriteLineAsync($"{name} {label} is not registered (`featurestore model register` first)");
                    return CliApp.Failure;
                }

                if (parse.GetValue(json))
                {
                    await output.WriteLineAsync(new JsonObject
                    {
                        ["refused"] = false,
                        ["changed"] = new JsonArray([.. outcome.Changed.Select(r => JsonNode.Parse(ModelRegistryStore.ToJson(r)))]),
                        ["gates"] = GatesJson(gates),
                    }.ToJsonString());
                    return CliApp.Ok;
                }

                if (outcome.Changed.Count == 0)
                {
                    await output.WriteLineAsync($"{name} {label} is already {ModelStages.Name(target)}");
                }

                foreach (var r in outcome.Changed)
                {
                    await output.WriteLineAsync($"{r.Model} {r.Version} → {ModelStages.Name(r.Stage)}");
                }

                if (forced && failed > 0)
                {
                    await output.WriteLineAsync($"forced past {failed} failing gate(s): {why}");
                }

                return CliApp.Ok;
            }
        });
        return command;
    }

    private static Command History()
    {
        var file = File();
        var project = Project();
        var model = Model();
        var limit = new Option<int>("--limit") { Description = $"The newest entries to show (1 to {StageHistory.Limit}).", DefaultValueFactory = _ => 50 };
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var json = Json();
        var command = new Command("history", "Every stage change of a model, oldest first: promotions with their gates, forced ones with their reason, and the degradation policy's rollbacks and retraining requests.")
        {
            file, project, model, limit, redis, prefix, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(limit) is < 1 or > StageHistory.Limit)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"--limit must be 1 to {StageHistory.Limit}");
                return CliApp.Usage;
            }

            return await WithRegistryAsync(parse, file, project, redis, prefix, async registry =>
            {
                var output = parse.InvocationConfiguration.Output;
                var entries = await registry.History.ReadAsync(parse.GetRequiredValue(model), parse.GetValue(limit));
                if (parse.GetValue(json))
                {
                    await output.WriteLineAsync("[" + string.Join(",", entries.Select(StageHistory.ToJson)) + "]");
                    return CliApp.Ok;
                }

                if (entries.Count == 0)
                {
                    await output.WriteLineAsync($"{parse.GetRequiredValue(model)} has no recorded stage change");
                    return CliApp.Ok;
                }

                foreach (var e in entries)
                {
                    var from = e.From is { } f ? ModelStages.Name(f) : "-";
                    var replaced = e.Replaced is null ? "" : e.Action == "rollback" ? $", {e.Replaced} production again" : $", replacing {e.Replaced}";
                    await output.WriteLineAsync($"{DateTimeOffset.FromUnixTimeMilliseconds(e.AtMs):u}  {e.Action,-8} {e.Version} {from} → {ModelStages.Name(e.To)} by {e.Actor}{(e.Forced ? " (forced)" : "")}{replaced}");
                    foreach (var gate in e.Gates)
                    {
                        await output.WriteLineAsync("    " + GateLine(gate));
                    }

                    if (e.Reason is not null)
                    {
                        await output.WriteLineAsync($"    reason: {e.Reason}");
                    }
                }

                return CliApp.Ok;
            });
        });
        return command;
    }

    /// <summary>The longest <c>--reason</c> kept.</summary>
    private const int MaxReasonLength = 2000;

    /// <summary><c>PASS  roc_auc &gt;= 0.85  value 0.91  bound 0.85</c>, and why when it has no value.</summary>
    internal static string GateLine(GateResult gate) =>
        $"{(gate.Passed ? "PASS" : "FAIL")}  {gate.Gate,-36} value {Gates.Format(gate.Value),-8} bound {Gates.Format(gate.Bound)}{(gate.Detail is null ? "" : $"  ({gate.Detail})")}";

    private static JsonArray GatesJson(IReadOnlyList<GateResult> gates) =>
        new([.. gates.Select(g => JsonSerializer.SerializeToNode(g, StageHistory.Json))]);
}
