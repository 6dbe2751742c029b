// A model version's reference performance: given at `model register`, set or replaced by `model reference`,
// shown by `model show`. The performance monitor compares against it (max_drop) and estimates with its CBPE fit.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Models;
using FeatureStore.Core.Performance;
using FeatureStore.Monitor.Performance;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;

namespace FeatureStore.Cli.Commands;

internal static partial class ModelCommands
{
    private static Command Reference()
    {
        var file = File();
        file.Required = true;
        var model = Model();
        var version = Version();
        var reference = new ReferenceOptions(required: true);
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var json = Json();
        var command = new Command("reference", "Set or replace a registered version's reference performance: its validation metrics (--metrics FILE.json), or metrics and the estimation's calibration computed from a labelled validation file (--validation FILE).")
        {
            file, model, version, redis, prefix, json,
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
                if (await new ModelRegistryStore(store.Database, keyPrefix, repository.Project).GetAsync(name, label) is null)
                {
                    await error.WriteLineAsync($"{name} {label} is not registered (`featurestore model register` first)");
                    return CliApp.Failure;
                }

                await new PerformanceStore(store.Database, new DriftKeys(keyPrefix, repository.Project)).SaveReferenceAsync(performance!);
                if (parse.GetValue(json))
                {
                    await output.WriteLineAsync(JsonSerializer.Serialize(Summary(performance!), PerformanceStore.Json));
                    return CliApp.Ok;
                }

                await output.WriteLineAsync($"reference of {name} {label}: {Describe(performance!)}");
                await output.WriteLineAsync($"  metrics:       {Metrics(performance!)}");
                await output.WriteLineAsync($"  estimate band: {Band(performance!)}");
                return CliApp.Ok;
            }
        });
        return command;
    }

    /// <summary>The record's JSON with its <c>reference</c> (metrics and the estimate's shape, not its calibration), null when none is stored.</summary>
    private static string WithReference(ModelVersionRecord record, ReferencePerformance? reference)
    {
        var node = JsonNode.Parse(ModelRegistryStore.ToJson(record))!.AsObject();
        node["reference"] = reference is null ? null : JsonNode.Parse(JsonSerializer.Serialize(Summary(reference), PerformanceStore.Json));
        return node.ToJsonString();
    }

    private static ReferenceSummary Summary(ReferencePerformance r) =>
        new(r.Task, r.Metrics, r.Count, r.Source, r.Cbpe is { } c ? new EstimateSummary(c.Threshold, c.ChunkSize, c.Chunks, c.Spread is not null) : null);

    /// <summary><c>binary_classification from validation.parquet (3000 rows)</c>.</summary>
    private static string Describe(ReferencePerformance r) =>
        $"{JsonNamingPolicy.SnakeCaseLower.ConvertName(r.Task.ToString())} from {r.Source}{(r.Count is { } n ? $" ({n} rows)" : " (given)")}";

    private static string Metrics(ReferencePerformance r) =>
        string.Join(", ", r.Metrics.Select(m => $"{m.Key} {m.Value.ToString("0.####", CultureInfo.InvariantCulture)}"));

    private static string Band(ReferencePerformance r) => r.Cbpe switch
    {
        null => "none (no labelled validation scores: give --validation for one)",
        { Spread: null } c => $"none ({r.Count} validation rows make {c.Chunks} chunk(s) of {c.ChunkSize}; 2 are needed: estimates have no band)",
        var c => $"yes ({c.Chunks} chunks of {c.ChunkSize}, threshold {c.Threshold.ToString(CultureInfo.InvariantCulture)})",
    };

    /// <summary>What <c>model show --json</c> and <c>model reference --json</c> print of a reference.</summary>
    private sealed record ReferenceSummary(PerformanceTask Task, IReadOnlyDictionary<string, double> Metrics, long? Count, string Source, EstimateSummary? Estimate);

    /// <summary>The estimation's shape: its decision threshold, chunks, and whether it has a band.</summary>
    private sealed record EstimateSummary(double Threshold, int ChunkSize, int Chunks, bool Band);

    /// <summary>
    /// <c>--metrics FILE.json</c>, or <c>--validation FILE --score-column C --label-column L</c>, with <c>--task</c>
    /// and <c>--chunk-size</c>: the columns, task and decision threshold default to the model's first performance
    /// monitor and its labels' label_field.
    /// </summary>
    private sealed class ReferenceOptions(bool required)
    {
        private readonly Option<string?> _metrics = new("--metrics") { Description = "A JSON object of the version's validation metrics, e.g. {\"roc_auc\": 0.91, \"log_loss\": 0.3}." };
        private readonly Option<string?> _validation = new("--validation") { Description = "A labelled validation file (Parquet, or .csv) with a score and a label column, in prediction order." };
        private readonly Option<string?> _scoreColumn = new("--score-column") { Description = "The validation file's score column (default: the model's first performance monitor's score field)." };
        private readonly Option<string?> _labelColumn = new("--label-column") { Description = "The validation file's label column: bool or 0/1 for a classifier (default: the model's labels' label_field)." };
        private readonly Option<string?> _task = CreateTask();
        private readonly Option<int?> _chunkSize = new("--chunk-size") { Description = "Rows per chunk of the estimation's band (default: max(100, rows / 20))." };

        public void AddTo(Command command)
        {
            command.Options.Add(_metrics);
            command.Options.Add(_validation);
            command.Options.Add(_scoreColumn);
            command.Options.Add(_labelColumn);
            command.Options.Add(_task);
            command.Options.Add(_chunkSize);
        }

        /// <summary>The reference the options give (null when none is asked for and none is required), or a usage error already written.</summary>
        public async Task<(ReferencePerformance? Reference, int Code)> ComputeAsync(ParseResult parse, ModelDefinition? model, string name, string version, TextWriter error, CancellationToken cancellationToken)
        {
            var metrics = parse.GetValue(_metrics);
            var validation = parse.GetValue(_validation);
            if (metrics is not null && validation is not null)
            {
                return await UsageAsync(error, "give either --metrics or --validation, not both");
            }

            if (metrics is null && validation is null)
            {
                return required ? await UsageAsync(error, "give --metrics FILE.json or --validation FILE") : (null, CliApp.Ok);
            }

            if (!await FileRoot.AllowAsync(error, ("--metrics", metrics), ("--validation", validation)))
            {
                return (null, CliApp.Usage);
            }

            PerformanceTask task;
            if (parse.GetValue(_task) is { } taskText)
            {
                task = taskText == "regression" ? PerformanceTask.Regression : PerformanceTask.BinaryClassification;
            }
            else if (model?.PerformanceMonitors.FirstOrDefault() is { } first)
            {
                task = first.Task;
            }
            else
            {
                return await UsageAsync(error, $"model '{name}' declares no performance monitor: give --task binary_classification or regression");
            }

            var monitor = model?.PerformanceMonitors.FirstOrDefault(p => p.Task == task);
            if (parse.GetValue(_chunkSize) is < 1)
            {
                return await UsageAsync(error, "--chunk-size must be 1 or more");
            }

            try
            {
                if (metrics is not null)
                {
                    return (await ReferenceComputer.FromMetricsFileAsync(name, version, task, metrics, cancellationToken), CliApp.Ok);
                }

                var score = parse.GetValue(_scoreColumn) ?? monitor?.ScoreField;
                var label = parse.GetValue(_labelColumn) ?? model?.Labels?.LabelField;
                if (score is null || label is null)
                {
                    return await UsageAsync(error, $"{validation}: give --score-column and --label-column (model '{name}' declares no performance monitor or labels to take them from)");
                }

                var threshold = monitor?.DecisionThreshold ?? BinaryClassificationWindow.DefaultThreshold;
                return (await ReferenceComputer.FromValidationAsync(name, version, task, validation!, score, label, threshold, parse.GetValue(_chunkSize), cancellationToken), CliApp.Ok);
            }
            catch (ReferenceException ex)
            {
                return await UsageAsync(error, ex.Message);
            }
        }

        private static Option<string?> CreateTask()
        {
            var option = new Option<string?>("--task") { Description = "binary_classification or regression (default: the model's first performance monitor's task)." };
            option.AcceptOnlyFromAmong("binary_classification", "regression");
            return option;
        }

        private static async Task<(ReferencePerformance?, int)> UsageAsync(TextWriter error, string message)
        {
            await error.WriteLineAsync(message);
            return (null, CliApp.Usage);
        }
    }
}
