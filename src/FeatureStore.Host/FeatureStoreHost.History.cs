using System.Diagnostics;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Ingest.History;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.History;
using FeatureStore.Parquet.Tables;
using FeatureStore.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Host;

/// <summary>The histories the repository declares (a source's <c>history</c>), imported before any job starts.</summary>
public sealed partial class FeatureStoreHost
{
    /// <summary>
    /// Imports each source's declared history, one import per file, as <c>featurestore import</c> does with the
    /// online store: before the jobs start, because the ingest job and the archiver read the cut-over when they
    /// start. An import done before (same file bytes, same cut-over) finds its marker and writes nothing, so every
    /// start can run this; a file added to a history folder is imported alone. Rejected rows are logged with their
    /// rejects file and the start goes on; a missing file, or one that is not a table, stops the start.
    /// </summary>
    private async Task ImportDeclaredHistoryAsync(CompiledRepository compiled, OnlineStoreConnection store, string prefix, CancellationToken cancellationToken)
    {
        var declared = compiled.Sources.Where(x => x.Definition.History is not null).ToList();
        var inputs = new List<(CompiledSource Source, IReadOnlyList<string> Files)>();
        foreach (var source in declared)
        {
            var files = SourceHistoryImport.Inputs(Settings.Repository, source.Definition.History!, out var problem);
            if (problem is not null)
            {
                throw new HostConfigurationException($"{Settings.Repository}: the history of source '{source.Definition.Name}': {problem}");
            }

            inputs.Add((source, files));
        }

        foreach (var (source, files) in inputs)
        {
            var history = source.Definition.History!;
            foreach (var file in files)
            {
                var options = new HistoryImportOptions([file])
                {
                    Format = SourceHistoryImport.Format(history),
                    StoreDirectory = Settings.Offline.Directory,
                    CutoverMs = history.CutoverMs,
                };
                LogHistoryImporting(source.Definition.Name, file);
                var done = await ImportAsync(compiled, source, options, store, prefix, file, cancellationToken).ConfigureAwait(false);

                var cutover = done.CutoverMs is { } ms ? Rfc3339.Format(ms) : "none";
                if (done.AlreadyImported)
                {
                    LogHistoryImportedBefore(source.Definition.Name, file, done.Accepted, cutover, done.ImportId[..16]);
                    continue;
                }

                LogHistoryImported(source.Definition.Name, file, done.Accepted, done.Rejected, done.AfterCutover, cutover, done.Elapsed.TotalSeconds, done.ImportId[..16],
                    string.Join("; ", done.Views.Select(v => $"{v.View}: {v.Entities} entities, {v.Online} online")));
                foreach (var rejects in done.RejectFiles)
                {
                    LogHistoryRejects(source.Definition.Name, done.Rejected, rejects);
                }
            }
        }
    }

    // One file's import. Another process importing the same source into the same store (a second replica of
    // `run` starting beside the first) holds its lock: wait for it, then its marker makes this one a no-op.
    private async Task<HistoryImportResult> ImportAsync(
        CompiledRepository compiled, CompiledSource source, HistoryImportOptions options, OnlineStoreConnection store, string prefix, string file, CancellationToken cancellationToken)
    {
        var wait = TimeSpan.FromSeconds(1);
        while (true)
        {
            try
            {
                return await SourceHistoryImport.RunAsync(compiled, source, options, store.Database, prefix, new LoggedProgress(this, source.Definition.Name), cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (HistoryImportBusyException ex)
            {
                LogHistoryBusy(source.Definition.Name, file, ex.Message, wait.TotalSeconds);
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromSeconds(30).Ticks)); // each try reads the file again for its id
            }
            catch (Exception ex) when (ex is TableFileException or InvalidDataException)
            {
                throw new HostConfigurationException($"the history of source '{source.Definition.Name}': {ex.Message}");
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // The jobs wait for a store that is down; an import cannot (nothing of it is visible until it ends): the
                // start fails, and the next one imports. The client's message is cut before its long diagnostics.
                throw new OnlineStoreUnavailableException(
                    $"the history of source '{source.Definition.Name}' ({file}) cannot be imported: the online store at {store.Endpoint} is unreachable ({ex.Message.Split(" - ", 2)[0]})", ex);
            }
        }
    }

    [LoggerMessage(15, LogLevel.Information, "history of {Source}: {File} waits: {Reason}; trying again in {Seconds} s")]
    private partial void LogHistoryBusy(string source, string file, string reason, double seconds);

    [LoggerMessage(10, LogLevel.Information, "history of {Source}: importing {File}")]
    private partial void LogHistoryImporting(string source, string file);

    [LoggerMessage(11, LogLevel.Information, "history of {Source}: {File} imported before ({Events} events, cut-over {Cutover}, import {ImportId}); nothing to do")]
    private partial void LogHistoryImportedBefore(string source, string file, long events, string cutover, string importId);

    [LoggerMessage(12, LogLevel.Information, "history of {Source}: {File}: {Accepted} events imported, {Rejected} rejected, {AfterCutover} at or after the cut-over left to the stream; cut-over {Cutover}; {Seconds:0.0} s; import {ImportId}; {Views}")]
    private partial void LogHistoryImported(string source, string file, long accepted, long rejected, long afterCutover, string cutover, double seconds, string importId, string views);

    [LoggerMessage(13, LogLevel.Warning, "history of {Source}: {Rejected} rows refused, each with its line and reason in {RejectsFile}; the other rows are imported. Leave the file as it is (a changed file is a new import: its rows would count twice); import the corrected rows from a file of their own")]
    private partial void LogHistoryRejects(string source, long rejected, string rejectsFile);

    [LoggerMessage(14, LogLevel.Information, "history of {Source}: {Stage}")]
    private partial void LogHistoryProgress(string source, string stage);

    /// <summary>An import's progress in the logs: each stage, and the rows read at most every 5 seconds.</summary>
    private sealed class LoggedProgress(FeatureStoreHost host, string source) : IProgress<ExportProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private string? _stage;
        private TimeSpan _last;

        public void Report(ExportProgress value)
        {
            // A new stage is logged at once, the rows read within one at most every 5 seconds.
            if (value.Stage == _stage && _clock.Elapsed - _last < TimeSpan.FromSeconds(5))
            {
                return;
            }

            var first = value.Stage != _stage;
            _stage = value.Stage;
            _last = _clock.Elapsed;
            if (first || value.Done > 0)
            {
                // "importing FILE" counts the rows read so far; the other stages are logged once.
                host.LogHistoryProgress(source, value.Done > 0 ? $"{value.Stage}: {value.Done} rows" : value.Stage);
            }
        }
    }
}
