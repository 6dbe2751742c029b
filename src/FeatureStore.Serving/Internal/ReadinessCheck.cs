using FeatureStore.Redis.Online;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FeatureStore.Serving.Internal;

/// <summary>Ready when a repository version is loaded and the online store answers PING.</summary>
internal sealed class ReadinessCheck(RegistryCache registry, OnlineStoreHealth store) : IHealthCheck
{
    public const string Tag = "ready";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!registry.IsLoaded)
        {
            return HealthCheckResult.Unhealthy($"no repository version of '{registry.Project}' loaded yet");
        }

        try
        {
            await store.PingAsync(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"serving '{registry.Project}' version {registry.Current.Version}");
        }
        catch (Exception ex) when (OnlineStoreHealth.IsStoreFailure(ex))
        {
            return HealthCheckResult.Unhealthy("the online store does not answer", ex);
        }
    }
}
