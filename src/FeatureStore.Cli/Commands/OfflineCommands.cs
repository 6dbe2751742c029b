using System.CommandLine;
using System.Diagnostics;
using FeatureStore.Core.Definitions;
using FeatureStore.Parquet.Compaction;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.History;
using FeatureStore.Parquet.Snapshots;
using FeatureStore.Parquet.Tables;
using FeatureStore.Redis;

namespace FeatureStore.Cli.Commands;

/// <summary><c>featurestore import</c>, <c>export</c>, <c>backfill</c> and <c>offline compact</c>: the offline store's commands.</summary>
internal static class OfflineCommands
{
    public static Option<string> Store() => new("--store")
    {
        Description = "The offline store's folder (event log and snapshots). Env: FEATURESTORE__OFFLINE__DIRECTORY.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__OFFLINE__DIRECTORY") ?? "offline",
    };

    public static Command Export()
    {
        var file = CommonOptions.RepositoryFile();
        var store = Store();
        var entities = new Option<FileInfo>("--entities", "-e")
        {
            Description = "Entity table (Parquet, or CSV by its .csv extension): join key columns, an event_timestamp column (a Parquet timestamp of any unit, epoch numbers, RFC 3339 or 'YYYY-MM-DD HH:MM:SS' read as UTC), any other columns (passed through).",
            Required = true,
        };
        var features = new Option<string[]>("--features")
        {
            Description = "Features to add: view:feature, or view for all of a view's; comma-separated or repeated.",
            AllowMultipleArgumentsPerToken = true,
        };
        var model = new Option<string?>("--model", "-m")
        {
            Description = "Add the features of a model version: MODEL (its newest version) or MODEL@VERSION; after --features.",
        };
        var output = new Option<FileInfo>("--output", "-o") { Description = "The training set to write.", Required = true };
        var format = new Option<ExportFormat?>("--format")
        {
            Description = "parquet (default), arrow (Arrow IPC file) or csv; by default taken from the output's extension (.arrow/.feather/.ipc, .csv), else parquet.",
        };
        var timestampUnit = TimestampUnitOption();
        var maxEvents = new Option<long>("--max-events-in-memory")
        {
            Description = "Events held in memory at once (~40-70 bytes each); a larger log is read in several passes, each for a share of the entities.",
            DefaultValueFactory = _ => PointInTimeExport.DefaultMaxEventsInMemory,
        };
        maxEvents.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<long>() <= 0)
            {
                result.AddError("--max-events-in-memory must be positive");
            }
        });
        var command = new Command("export", "Point-in-time-correct training export: one row per entity-table row with each feature's value at that row's event_timestamp, columns named view__feature.")
        {
            file, store, entities, features, model, output, format, maxEvents, timestampUnit,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var (compiled, code) = Compile(parse, file, error);
            if (compiled is null)
            {
                return code;
            }

            IReadOnlyList<FeatureSelection> selection;
            IReadOnlyList<RequestSelection> requests;
            try
            {
                var references = (parse.GetValue(features) ?? []).ToList();
                if (parse.GetValue(model) is { Length: > 0 } name)
                {
                    references.AddRange(FeatureSelection.ModelFeatures(compiled, name));
                }

                (selection, requests) = RequestSelection.Parse(compiled, references);
            }
            catch (ArgumentException ex)
            {
                await error.WriteLineAsync((parse.GetValue(model) is null ? "--features: " : "--features/--model: ") + ex.Message);
                return CliApp.Usage;
            }

            var outputFile = parse.GetRequiredValue(output);
            if (!await FileRoot.AllowAsync(error, ("--store", parse.GetValue(store)), ("--entities", parse.GetRequiredValue(entities).FullName), ("--output", outputFile.FullName)))
            {
                return CliApp.Usage;
            }

            if (!await StoreExistsAsync(parse.GetValue(store)!, error) || !await OutputWritableAsync(outputFile, error))
            {
                return CliApp.Usage;
            }

            var chosen = parse.GetValue(format) ?? FormatOf(outputFile.Name);
            var progress = new TerminalProgress(error);
            return await RunFileJobAsync("export", progress, error, async () =>
            {
                var done = await PointInTimeExport.RunAsync(compiled, parse.GetValue(store)!, parse.GetRequiredValue(entities).FullName, selection,
                    outputFile.FullName, chosen, progress, cancellationToken, parse.GetValue(maxEvents), parse.GetValue(timestampUnit), requests);
                progress.Finish();
                await error.WriteLineAsync($"export: {done.Rows} rows × {done.FeatureColumns} features → {outputFile} ({chosen.ToString().ToLowerInvariant()}), {done.EventsRead} events read{(done.SnapshotsUsed > 0 ? $", {done.SnapshotsUsed} views from snapshots" : "")}, {done.Elapsed.TotalSeconds:0.0} s");
                return CliApp.Ok;
            });
        });
        return command;
    }

    public static Command Backfill()
    {
        var file = CommonOptions.RepositoryFile();
        var store = Store();
        var views = new Option<string[]>("--view")
        {
            Description = "Views to backfill (default: every view); comma-separated or repeated.",
            AllowMultipleArgumentsPerToken = true,
        };
        var events = new Option<FileInfo?>("--events")
        {
            Description = "Read history from this JSON-lines file of source events (one event per line, the source's format) instead of the store's event log.",
        };
        var command = new Command("backfill", "Compute a view's tiles from history (the offline event log or an events file) into daily snapshots, so new features train on past data and exports start from a snapshot.")
        {
            file, store, views, events,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var (compiled, code) = Compile(parse, file, error);
            if (compiled is null)
            {
                return code;
            }

            var names = (parse.GetValue(views) ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            var chosen = new List<CompiledView>();
            foreach (var name in names)
            {
                if (compiled.FindView(name) is not { } view)
                {
                    await error.WriteLineAsync($"--view: unknown feature view '{name}' (views: {string.Join(", ", compiled.Views.Select(v => v.Name))})");
                    return CliApp.Usage;
                }

                chosen.Add(view);
            }

            if (chosen.Count == 0)
            {
                chosen.AddRange(compiled.Views);
            }

            var eventsFile = parse.GetValue(events);
            if (!await FileRoot.AllowAsync(error, ("--store", parse.GetValue(store)), ("--events", eventsFile?.FullName)))
            {
                return CliApp.Usage;
            }

            if (eventsFile is { Exists: false })
            {
                await error.WriteLineAsync($"--events: {eventsFile}: no such file");
                return CliApp.Usage;
            }

            // Without --events the history is the store's event log; with it, the store only receives the snapshots.
            if (eventsFile is null && !await StoreExistsAsync(parse.GetValue(store)!, error))
            {
                return CliApp.Usage;
            }

            var progress = new TerminalProgress(error);
            return await RunFileJobAsync("backfill", progress, error, async () =>
            {
                foreach (var view in chosen)
                {
                    var done = await TileBackfill.RunAsync(view, parse.GetValue(store)!, eventsFile?.FullName, progress, cancellationToken);
                    progress.Finish();
                    foreach (var problem in done.Problems)
                    {
                        await error.WriteLineAsync(problem);
                    }

                    await error.WriteLineAsync($"backfill {view.Name}: {done.Events} events, {done.Entities} entities, {done.Snapshots} daily snapshots{(done.Skipped > 0 ? $", {done.Skipped} lines skipped" : "")}");
                }

                return CliApp.Ok;
            });
        });
        return command;
    }

    public static Command Import()
    {
        var file = CommonOptions.RepositoryFile();
        var source = new Option<string?>("--source")
        {
            Description = "The source the events belong to (default: the repository's only source).",
        };
        var inputs = new Option<FileInfo[]>("--input", "-i")
        {
            Description = "History files of the source's events, in any order and of any size; repeated or several after one --input.",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var format = new Option<HistoryFormat?>("--format")
        {
            Description = "jsonl (one event per line, as the topic carries it), csv (a header naming the source's fields) or parquet (columns named like them); by default each file's extension (.csv, .parquet), else jsonl.",
        };
        var cutover = new Option<string?>("--cutover")
        {
            Description = "The hand-over instant: the history owns event times before it, the stream the rest (rows at or after it are left out). RFC 3339, 'YYYY-MM-DD HH:MM:SS' (UTC) or epoch ms. Default: the newest accepted event + 1 ms.",
        };
        var store = Store();
        var redis = CommonOptions.SharedRedis();
        var prefix = CommonOptions.SharedKeyPrefix();
        var command = new Command("import", "Load a source's past events from files into the offline event log, exactly once: each row parsed as ingest parses the topic (no lateness); refused rows go to INPUT.rejects.jsonl beside each input.")
        {
            file, source, inputs, format, cutover, store, redis, prefix,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var (compiled, code) = Compile(parse, file, error);
            if (compiled is null)
            {
                return code;
            }

            var name = parse.GetValue(source);
            var chosen = name is null && compiled.Sources.Count == 1 ? compiled.Sources[0] : compiled.Sources.FirstOrDefault(s => s.Definition.Name == name);
            if (chosen is null)
            {
                await error.WriteLineAsync($"--source: {(name is null ? "the repository has several sources; name one" : $"unknown source '{name}'")} (sources: {string.Join(", ", compiled.Sources.Select(s => s.Definition.Name))})");
                return CliApp.Usage;
            }

            long? cutoverMs = null;
            if (parse.GetValue(cutover) is { } text)
            {
                if (!EntityTimestamps.TryParse(text, TimestampUnit.Milliseconds, out var ms, out var problem))
                {
                    await error.WriteLineAsync($"--cutover: {problem}");
                    return CliApp.Usage;
                }

                cutoverMs = ms;
            }

            var files = parse.GetRequiredValue(inputs);
            if (!await FileRoot.AllowAsync(error, [("--store", parse.GetValue(store)), .. files.Select(f => ("--input", (string?)f.FullName))]))
            {
                return CliApp.Usage;
            }

            foreach (var missing in files.Where(f => !f.Exists))
            {
                await error.WriteLineAsync($"--input: {missing}: no such file");
                return CliApp.Usage;
            }

            // The online part needs a store that outlives the command; without one given or found, the history
            // reaches the offline log alone (said so), and a later import with --redis adds the online part.
            OnlineStoreConnection? connection = null;
            var keyPrefix = "fs";
            if (parse.GetValue(redis) is not null || Environment.GetEnvironmentVariable("FEATURESTORE__REDIS__CONFIGURATION") is { Length: > 0 } || RunState.Find(out _) is not null)
            {
                (connection, keyPrefix, code) = await OnlineStores.ConnectSharedAsync(parse, redis, prefix, error);
                if (connection is null)
                {
                    return code;
                }
            }
            else
            {
                await error.WriteLineAsync("note: no online store (--redis, FEATURESTORE__REDIS__CONFIGURATION or a running `featurestore run`): the history goes to the offline event log only");
            }

            await using var online = connection;
            var progress = new TerminalProgress(error);
            return await RunFileJobAsync("import", progress, error, async () =>
            {
                var options = new HistoryImportOptions([.. files.Select(f => f.FullName)])
                {
                    Format = parse.GetValue(format),
                    StoreDirectory = parse.GetValue(store)!,
                    CutoverMs = cutoverMs,
                };
                var done = await Ingest.History.SourceHistoryImport.RunAsync(compiled, chosen, options, connection?.Database, keyPrefix, progress, cancellationToken);
                progress.Finish();
                if (done.AlreadyImported)
                {
                    await error.WriteLineAsync($"import {chosen.Definition.Name}: these inputs were imported before ({done.Accepted} events, cut-over {Cutover(done.CutoverMs)}, import {done.ImportId[..16]}); nothing to do");
                    return CliApp.Ok;
                }

                var seconds = Math.Max(done.Elapsed.TotalSeconds, 1e-3);
                await error.WriteLineAsync($"import {chosen.Definition.Name}: {done.Accepted} events accepted, {done.Rejected} rejected, {done.Elapsed.TotalSeconds:0.0} s ({done.Accepted / seconds:0} events/s)"
                    + (done.FirstEventMs is { } from && done.LastEventMs is { } to ? $", event times {DateTimeOffset.FromUnixTimeMilliseconds(from):u} .. {DateTimeOffset.FromUnixTimeMilliseconds(to):u}" : ""));
                foreach (var view in done.Views)
                {
                    await error.WriteLineAsync($"  {view.View}: {view.Entities} entities, {view.Events} events"
                        + (view.Online is { } written ? $", {written} entities online (the others' history is older than the ttl)" : ""));
                }

                if (done.CutoverMs is not null)
                {
                    await error.WriteLineAsync($"cut-over {Cutover(done.CutoverMs)}: history owns the events before it"
                        + (done.AfterCutover > 0 ? $"; {done.AfterCutover} rows at or after it left to the stream" : "")
                        + $"; event log {Path.GetFullPath(parse.GetValue(store)!)}, import {done.ImportId[..16]}");
                }

                foreach (var rejects in done.RejectFiles)
                {
                    await error.WriteLineAsync($"rejected rows (line, reason, field): {rejects}");
                }

                return done.Rejected > 0 ? CliApp.Failure : CliApp.Ok;
            });
        });
        return command;
    }

    private static string Cutover(long? ms) => ms is { } value ? Core.Events.Rfc3339.Format(value) : "none";

    public static Command Offline()
    {
        var command = new Command("offline", "Maintenance of the offline store.");
        command.Subcommands.Add(Compact());
        return command;
    }

    private static Command Compact()
    {
        var store = Store();
        var file = new Option<FileInfo?>("--file", "-f") { Description = "The feature repository file: compact only its sources (default: every source in the store)." };
        var sources = new Option<string[]>("--source")
        {
            Description = "Sources to compact (default: all); comma-separated or repeated.",
            AllowMultipleArgumentsPerToken = true,
        };
        var targetRows = new Option<long>("--target-rows")
        {
            Description = "Most rows per compacted file.",
            DefaultValueFactory = _ => new EventLogCompactionOptions().TargetRows,
        };
        var grace = new Option<string>("--grace")
        {
            Description = "How long replaced files stay for readers that listed them before (deleted by the next compaction after it); 0s deletes them at once, safe only when nothing reads the store meanwhile.",
            DefaultValueFactory = _ => "1h",
        };
        var command = new Command("compact", "Merge the event log's small files (one per written batch) into files of up to --target-rows rows, safely beside a running ingest job and readers.")
        {
            store, file, sources, targetRows, grace,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var output = parse.InvocationConfiguration.Output;
            var directory = parse.GetValue(store)!;
            if (parse.GetValue(targetRows) < 2)
            {
                await error.WriteLineAsync("--target-rows: must be 2 or more");
                return CliApp.Usage;
            }

            if (!Duration.TryParse(parse.GetValue(grace), out var graceMs, out var hint) || graceMs < 0)
            {
                await error.WriteLineAsync($"--grace: '{parse.GetValue(grace)}' is not a duration ({hint})");
                return CliApp.Usage;
            }

            if (!await FileRoot.AllowAsync(error, ("--store", directory)) || !await StoreExistsAsync(directory, error))
            {
                return CliApp.Usage;
            }

            var known = new EventLogCompactor(directory, new EventLogCompactionOptions()).Sources();
            var allowed = known;
            if (parse.GetValue(file) is { } repositoryFile)
            {
                var (result, code) = RepositoryFiles.Load(repositoryFile, error);
                if (code != CliApp.Ok)
                {
                    return code;
                }

                allowed = [.. result!.Repository!.Sources.Select(s => s.Name)];
            }

            var chosen = (parse.GetValue(sources) ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            foreach (var name in chosen.Where(n => !allowed.Contains(n)))
            {
                await error.WriteLineAsync($"--source: no {(parse.GetValue(file) is null ? "event log of source" : "source")} '{name}' (sources: {(allowed.Count == 0 ? "none" : string.Join(", ", allowed))})");
                return CliApp.Usage;
            }

            if (chosen.Count == 0)
            {
                chosen = [.. allowed.Where(known.Contains)];
            }

            var options = new EventLogCompactionOptions
            {
                TargetRows = parse.GetValue(targetRows),
                Grace = TimeSpan.FromMilliseconds(graceMs),
                Sources = chosen,
            };
            var progress = new TerminalProgress(error);
            return await RunFileJobAsync("compact", progress, error, async () =>
            {
                var done = chosen.Count == 0 ? new CompactionResult([], 0, 0, 0, []) : await new EventLogCompactor(directory, options).RunAsync(progress, cancellationToken);
                progress.Finish();
                foreach (var run in done.Runs)
                {
                    await output.WriteLineAsync($"{run.Source} partition {run.Partition}: offsets {run.FirstOffset}..{run.NextOffset - 1}, {run.Batches} batches, {run.FilesBefore} files → {run.FilesAfter}, {run.Rows} rows");
                }

                foreach (var busy in done.BusySources)
                {
                    await error.WriteLineAsync($"{busy}: another compaction of it is running; skipped");
                }

                await error.WriteLineAsync($"compact: {done.Runs.Count} runs merged in {chosen.Count} sources, {done.Runs.Sum(r => r.FilesBefore)} files → {done.Runs.Sum(r => r.FilesAfter)}, {done.Runs.Sum(r => r.Rows)} rows"
                    + $"; {done.ReplacedFilesDeleted} replaced files deleted, {done.ReplacedFilesWaiting} kept for the grace of {parse.GetValue(grace)}"
                    + (done.LeftoversDeleted > 0 ? $"; {done.LeftoversDeleted} files of an interrupted compaction removed" : ""));
                return CliApp.Ok;
            });
        });
        return command;
    }

    // The repository, compiled; null (after printing every diagnostic) with the exit code when it is invalid or unreadable.
    private static (CompiledRepository? Compiled, int Code) Compile(ParseResult parse, Option<FileInfo> file, TextWriter error)
    {
        var (result, code) = RepositoryFiles.Load(parse.GetRequiredValue(file), error);
        return (code == CliApp.Ok ? CompiledRepository.Compile(result!.Repository!) : null, code);
    }

    /// <summary><c>--timestamp-unit</c>: the unit of epoch numbers in an entity table or an <c>--as-of</c>.</summary>
    public static Option<TimestampUnit> TimestampUnitOption() => new("--timestamp-unit")
    {
        Description = "Unit of epoch numbers: s, ms, us, ns, or auto (the one unit in which the number falls between 1980 and 2200; a number in none is refused).",
        DefaultValueFactory = _ => TimestampUnit.Auto,
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "auto";
            if (EntityTimestamps.TryParseUnit(text, out var unit))
            {
                return unit;
            }

            result.AddError($"--timestamp-unit: '{text}' is none of auto, s, ms, us, ns");
            return TimestampUnit.Auto;
        },
    };

    // A store folder that is not there is a wrong path (or a command run from the wrong folder), not an empty
    // store: reading it as empty would export zeros for every row.
    internal static async Task<bool> StoreExistsAsync(string directory, TextWriter error)
    {
        if (Directory.Exists(directory))
        {
            return true;
        }

        await error.WriteLineAsync($"--store: no offline store at {Path.GetFullPath(directory)} (give --store or FEATURESTORE__OFFLINE__DIRECTORY the folder `ingest --offline` or `run` writes)").ConfigureAwait(false);
        return false;
    }

    // The output is checked before the (possibly long) computation, so a wrong path fails at once.
    private static async Task<bool> OutputWritableAsync(FileInfo output, TextWriter error)
    {
        if (Directory.Exists(output.FullName))
        {
            await error.WriteLineAsync($"--output: {output} is a directory; give the file to write, e.g. {Path.Combine(output.ToString(), "training.parquet")}").ConfigureAwait(false);
            return false;
        }

        if (output.Directory is { Exists: false } folder)
        {
            await error.WriteLineAsync($"--output: the folder {folder.FullName} does not exist").ConfigureAwait(false);
            return false;
        }

        return true;
    }

    private static ExportFormat FormatOf(string name) => Path.GetExtension(name).ToLowerInvariant() switch
    {
        ".csv" => ExportFormat.Csv,
        ".arrow" or ".feather" or ".ipc" => ExportFormat.Arrow,
        _ => ExportFormat.Parquet,
    };

    /// <summary>Progress on standard error: one rewritten line on a terminal, one line per stage otherwise.</summary>
    /// <summary>
    /// Runs a file job that reports on <paramref name="progress"/>: a bad input table is a usage error (its
    /// file:line message, exit 2), a file that cannot be read or written a failure (exit 1) named by <paramref name="what"/>.
    /// </summary>
    private static async Task<int> RunFileJobAsync(string what, TerminalProgress progress, TextWriter error, Func<Task<int>> job)
    {
        try
        {
            return await job();
        }
        catch (TableFileException ex)
        {
            progress.Finish();
            await error.WriteLineAsync(ex.Message);
            return CliApp.Usage;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            progress.Finish();
            await error.WriteLineAsync(what + " failed: " + ex.Message);
            return CliApp.Failure;
        }
    }

    internal sealed class TerminalProgress(TextWriter error) : IProgress<ExportProgress>
    {
        private readonly Lock _lock = new();
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly bool _terminal = ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected;
        private string? _stage;
        private TimeSpan _last = TimeSpan.MinValue;
        private bool _open;

        public void Report(ExportProgress value)
        {
            lock (_lock)
            {
                if (!_terminal)
                {
                    if (value.Stage != _stage)
                    {
                        _stage = value.Stage;
                        error.WriteLine(value.Stage);
                    }

                    return;
                }

                if (value.Stage == _stage && _clock.Elapsed - _last < TimeSpan.FromMilliseconds(200))
                {
                    return;
                }

                _stage = value.Stage;
                _last = _clock.Elapsed;
                var amount = value.Total > 0 ? $" {value.Done}/{value.Total} ({100.0 * value.Done / value.Total:0}%)" : value.Done > 0 ? $" {value.Done}" : "";
                error.Write($"\r\u001b[2K{value.Stage}{amount}");
                _open = true;
            }
        }

        public void Finish()
        {
            lock (_lock)
            {
                if (_open)
                {
                    error.WriteLine();
                    _open = false;
                }

                _stage = null;
            }
        }
    }
}
