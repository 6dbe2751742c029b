using System.Net;
using System.Security.Cryptography.X509Certificates;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Online;

namespace FeatureStore.Serving;

/// <summary>An API key and, optionally, the only feature views it may read.</summary>
/// <param name="Key">The secret the client sends in <c>x-api-key</c> (or <c>authorization: Bearer KEY</c>).</param>
/// <param name="Views">The views it may look up; null for every view.</param>
public sealed record ApiKey(string Key, IReadOnlyList<string>? Views = null)
{
    /// <summary>
    /// Parses <c>KEY</c> (every view) or <c>KEY:view_a,view_b</c> (only those views).
    /// </summary>
    public static ApiKey Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return new ApiKey(text.Trim());
        }

        var key = text[..colon].Trim();
        ArgumentException.ThrowIfNullOrWhiteSpace(key, nameof(text));
        return new ApiKey(key, [.. text[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]);
    }
}

/// <summary>Configuration of a <see cref="FeatureServer"/>.</summary>
public sealed class FeatureServerOptions
{
    /// <summary>
    /// Serve this repository (from a file) instead of the registry's current version of <see cref="Project"/>.
    /// </summary>
    public FeatureRepository? Repository { get; init; }

    /// <summary>The project whose registry version is served when <see cref="Repository"/> is null.</summary>
    public string? Project { get; init; }

    /// <summary>Prefix of every online-store key (<c>fs</c>).</summary>
    public string KeyPrefix { get; init; } = "fs";

    /// <summary>The address the ports listen on (loopback by default; <see cref="IPAddress.Any"/> in containers).</summary>
    public IPAddress ListenAddress { get; init; } = IPAddress.Loopback;

    /// <summary>Port of the gRPC endpoint (HTTP/2 without TLS).</summary>
    public int GrpcPort { get; init; } = 6566;

    /// <summary>Port of the HTTP/1.1 endpoint: JSON lookups, <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>.</summary>
    public int HttpPort { get; init; } = 6567;

    /// <summary>Most entity rows one lookup may ask for; more gives RESOURCE_EXHAUSTED.</summary>
    public int MaxEntities { get; init; } = 1000;

    /// <summary>How long a lookup waits for the online store before answering UNAVAILABLE.</summary>
    public TimeSpan StoreTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the registry version is checked besides the change notifications.</summary>
    public TimeSpan RegistryPollInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often the model registry's stages are read besides its change notices: a lookup by model name reads the
    /// production version's features, and follows a promotion or rollback within this at the latest.
    /// </summary>
    public TimeSpan ModelStagePollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>API keys; when empty, no key is asked for.</summary>
    public IReadOnlyList<ApiKey> ApiKeys { get; init; } = [];

    /// <summary>
    /// How lookups read the online store: by default the store chooses (pipeline on Redis Cluster, script on a
    /// single server); script or transaction on a cluster is refused when the server is created.
    /// </summary>
    public OnlineReadStrategy ReadStrategy { get; init; } = OnlineReadStrategy.Auto;

    /// <summary>The offline store exports read (the event log and snapshots); null: no exports.</summary>
    public string? OfflineStore { get; init; }

    /// <summary>The only folder export jobs read entity tables from and write outputs to; null: no exports.</summary>
    public string? ExportDirectory { get; init; }

    /// <summary>
    /// Serve both ports over TLS with this certificate (it must carry its private key): HTTPS on the
    /// HTTP port, gRPC over TLS (HTTP/2 negotiated by ALPN) on the gRPC port. Null: cleartext.
    /// </summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>Where lookups take "now" from.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
