using System.Reflection;

namespace FeatureStore.Reliability.Helpers;

/// <summary>The built <c>featurestore</c> command, for tests that run it as a separate process.</summary>
internal static class TestCli
{
    public static readonly string Path = System.IO.Path.GetFullPath(typeof(TestCli).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliPath").Value!);
}
