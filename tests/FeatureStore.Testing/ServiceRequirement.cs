using Xunit;

namespace FeatureStore.Testing;

/// <summary>
/// What a test does when a service it needs is not installed: on a developer's machine it is skipped
/// with the reason; on the build server (CI=true) it fails, so a missing install step never hides.
/// </summary>
public static class ServiceRequirement
{
    /// <summary>True on the build server.</summary>
    public static bool OnBuildServer =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Fails (CI) or skips (elsewhere) the current test with <paramref name="reason"/>.</summary>
    public static InvalidOperationException Missing(string reason)
    {
        if (!OnBuildServer)
        {
            Assert.Skip(reason);
        }

        return new InvalidOperationException(reason);
    }
}
