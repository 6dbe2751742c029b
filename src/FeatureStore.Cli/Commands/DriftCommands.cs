using System.CommandLine;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Host;
using FeatureStore.Host.Jobs;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Performance;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Monitor.Quality;
using StackExchange.Redis;

namespace FeatureStore.Cli.Commands;

/// <summary><c>featurestore baseline</c>, <c>drift</c> and <c>monitor</c> (DESIGN.md §7).</summary>
internal static class DriftCommands
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private static Option<string> ModelOption() => new("--model", "-m") { Description = "The model (as named in the repository).", Required = true };

    private static Option<string> VersionOption() => new("--version", "-v") { Description = "The model version.", Required = true };

    private static Option<FileInfo> InputOption(string what) => new("--input", "-i") { Description = what, Required = true };

    public static Command Baseline()
    {
        var file = CommonOptions.RepositoryFile();
        var model = ModelOption();
        var version = VersionOption();
        var input = InputOption("Training data: a Parquet file (e.g. a training export) or CSV, with a column per monitored column (view__feature for features).");
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var command = new Command("baseline", "Compute a model version's drift baseline from training data and store it in the online store (replacing the previous one).")
        {
            file, model, version, input, redis, prefix,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var (repository, found, code) = Resolve(parse, file, model, error);
            if (code != CliApp.Ok)
            {
                return code;
            }

            if (!await FileRoot.AllowAsync(error, ("--input", parse.GetRequiredValue(input).FullName)))
            {
                return CliApp.Usage;
            }

            ModelBaseline baseline;
            try
            {
                baseline = await BaselineComputer.ComputeAsync(found!, parse.GetRequiredValue(version), parse.GetRequiredValue(input).FullName, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), repository, cancellationToken);
            }
            catch (BaselineException ex)
            {
                await error.WriteLineAsync(ex.Message);
                return ex.Message.Contains("cannot read", StringComparison.Ordinal) ? CliApp.Failure : CliApp.Usage;
            }

            foreach (var (column, method) in found!.Monitors.SelectMany(m => m.Methods.Where(x => x.Learned).Select(x => (m.Column, x.Name))))
            {
                if (!baseline.Columns[column].LearnedThresholds.ContainsKey(method))
                {
                    await error.WriteLineAsync($"note: {column}: nothing learned for {method} (the training data holds fewer than two whole chunks of the monitor's window, or the method does not apply to the column): its default threshold applies");
                }
            }

            var (store, keyPrefix, connected) = await OnlineStores.ConnectSharedAsync(parse, redis, prefix, error);
            if (store is null)
            {
                return connected;
            }

            await using (store)
            {
                await (await OpenDriftStoreAsync(store.Database, keyPrefix, repository!.Project, error, cancellationToken)).SaveBaselineAsync(baseline);
            }

            await parse.InvocationConfiguration.Output.WriteLineAsync(JsonSerializer.Serialize(new
            {
                baseline.Id,
                baseline.Model,
                baseline.Version,
                baseline.Source,
                Columns = baseline.Columns.Values.Select(c => new
                {
                    c.Column,
                    Kind = c.Numeric is null ? "categorical" : "numeric",
                    Count = c.Numeric?.Count ?? c.Categorical!.Count,
                    Bins = c.Numeric?.Shares.Length ?? c.Categorical!.Shares.Length,
                    c.NonFinite,
                    ReferenceSize = c.Numeric?.ReferenceSize(),
                    ReferenceSampled = c.Numeric?.ReferenceSampled,
                    c.LearnedThresholds,
                }),
            }, Json));
            return CliApp.Ok;
        });
        return command;
    }

    public static Command Drift()
    {
        var file = CommonOptions.RepositoryFile();
        var model = ModelOption();
        var version = VersionOption();
        var input = InputOption("Current data: a Parquet or CSV file with the monitored columns.");
        var baselineFile = new Option<FileInfo>("--baseline-input") { Description = "Compute the baseline from this training file instead of reading the stored one." };
        var learned = new Option<bool>("--learned-thresholds") { Description = "Use thresholds learned from the training data where the monitor gives none." };
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var command = new Command("drift", "One-shot drift report: a model version's baseline against every row of a file; JSON on stdout.")
        {
            file, model, version, input, baselineFile, learned, redis, prefix,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var (repository, found, code) = Resolve(parse, file, model, error);
            if (code != CliApp.Ok)
            {
                return code;
            }

            if (!await FileRoot.AllowAsync(error, ("--input", parse.GetRequiredValue(input).FullName), ("--baseline-input", parse.GetValue(baselineFile)?.FullName)))
            {
                return CliApp.Usage;
            }

            var label = parse.GetRequiredValue(version);
            try
            {
                ModelBaseline? baseline;
                if (parse.GetValue(baselineFile) is { } training)
                {
                    baseline = await BaselineComputer.ComputeAsync(found!, label, training.FullName, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), repository, cancellationToken);
                }
                else
                {
                    var (store, keyPrefix, connected) = await OnlineStores.ConnectSharedAsync(parse, redis, prefix, error);
                    if (store is null)
                    {
                        return connected;
                    }

                    await using (store)
                    {
                        baseline = await (await OpenDriftStoreAsync(store.Database, keyPrefix, repository!.Project, error, cancellationToken)).LoadBaselineAsync(found!.Name, label);
                    }

                    if (baseline is null)
                    {
                        await error.WriteLineAsync($"no baseline stored for {found.Name}@{label}: run `featurestore baseline` first, or give --baseline-input");
                        return CliApp.Failure;
                    }
                }

                var summary = await DriftReport.ComputeAsync(found!, baseline, parse.GetRequiredValue(input).FullName, parse.GetValue(learned), cancellationToken);
                await parse.InvocationConfiguration.Output.WriteLineAsync(JsonSerializer.Serialize(summary, Json));
                return CliApp.Ok;
            }
            catch (BaselineException ex)
            {
                await error.WriteLineAsync(ex.Message);
                return ex.Message.Contains("cannot read", StringComparison.Ordinal) ? CliApp.Failure : CliApp.Usage;
            }
        });
        return command;
    }

    public static Command Monitor()
    {
        var file = CommonOptions.RepositoryFile();
        var bootstrap = CommonOptions.BootstrapServers();
        var redis = CommonOptions.Redis();
        var prefix = CommonOptions.KeyPrefix();
        var group = new Option<string>("--group") { Description = "Consumer group of the monitor.", DefaultValueFactory = _ => "featurestore-monitor" };
        var learned = new Option<bool>("--learned-thresholds") { Description = "Use thresholds learned from the training data where a monitor gives none." };
        var history = new Option<string>("--history-url") { Description = "Base of the drift-history link in alerts.", DefaultValueFactory = _ => "http://localhost:6567/v1/drift/history" };
        var sessionTimeout = new Option<int>("--session-timeout-ms") { Description = "How soon the group notices a member that died (Kafka session.timeout.ms).", DefaultValueFactory = _ => 10_000 };
        var historyDir = new Option<DirectoryInfo?>("--history-dir") { Description = "Also keep the whole drift history as Parquet in this folder (the online store keeps the newest 10 000 windows per version)." };
        var metricsPort = JobConsole.MetricsPortOption("featurestore_monitor_*");
        var command = new Command("monitor", "Consume the models' prediction topics, evaluate drift per window against the stored baselines, keep the history and send alert webhooks. Stops cleanly on Ctrl-C / SIGTERM.")
        {
            file, bootstrap, redis, prefix, group, learned, history, sessionTimeout, historyDir, metricsPort,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var signals = JobConsole.CancelOnSignals(stop);
            var error = parse.InvocationConfiguration.Error;
            var (repository, servers, code) = await JobConsole.PrepareAsync(parse, file, bootstrap, error);
            if (code != CliApp.Ok)
            {
                return code;
            }

            // The flags as a host configuration of the monitor alone: the host's mapping makes its options.
            MonitorOptions options;
            try
            {
                options = HostJobOptions.Monitor(new HostSettings
                {
                    Kafka = { SessionTimeout = Duration.Format(parse.GetValue(sessionTimeout)) },
                    Jobs =
                    {
                        Monitor =
                        {
                            Group = parse.GetValue(group)!,
                            LearnedThresholds = parse.GetValue(learned),
                            HistoryUrl = parse.GetValue(history)!,
                            HistoryDirectory = parse.GetValue(historyDir)?.FullName,
                        },
                    },
                }, servers);
            }
            catch (HostConfigurationException ex)
            {
                await error.WriteLineAsync($"--session-timeout-ms: {ex.Message}");
                return CliApp.Usage;
            }

            if (await OnlineStores.ConnectAsync(parse.GetValue(redis), error) is not { } store)
            {
                return CliApp.Failure;
            }

            await using (store)
            {
                using var loggerFactory = JobConsole.Loggers();
                using var metrics = new MonitorMetrics();
                var (exporter, served) = await JobConsole.ServeMetricsAsync(parse.GetValue(metricsPort), error, cancellationToken);
                if (served != CliApp.Ok)
                {
                    return served;
                }

                using var metricsExporter = exporter;
                var job = new MonitorJob(repository!, store.Database, parse.GetValue(prefix)!, options, metrics, loggerFactory.CreateLogger("monitor"));

                // The label join and performance windows run beside the drift monitor, in their own consumer group.
                using var performanceMetrics = MonitorMetrics.ForPerformance();
                var performance = PerformanceJob.Models(repository!).Count > 0
                    ? new PerformanceJob(repository!, store.Database, parse.GetValue(prefix)!, options, performanceMetrics, loggerFactory.CreateLogger("performance")).RunAsync(stop.Token)
                    : Task.CompletedTask;

                // Freshness objectives and quality thresholds too, when the repository declares any (docs/quality.md).
                using var qualityMetrics = MonitorMetrics.ForQuality();
                var quality = QualityJob.Declared(repository!)
                    ? new QualityJob(repository!, store.Database, parse.GetValue(prefix)!, options, qualityMetrics, loggerFactory.CreateLogger("quality")).RunAsync(stop.Token)
                    : Task.CompletedTask;
                await Task.WhenAll(job.RunAsync(stop.Token), performance, quality);

                await error.WriteLineAsync($"stopped: {metrics.Predictions} predictions, {metrics.Windows} windows, {metrics.AlertsRaised} alerts raised, {metrics.AlertsDelivered} delivered, {metrics.DeadLettered} dead-lettered");
                if (PerformanceJob.Models(repository!).Count > 0)
                {
                    await error.WriteLineAsync($"performance: {performanceMetrics.Predictions} predictions, {performanceMetrics.Windows} windows, {performanceMetrics.AlertsRaised} alerts raised, {performanceMetrics.AlertsDelivered} delivered, {performanceMetrics.DeadLettered} dead-lettered");
                }

                if (QualityJob.Declared(repository!))
                {
                    await error.WriteLineAsync($"quality: {qualityMetrics.Windows} evaluations, {qualityMetrics.AlertsRaised} alerts raised, {qualityMetrics.AlertsDelivered} delivered");
                }

                return CliApp.Ok;
            }
        });
        return command;
    }

    /// <summary>
    /// The project's drift store, once the keys an earlier version wrote without the hash tag have moved to their
    /// tagged names (said on <paramref name="error"/> when some did).
    /// </summary>
    public static async Task<DriftStore> OpenDriftStoreAsync(IDatabase database, string keyPrefix, string project, TextWriter error, CancellationToken cancellationToken)
    {
        var store = new DriftStore(database, keyPrefix, project);
        var upgrade = await store.UpgradeLayoutAsync(cancellationToken);
        if (upgrade.Moved.Count > 0)
        {
            await error.WriteLineAsync($"note: {upgrade.Moved.Count} drift keys of project {project} written without the hash tag moved to {store.Keys.Base}:…");
        }

        foreach (var untagged in upgrade.Kept)
        {
            await error.WriteLineAsync($"warning: drift key {untagged} left in place: {store.Keys.Tagged(untagged)} already holds other data, which is used");
        }

        return store;
    }

    private static (FeatureRepository? Repository, ModelDefinition? Model, int Code) Resolve(ParseResult parse, Option<FileInfo> file, Option<string> model, TextWriter error)
    {
        var (result, code) = RepositoryFiles.Load(parse.GetRequiredValue(file), error);
        if (code != CliApp.Ok)
        {
            return (null, null, code);
        }

        var repository = result!.Repository!;
        var name = parse.GetRequiredValue(model);
        if (repository.FindModel(name) is not { } found)
        {
            error.WriteLine($"no model '{name}' in the repository (models: {string.Join(", ", repository.Models.Select(m => m.Name))})");
            return (repository, null, CliApp.Usage);
        }

        if (found.Monitors.Count == 0)
        {
            error.WriteLine($"model '{name}' has no monitors: nothing to compute");
            return (repository, null, CliApp.Usage);
        }

        return (repository, found, CliApp.Ok);
    }
}
