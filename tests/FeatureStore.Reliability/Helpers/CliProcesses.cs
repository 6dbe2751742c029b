using System.Globalization;
using System.Text;
using FeatureStore.Testing;

namespace FeatureStore.Reliability.Helpers;

/// <summary>
/// <c>featurestore ingest</c> members and <c>featurestore serve</c> replicas over one repository file and one online
/// store, each a separate process. Dispose kills every one still running; <see cref="Logs"/> gives the tail of each
/// one's output, for failure messages.
/// </summary>
internal sealed class CliProcesses(string repositoryFile, string redis, string keyPrefix) : IAsyncDisposable
{
    private readonly List<(string Name, ChildProcess Process)> _started = [];

    /// <summary>Starts one member of consumer group <paramref name="group"/>.</summary>
    public ChildProcess StartIngest(string bootstrap, string group, int sessionTimeoutMs, int batchEvents)
    {
        var process = ChildProcess.StartDotnet(TestCli.Path,
        [
            "ingest", "-f", repositoryFile, "--bootstrap-servers", bootstrap, "--redis", redis, "--key-prefix", keyPrefix,
            "--group", group, "--session-timeout-ms", Invariant(sessionTimeoutMs), "--batch-events", Invariant(batchEvents),
        ]);
        _started.Add(("ingest", process));
        return process;
    }

    /// <summary>
    /// Starts a server on free ports and waits until it listens; returns its gRPC address. The pipeline read strategy
    /// is the one a Redis Cluster needs (its lookups read keys of many slots).
    /// </summary>
    public async Task<Uri> StartServeAsync(bool pipeline, CancellationToken cancellationToken)
    {
        var grpcPort = FreePort.Next();
        var process = ChildProcess.StartDotnet(TestCli.Path,
        [
            "serve", "-f", repositoryFile, "--redis", redis, "--key-prefix", keyPrefix,
            "--grpc-port", Invariant(grpcPort), "--http-port", Invariant(FreePort.Next()),
            // A cold server on the loaded 2-core machine may take longer than the default second over its first reads;
            // what is checked here is values, not latency.
            "--store-timeout-ms", "30000",
            .. (pipeline ? new[] { "--read-strategy", "pipeline" } : []),
        ]);
        _started.Add(("serve", process));
        await process.WaitForLineAsync(l => l.StartsWith("serving:", StringComparison.Ordinal), TimeSpan.FromSeconds(60), cancellationToken);
        return new Uri($"http://127.0.0.1:{Invariant(grpcPort)}");
    }

    /// <summary>
    /// The last lines of every process's standard output and error (stack frames left out, so that the messages show),
    /// and the start of an unhandled exception with its frames.
    /// </summary>
    public string Logs()
    {
        var text = new StringBuilder();
        foreach (var (name, process) in _started)
        {
            var state = process.HasExited ? $"exited {Invariant(process.ExitCode)}" : "running";
            var errors = process.ErrorText.Split('\n');
            var messages = errors.Where(l => !l.TrimStart().StartsWith("at ", StringComparison.Ordinal) && !l.Contains("--- End of", StringComparison.Ordinal));
            text.Append(CultureInfo.InvariantCulture, $"\n--- {name} pid {process.Id} ({state})\nstdout: ")
                .AppendJoin("\n        ", process.Lines.TakeLast(12))
                .Append("\nstderr: ")
                .AppendJoin("\n        ", messages.TakeLast(12));
            var crash = Array.FindIndex(errors, l => l.Contains("Unhandled exception", StringComparison.Ordinal));
            if (crash >= 0)
            {
                text.Append("\ncrash:  ").AppendJoin("\n        ", errors.Skip(crash).Take(25));
            }
        }

        return text.ToString();
    }

    /// <summary>Kills every process still running.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var (_, process) in _started)
        {
            await process.DisposeAsync();
        }

        _started.Clear();
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
