using System.Net;
using System.Net.Sockets;

namespace FeatureStore.Testing;

/// <summary>Free TCP ports on 127.0.0.1 for the services a test starts.</summary>
public static class FreePort
{
    /// <summary>A port that was free a moment ago (the OS picks it, so parallel tests do not collide).</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
