using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace FeatureStore.Testing;

/// <summary>
/// A real <c>redis-server</c> process on a free 127.0.0.1 port with its own temporary directory.
/// It can be killed and started again on the same port and directory (for fault tests); dispose stops it
/// and deletes the directory.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _executable;
    private readonly bool _persistence;
    private readonly string[] _extra;
    private Process? _process;

    private RedisServer(string executable, int port, string directory, bool persistence, string[] extra)
    {
        _executable = executable;
        Port = port;
        Directory = directory;
        _persistence = persistence;
        _extra = extra;
    }

    /// <summary>The message given when <c>redis-server</c> cannot be found.</summary>
    public const string NotInstalled =
        "redis-server is not installed: run scripts/install-deps.sh (or apt-get install -y redis-server)";

    /// <summary>True when a <c>redis-server</c> executable is on the PATH.</summary>
    public static bool IsInstalled => Locate() is not null;

    /// <summary>The port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The server's working directory (RDB and AOF files when persistence is on).</summary>
    public string Directory { get; }

    /// <summary>StackExchange.Redis configuration string for this server.</summary>
    public string Endpoint => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>True while the process runs.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>
    /// Starts a server and waits until it answers PING. Fails under CI (skips elsewhere) when
    /// <c>redis-server</c> is not installed; <c>scripts/install-deps.sh</c> installs it.
    /// </summary>
    /// <param name="persistence">Append-only file with fsync every write, so a kill loses nothing acknowledged.</param>
    /// <param name="cancellationToken">Stops waiting for the server.</param>
    public static Task<RedisServer> StartAsync(bool persistence = false, CancellationToken cancellationToken = default) =>
        StartAsync(persistence, [], cancellationToken);

    /// <summary>Starts a node for a Redis Cluster (<c>--cluster-enabled yes</c>, its own nodes file); not yet part of any cluster.</summary>
    public static Task<RedisServer> StartClusterNodeAsync(CancellationToken cancellationToken = default) =>
        StartAsync(persistence: false, ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"], cancellationToken);

    private static async Task<RedisServer> StartAsync(bool persistence, string[] extra, CancellationToken cancellationToken)
    {
        var executable = Locate() ?? throw ServiceRequirement.Missing(NotInstalled);
        var directory = Path.Combine(Path.GetTempPath(), "fs-redis-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        var server = new RedisServer(executable, FreePort.Next(), directory, persistence, extra);
        await server.RestartAsync(cancellationToken);
        return server;
    }

    /// <summary>Starts the process again (after <see cref="Kill"/>) on the same port and directory.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("redis-server is already running");
        }

        var info = new ProcessStartInfo(_executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Directory,
        };
        foreach (var arg in Arguments())
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var process = _process;
        await Eventually.TrueAsync(
            async () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"redis-server exited with code {process.ExitCode}");
                }

                await using var probe = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
                {
                    EndPoints = { Endpoint },
                    ConnectTimeout = 500,
                    AbortOnConnectFail = true,
                });
                return (await probe.GetDatabase().PingAsync()) >= TimeSpan.Zero;
            },
            TimeSpan.FromSeconds(15),
            $"redis-server answering PING on {Endpoint}",
            cancellationToken);
    }

    /// <summary>Kills the process at once (SIGKILL), as a crash would.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
    }

    /// <summary>Kills the server and deletes its directory.</summary>
    public ValueTask DisposeAsync()
    {
        Kill();
        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open is removed with the temporary folder later; nothing else depends on it.
        }

        return ValueTask.CompletedTask;
    }

    private IEnumerable<string> Arguments()
    {
        yield return "--port";
        yield return Port.ToString(CultureInfo.InvariantCulture);
        yield return "--bind";
        yield return "127.0.0.1";
        yield return "--dir";
        yield return Directory;
        yield return "--protected-mode";
        yield return "no";
        yield return "--daemonize";
        yield return "no";
        yield return "--save";
        yield return "";
        yield return "--appendonly";
        yield return _persistence ? "yes" : "no";
        if (_persistence)
        {
            yield return "--appendfsync";
            yield return "always";
        }

        foreach (var arg in _extra)
        {
            yield return arg;
        }
    }

    private static string? Locate() => Locate("redis-server");

    /// <summary>The path of <paramref name="program"/> on the PATH (or /usr/bin, /usr/local/bin), or null.</summary>
    public static string? Locate(string program)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin").Append("/usr/local/bin"))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
