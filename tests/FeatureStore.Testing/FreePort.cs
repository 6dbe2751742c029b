using System.Net;
using System.Net.Sockets;

namespace FeatureStore.Testing;

/// <summary>Free TCP ports on 127.0.0.1 for the services a test starts.</summary>
public static class FreePort
{
    // Below Linux's ephemeral range (32768–60999): a port handed out here is never one the kernel gives a client
    // connection or a listener bound to port 0 — notably the embedded broker's, which a broker-fault test closes
    // and opens again on the same port, and which a service started meanwhile must not take (librdkafka aborts
    // the process when it cannot listen again).
    private const int First = 20_000;
    private const int Last = 32_767;
    private static readonly HashSet<int> Given = [];

    /// <summary>A port that was free a moment ago, not given before in this process, outside the ephemeral range.</summary>
    public static int Next()
    {
        lock (Given)
        {
            for (var attempt = 0; attempt < 1_000; attempt++)
            {
                var port = Random.Shared.Next(First, Last + 1);
                if (Given.Contains(port))
                {
                    continue;
                }

                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                }
                catch (SocketException)
                {
                    continue; // in use, by another test process or anything else
                }

                Given.Add(port);
                return port;
            }
        }

        throw new InvalidOperationException($"no free port between {First} and {Last} after 1 000 tries");
    }
}
