using System.Net;
using System.Security.Cryptography.X509Certificates;
using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Online;

namespace FeatureStore.Serving;

/// <summary>What an API key may do: read (lookups, registry, reports), write (push events), or both.</summary>
[Flags]
public enum ApiKeyScopes
{
    /// <summary>Nothing.</summary>
    None = 0,

    /// <summary>Lookups and every other read.</summary>
    Read = 1,

    /// <summary>Pushing events to sources.</summary>
    Write = 2,
}

/// <summary>An API key, what it may do, and optionally the only feature views it may read.</summary>
/// <param name="Key">The secret the client sends in <c>x-api-key</c> (or <c>authorization: Bearer KEY</c>).</param>
/// <param name="Views">The views it may look up; null for every view.</param>
public sealed record ApiKey(string Key, IReadOnlyList<string>? Views = null)
{
    /// <summary>What the key may do: read only unless its text says otherwise.</summary>
    public ApiKeyScopes Scopes { get; init; } = ApiKeyScopes.Read;

    /// <summary>
    /// Parses <c>KEY</c> (read every view) or <c>KEY:view_a,view_b</c> (read only those views), either one
    /// optionally ending in a scope: <c>@read</c> (the default), <c>@write</c> (push only, no reads) or
    /// <c>@read+write</c>.
    /// </summary>
    public static ApiKey Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var scopes = ApiKeyScopes.Read;
        var at = text.LastIndexOf('@');
        if (at >= 0 && ParseScopes(text.AsSpan(at + 1).Trim()) is { } parsed)
        {
            scopes = parsed;
            text = text[..at];
            ArgumentException.ThrowIfNullOrWhiteSpace(text);
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return new ApiKey(text.Trim()) { Scopes = scopes };
        }

        var key = text[..colon].Trim();
        ArgumentException.ThrowIfNullOrWhiteSpace(key, nameof(text));
        return new ApiKey(key, [.. text[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]) { Scopes = scopes };
    }

    // Only these exact suffixes are scopes, so a key that merely holds an '@' keeps it.
    private static ApiKeyScopes? ParseScopes(ReadOnlySpan<char> text) => text switch
    {
        "read" => ApiKeyScopes.Read,
        "write" => ApiKeyScopes.Write,
        "read+write" or "write+read" => ApiKeyScopes.Read | ApiKeyScopes.Write,
        _ => null,
    };
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

    /// <summary>
    /// Push (<c>featurestore.v1.Push</c>, <c>POST /v1/push/{source}</c>): the Kafka cluster events are produced to
    /// and the ingest group whose checkpoints <c>wait online</c> follows; null: push is off (UNIMPLEMENTED).
    /// </summary>
    public PushOptions? Push { get; init; }

    /// <summary>Where lookups take "now" from.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>Settings of the push API (<see cref="FeatureServerOptions.Push"/>).</summary>
public sealed class PushOptions
{
    /// <summary>Kafka bootstrap servers the sources' topics live on.</summary>
    public required string BootstrapServers { get; init; }

    /// <summary>The ingest consumer group whose applied offsets <c>wait online</c> waits for.</summary>
    public string IngestGroup { get; init; } = "featurestore-ingest";

    /// <summary>Most events in one request; more gives RESOURCE_EXHAUSTED.</summary>
    public int MaxEvents { get; init; } = 100_000;

    /// <summary>Largest request body over HTTP (gRPC messages are limited to 16 MiB); more gives 413.</summary>
    public int MaxBodyBytes { get; init; } = 64 << 20;

    /// <summary>How long an HTTP push waits for ingest (with <c>wait=online</c>) when it sets no <c>timeout</c>.</summary>
    public TimeSpan DefaultWaitTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Extra librdkafka settings for the producer (security, SASL…).</summary>
    public IReadOnlyDictionary<string, string> KafkaSettings { get; init; } = new Dictionary<string, string>();
}
