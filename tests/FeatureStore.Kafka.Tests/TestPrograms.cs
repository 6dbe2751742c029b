using System.Reflection;

namespace FeatureStore.Kafka.Tests;

/// <summary>Paths of the programs the multi-process tests run, baked in at build time.</summary>
internal static class TestPrograms
{
    public static string TestPeer => Metadata("TestPeerPath");

    public static string Cli => Metadata("CliPath");

    private static string Metadata(string key) =>
        Path.GetFullPath(typeof(TestPrograms).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!);
}
