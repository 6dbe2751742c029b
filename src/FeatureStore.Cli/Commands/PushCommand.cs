using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using Google.Protobuf;
using Grpc.Core;

namespace FeatureStore.Cli.Commands;

/// <summary>
/// <c>featurestore push</c>: events from a JSON lines file to a source through a running server's push API. Every
/// line is first read as ingest reads it (the repository's schema of the source), each bad line reported as
/// <c>FILE:LINE:COLUMN</c>; then the events go in requests of <c>--batch</c>, with progress on standard error and a
/// summary on standard output. A file with a bad line pushes nothing unless <c>--skip-invalid</c>; any rejected line
/// makes the exit code 1.
/// </summary>
internal static class PushCommand
{
    private const string DefaultServer = "http://127.0.0.1:6566";

    public static Command Create()
    {
        var file = new Option<FileInfo>("--file", "-f") { Description = "The repository file declaring the source.", Required = true };
        var source = new Option<string>("--source") { Description = "The source the events are for.", Required = true };
        var input = new Option<FileInfo>("--input", "-i") { Description = "A JSON lines file: one event (a JSON object) a line; blank lines are skipped.", Required = true };
        var server = new Option<string?>("--server")
        {
            Description = "The serving host's gRPC address. Env: FEATURESTORE__SERVING__ADDRESS; else the serve job of the "
                + "`featurestore run` of this folder; else http://127.0.0.1:6566.",
        };
        var apiKey = new Option<string?>("--api-key")
        {
            Description = "An API key with the write scope, when the server asks for keys. Env: FEATURESTORE__SERVING__APIKEY.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__SERVING__APIKEY"),
        };
        var wait = new Option<bool>("--wait") { Description = "Return only once ingest has applied the events (a lookup made next sees them)." };
        var batch = new Option<int>("--batch") { Description = "Events per request (1 to 100000).", DefaultValueFactory = _ => 1000 };
        var timeout = new Option<string>("--timeout") { Description = "How long each request may take, waiting for ingest included.", DefaultValueFactory = _ => "30s" };
        var skipInvalid = new Option<bool>("--skip-invalid") { Description = "Push the valid lines even when others are rejected (the exit code is still 1)." };
        var command = new Command("push", "Push events from a JSON lines file to a source through a running server (featurestore.v1.Push).")
        {
            file, source, input, server, apiKey, wait, batch, timeout, skipInvalid,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var (loaded, code) = RepositoryFiles.Load(parse.GetValue(file)!, error);
            if (code != CliApp.Ok)
            {
                return code;
            }

            var name = parse.GetValue(source)!;
            var compiled = CompiledRepository.Compile(loaded!.Repository!);
            if (compiled.Sources.FirstOrDefault(s => s.Definition.Name == name) is not { } target)
            {
                var known = string.Join(", ", compiled.Sources.Select(s => s.Definition.Name));
                await error.WriteLineAsync(loaded.Repository!.Sources.Any(s => s.Name == name)
                    ? $"--source: '{name}' feeds no feature view, so ingest does not read it"
                    : $"--source: no source '{name}' in {parse.GetValue(file)} (sources: {known})");
                return CliApp.Usage;
            }

            var size = parse.GetValue(batch);
            if (size is < 1 or > 100_000)
            {
                await error.WriteLineAsync($"--batch: {size} is not from 1 to 100000");
                return CliApp.Usage;
            }

            if (!Duration.TryParse(parse.GetValue(timeout), out var timeoutMs, out _) || timeoutMs <= 0)
            {
                await error.WriteLineAsync($"--timeout: '{parse.GetValue(timeout)}' is not a duration such as 30s or 2m");
                return CliApp.Usage;
            }

            var inputFile = parse.GetValue(input)!;
            if (!inputFile.Exists)
            {
                await error.WriteLineAsync($"--input: {inputFile} does not exist");
                return CliApp.Usage;
            }

            // First pass: every line read as ingest reads it, so a bad file is reported whole before anything is sent.
            var check = await CheckAsync(inputFile, target.Schema, error, cancellationToken);
            if (check.Rejected > 0 && !parse.GetValue(skipInvalid))
            {
                await error.WriteLineAsync($"{inputFile}: {check.Rejected} of {check.Events} event(s) rejected; nothing pushed (--skip-invalid pushes the valid ones)");
                return CliApp.Failure;
            }

            var address = parse.GetValue(server) ?? Environment.GetEnvironmentVariable("FEATURESTORE__SERVING__ADDRESS") ?? await GetCommand.RunningServerAsync(error) ?? DefaultServer;
            if (!Uri.TryCreate(address, UriKind.Absolute, out var uri))
            {
                await error.WriteLineAsync($"--server: '{address}' is not an address such as {DefaultServer}");
                return CliApp.Usage;
            }

            using var client = new FeatureStoreClient(uri, new FeatureStoreClientOptions { ApiKey = parse.GetValue(apiKey) });
            var started = Stopwatch.GetTimestamp();
            var pushed = 0L;
            var rejectedByServer = 0L;
            var lastProgress = started;
            var request = NewRequest(name, parse.GetValue(wait));
            var lines = new List<int>(size);
            try
            {
                await foreach (var (line, bytes) in ReadEventsAsync(inputFile, check.BadLines, cancellationToken))
                {
                    request.Events.Add(UnsafeByteOperations.UnsafeWrap(bytes));
                    lines.Add(line);
                    if (request.Events.Count == size)
                    {
                        (pushed, rejectedByServer) = await SendAsync(client, request, lines, TimeSpan.FromMilliseconds(timeoutMs), inputFile, error, pushed, rejectedByServer, cancellationToken);
                        request = NewRequest(name, request.WaitOnline);
                        lines.Clear();
                        if (Stopwatch.GetElapsedTime(lastProgress).TotalSeconds >= 1)
                        {
                            lastProgress = Stopwatch.GetTimestamp();
                            await error.WriteLineAsync($"pushed {pushed:N0} of {check.Events - check.Rejected:N0} events");
                        }
                    }
                }

                if (request.Events.Count > 0)
                {
                    (pushed, rejectedByServer) = await SendAsync(client, request, lines, TimeSpan.FromMilliseconds(timeoutMs), inputFile, error, pushed, rejectedByServer, cancellationToken);
                }
            }
            catch (RpcException ex)
            {
                await error.WriteLineAsync(ex.StatusCode switch
                {
                    StatusCode.Unavailable when ex.Status.DebugException is not null || ex.Status.Detail.Contains("subchannel", StringComparison.OrdinalIgnoreCase) =>
                        $"cannot reach the server at {uri}: is `featurestore serve --kafka …` (or `run`) running? (--server or FEATURESTORE__SERVING__ADDRESS gives its gRPC address)",
                    StatusCode.Unauthenticated or StatusCode.PermissionDenied => $"{ex.StatusCode}: {ex.Status.Detail} (give a key with the write scope with --api-key)",
                    _ => $"{ex.StatusCode}: {ex.Status.Detail}",
                });
                await error.WriteLineAsync($"{pushed:N0} event(s) were pushed before it");
                return ex.StatusCode is StatusCode.InvalidArgument or StatusCode.NotFound ? CliApp.Usage : CliApp.Failure;
            }

            var rejected = check.Rejected + rejectedByServer;
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"pushed {pushed} event(s) to {name} ({target.Definition.Topic}), {rejected} rejected, in {seconds:0.0}s{(request.WaitOnline ? ", applied online" : "")}"));
            return rejected > 0 ? CliApp.Failure : CliApp.Ok;
        });
        return command;
    }

    private static PushEventsRequest NewRequest(string source, bool wait) => new() { Source = source, WaitOnline = wait };

    private static async Task<(long Pushed, long Rejected)> SendAsync(
        FeatureStoreClient client, PushEventsRequest request, List<int> lines, TimeSpan timeout, FileInfo file, TextWriter error, long pushed, long rejected, CancellationToken cancellationToken)
    {
        try
        {
            var response = await client.PushEventsAsync(request, timeout, cancellationToken);
            return (pushed + response.Produced, rejected);
        }
        catch (PushRejectedException ex)
        {
            // Rejected by the server only (the time checks use its clock): said per line; this request's events are not pushed.
            foreach (var r in ex.Response.Rejected)
            {
                await error.WriteLineAsync($"{file}:{lines[r.Index]}: {r.Reason}{(r.Field.Length > 0 ? $" ({r.Field})" : "")}{(r.Detail.Length > 0 ? $": {r.Detail}" : "")}");
            }

            await error.WriteLineAsync($"{file}: lines {lines[0]} to {lines[^1]} not pushed: the server rejected {ex.Response.RejectedCount} of their {request.Events.Count} events");
            return (pushed, rejected + ex.Response.RejectedCount);
        }
    }

    private sealed record CheckResult(long Events, long Rejected, HashSet<int> BadLines);

    /// <summary>Reads every line as ingest would; reports each bad one as FILE:LINE[:COLUMN]: reason.</summary>
    private static async Task<CheckResult> CheckAsync(FileInfo file, EventSchema schema, TextWriter error, CancellationToken cancellationToken)
    {
        var parser = new EventParser(schema);
        long events = 0;
        long rejected = 0;
        var bad = new HashSet<int>();
        await foreach (var (line, bytes) in ReadEventsAsync(file, null, cancellationToken))
        {
            events++;
            var result = parser.Parse(bytes);
            if (result == ParseError.None)
            {
                continue;
            }

            rejected++;
            bad.Add(line);
            if (rejected > 100)
            {
                continue; // counted, no longer listed
            }

            var where = result == ParseError.MalformedJson && Column(bytes) is { } at ? $"{line}:{at.Column}" : line.ToString(CultureInfo.InvariantCulture);
            var why = result == ParseError.MalformedJson && Column(bytes) is { } found ? found.Message
                : parser.ErrorField is { } field ? $"{result.ToReason()} ({field})" : result.ToReason();
            await error.WriteLineAsync($"{file}:{where}: {why}");
        }

        if (rejected > 100)
        {
            await error.WriteLineAsync($"{file}: … and {rejected - 100} more rejected line(s)");
        }

        return new CheckResult(events, rejected, bad);
    }

    /// <summary>Where a line's JSON breaks (1-based column) and why, or null when it is valid JSON (not an object, say).</summary>
    internal static (long Column, string Message)? Column(byte[] line)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            while (reader.Read())
            {
            }

            return reader.BytesConsumed < line.Length ? (reader.BytesConsumed + 1, "malformed_json: more after the end of the value") : null;
        }
        catch (JsonException ex)
        {
            var message = ex.Message.Split(" LineNumber:", 2)[0].TrimEnd('.', ' ');
            return ((ex.BytePositionInLine ?? 0) + 1, $"malformed_json: {message}");
        }
    }

    /// <summary>The file's non-blank lines (1-based numbers), except <paramref name="skip"/>.</summary>
    private static async IAsyncEnumerable<(int Line, byte[] Bytes)> ReadEventsAsync(FileInfo file, HashSet<int>? skip, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(file.FullName, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var number = 0;
        while (await reader.ReadLineAsync(cancellationToken) is { } text)
        {
            number++;
            if (string.IsNullOrWhiteSpace(text) || (skip is not null && skip.Contains(number)))
            {
                continue;
            }

            yield return (number, System.Text.Encoding.UTF8.GetBytes(text));
        }
    }
}
