namespace FeatureStore.Client;

/// <summary>How a <see cref="FeatureStoreClient"/> reaches the serving host.</summary>
public sealed class FeatureStoreClientOptions
{
    /// <summary>Sent as <c>x-api-key</c> on every call when set.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Deadline of each call; a slower answer fails with DEADLINE_EXCEEDED.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The HTTP handler under the channel (a test server's, or one with custom TLS); null for the default.</summary>
    public HttpMessageHandler? HttpHandler { get; init; }
}
