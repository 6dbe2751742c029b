using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace FeatureStore.Testing;

/// <summary>
/// A .NET program run as a separate process for tests that need process boundaries (consumer groups,
/// crashes). Its output lines are collected; it is killed on dispose whatever state it is in.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly SemaphoreSlim _lineArrived = new(0);

    private ChildProcess(Process process) => _process = process;

    /// <summary>Lines written to standard output so far.</summary>
    public IReadOnlyCollection<string> Lines => _lines;

    /// <summary>Standard error so far (for failure messages).</summary>
    public string ErrorText => string.Join('\n', _errors);

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Exit code (after exit).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The process id.</summary>
    public int Id => _process.Id;

    /// <summary>Starts <c>dotnet <paramref name="assemblyPath"/> <paramref name="arguments"/></c>.</summary>
    public static ChildProcess StartDotnet(string assemblyPath, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (!File.Exists(assemblyPath))
        {
            throw new FileNotFoundException($"program to run not built: {assemblyPath}");
        }

        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(assemblyPath);
        foreach (var arg in arguments)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                child._lines.Enqueue(e.Data);
                child._lineArrived.Release();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                child._errors.Enqueue(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits for the first output line matching <paramref name="predicate"/>.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var match = _lines.FirstOrDefault(predicate);
                if (match is not null)
                {
                    return match;
                }

                if (_process.HasExited)
                {
                    // Output may still be draining: one last look after the exit.
                    await _process.WaitForExitAsync(cts.Token);
                    return _lines.FirstOrDefault(predicate)
                        ?? throw new InvalidOperationException($"process exited ({_process.ExitCode}) before the line appeared; stderr: {ErrorText}");
                }

                await _lineArrived.WaitAsync(TimeSpan.FromMilliseconds(200), cts.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no matching line within {timeout.TotalSeconds:0.#} s; stdout tail: {string.Join(" | ", _lines.TakeLast(5))}; stderr: {ErrorText}");
        }
    }

    /// <summary>Sends SIGTERM (a graceful stop request).</summary>
    public void Terminate()
    {
        if (!_process.HasExited && !OperatingSystem.IsWindows())
        {
            _ = Kill(_process.Id, 15);
        }
    }

    /// <summary>Kills the process at once (SIGKILL), as a crash would.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>Waits for the process to exit.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>Kills the process if it still runs.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            KillHard();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
            // never started
        }

        _process.Dispose();
        _lineArrived.Dispose();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
