using System.Diagnostics;
using System.Text.Json;

namespace FeatureStore.Cli.Commands;

/// <summary>
/// What a running <c>featurestore run</c> tells the other commands: its addresses, in
/// <c>.featurestore/run.json</c> of the folder it was started in (or of <c>FEATURESTORE__STATE__DIRECTORY</c>).
/// Written when the host is up, removed on a clean stop; a file whose process is gone (killed) is stale and
/// ignored. <c>apply</c>, <c>baseline</c>, <c>model</c> and <c>drift</c> read it to find the online store when
/// no <c>--redis</c> is given, instead of writing into a store of their own that vanishes when they exit.
/// </summary>
/// <param name="Pid">The process of <c>run</c>.</param>
/// <param name="Started">When that process started (tells it apart from a later process with the same id).</param>
/// <param name="Redis">The online store's endpoint (without its password).</param>
/// <param name="KeyPrefix">The prefix of its keys.</param>
/// <param name="Kafka">The Kafka bootstrap servers.</param>
/// <param name="Grpc">The serving host's gRPC address, when the serve job runs.</param>
/// <param name="Http">Its HTTP address, when the serve job runs.</param>
/// <param name="Offline">The offline store's folder.</param>
internal sealed record RunState(int Pid, DateTimeOffset Started, string Redis, string KeyPrefix, string Kafka, string? Grpc, string? Http, string Offline)
{
    /// <summary>The variable naming the folder of the state file instead of <c>.featurestore</c> in the working folder.</summary>
    public const string DirectoryVariable = "FEATURESTORE__STATE__DIRECTORY";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    /// <summary>The state file's path.</summary>
    public static string FilePath => Path.Combine(
        Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } folder ? Path.GetFullPath(folder) : Path.Combine(Directory.GetCurrentDirectory(), ".featurestore"),
        "run.json");

    /// <summary>The state of this process, for <c>run</c> to write.</summary>
    public static RunState OfThisProcess(string redis, string keyPrefix, string kafka, string? grpc, string? http, string offline)
    {
        using var self = Process.GetCurrentProcess();
        return new RunState(Environment.ProcessId, self.StartTime.ToUniversalTime(), redis, keyPrefix, kafka, grpc, http, offline);
    }

    /// <summary>Writes the file atomically (write, then rename), so a reader never sees half of it.</summary>
    public void Write()
    {
        var path = FilePath;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{Pid}.tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this, Json));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Removes the file when it is still this process's (another <c>run</c> may have replaced it since).</summary>
    public static void RemoveMine()
    {
        try
        {
            if (ReadFile(FilePath) is { } state && state.Pid == Environment.ProcessId)
            {
                File.Delete(FilePath);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left behind, it is stale once this process has exited: readers ignore it.
        }
    }

    /// <summary>The state of a running host, or null (with why in <paramref name="note"/> when a stale file was ignored).</summary>
    public static RunState? Find(out string? note)
    {
        note = null;
        var path = FilePath;
        RunState? state;
        try
        {
            state = ReadFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            note = $"ignoring {path}: {ex.Message}";
            return null;
        }

        if (state is null)
        {
            return null;
        }

        if (!IsRunning(state))
        {
            note = $"ignoring {path}: the `featurestore run` that wrote it (process {state.Pid}) is gone";
            return null;
        }

        return state;
    }

    private static RunState? ReadFile(string path) =>
        File.Exists(path) ? JsonSerializer.Deserialize<RunState>(File.ReadAllText(path), Json) : null;

    private static bool IsRunning(RunState state)
    {
        try
        {
            using var process = Process.GetProcessById(state.Pid);

            // A process id is reused after its process exits: the start time tells them apart.
            return !process.HasExited && (process.StartTime.ToUniversalTime() - state.Started).Duration() < TimeSpan.FromSeconds(2);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
