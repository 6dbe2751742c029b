using System.Net;
using System.Net.Sockets;
using Garnet;

namespace FeatureStore.Redis.Embedded;

/// <summary>
/// An in-process Garnet server on 127.0.0.1: the default online store when no Redis is configured.
/// It speaks RESP, so every client path (StackExchange.Redis) is the one used against Redis in production.
/// </summary>
public sealed class EmbeddedGarnet : IDisposable
{
    private readonly GarnetServer _server;
    private int _disposed;

    private EmbeddedGarnet(GarnetServer server, int port)
    {
        _server = server;
        Port = port;
    }

    /// <summary>The TCP port the server listens on (127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>The endpoint in StackExchange.Redis configuration form, <c>127.0.0.1:PORT</c>.</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>
    /// Starts a server with memory-only storage and Lua scripting enabled, each script run as a transaction.
    /// </summary>
    /// <param name="port">The port; a free one is picked when null.</param>
    /// <param name="memory">Log memory size in Garnet's notation (for example <c>512m</c>).</param>
    public static EmbeddedGarnet Start(int? port = null, string memory = "512m")
    {
        var chosen = port ?? FreeTcpPort();
        string[] args =
        [
            "--bind", "127.0.0.1",
            "--port", chosen.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--memory", memory,
            "--lua", "true",
            // A script runs as one atomic step, as on redis-server (keys locked, run, unlocked): ingest's batch
            // write relies on it.
            "--lua-transaction-mode", "true",
            "-q",
            "--logger-level", "Error",
        ];
        var server = new GarnetServer(args);
        try
        {
            server.Start();
        }
        catch
        {
            server.Dispose();
            throw;
        }

        return new EmbeddedGarnet(server, chosen);
    }

    /// <summary>Stops the server and frees its memory.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _server.Dispose();
        }
    }

    private static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
