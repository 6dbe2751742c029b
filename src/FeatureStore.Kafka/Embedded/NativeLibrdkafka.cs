using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace FeatureStore.Kafka.Embedded;

/// <summary>
/// P/Invoke declarations for librdkafka's mock-cluster C API, and for the cluster id, which Confluent.Kafka
/// does not expose. They bind to the very library file that Confluent.Kafka loaded: two copies in one process
/// would be two separate librdkafkas.
/// </summary>
internal static partial class NativeLibrdkafka
{
    private const string Lib = "librdkafka";
    private static readonly Lock Gate = new();
    private static nint _handle;

    static NativeLibrdkafka() => NativeLibrary.SetDllImportResolver(typeof(NativeLibrdkafka).Assembly, Resolve);

    /// <summary>Loads librdkafka through Confluent.Kafka first (its choice of file is the one that counts).</summary>
    public static void EnsureLoaded()
    {
        if (!Library.IsLoaded)
        {
            Library.Load();
        }

        _ = Handle();
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == Lib ? Handle() : 0;

    private static nint Handle()
    {
        lock (Gate)
        {
            if (_handle != 0)
            {
                return _handle;
            }

            if (!Library.IsLoaded)
            {
                Library.Load();
            }

            foreach (var path in Candidates())
            {
                if (NativeLibrary.TryLoad(path, out var handle))
                {
                    _handle = handle;
                    return handle;
                }
            }

            throw new DllNotFoundException("cannot locate the librdkafka that Confluent.Kafka loaded");
        }
    }

    private static IEnumerable<string> Candidates()
    {
        // On Linux the loaded file is listed in the process's memory map: dlopen of that path returns the
        // same handle rather than a second copy.
        if (OperatingSystem.IsLinux() && File.Exists("/proc/self/maps"))
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var slash = line.IndexOf('/', StringComparison.Ordinal);
                if (slash >= 0 && line.Contains("librdkafka", StringComparison.Ordinal) && line.EndsWith(".so", StringComparison.Ordinal))
                {
                    yield return line[slash..];
                }
            }
        }

        // Elsewhere: the files Confluent.Kafka tries, in its order.
        var baseDir = Path.GetDirectoryName(typeof(Library).Assembly.Location) ?? AppContext.BaseDirectory;
        var rid = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "arm64" : "x64";
        string[] names = OperatingSystem.IsWindows() ? ["librdkafka.dll"]
            : OperatingSystem.IsMacOS() ? ["librdkafka.dylib"]
            : ["librdkafka.so", "centos8-librdkafka.so", "alpine-librdkafka.so"];
        var os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        foreach (var file in names)
        {
            yield return Path.Combine(baseDir, "runtimes", $"{os}-{rid}", "native", file);
            yield return Path.Combine(AppContext.BaseDirectory, "runtimes", $"{os}-{rid}", "native", file);
        }
    }

    [LibraryImport(Lib)]
    internal static partial nint rd_kafka_conf_new();

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rd_kafka_conf_set(nint conf, string name, string value, byte[] errstr, nuint errstrSize);

    [LibraryImport(Lib)]
    internal static partial void rd_kafka_conf_destroy(nint conf);

    [LibraryImport(Lib)]
    internal static partial nint rd_kafka_new(int type, nint conf, byte[] errstr, nuint errstrSize);

    [LibraryImport(Lib)]
    internal static partial void rd_kafka_destroy(nint rk);

    [LibraryImport(Lib)]
    internal static partial nint rd_kafka_clusterid(nint rk, int timeoutMs);

    [LibraryImport(Lib)]
    internal static partial void rd_kafka_mem_free(nint rk, nint ptr);

    [LibraryImport(Lib)]
    internal static partial nint rd_kafka_mock_cluster_new(nint rk, int brokerCount);

    [LibraryImport(Lib)]
    internal static partial void rd_kafka_mock_cluster_destroy(nint mcluster);

    [LibraryImport(Lib)]
    internal static partial nint rd_kafka_mock_cluster_bootstraps(nint mcluster);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rd_kafka_mock_topic_create(nint mcluster, string topic, int partitionCount, int replicationFactor);

    [LibraryImport(Lib)]
    internal static partial int rd_kafka_mock_broker_set_down(nint mcluster, int brokerId);

    [LibraryImport(Lib)]
    internal static partial int rd_kafka_mock_broker_set_up(nint mcluster, int brokerId);

    [LibraryImport(Lib)]
    internal static partial void rd_kafka_mock_push_request_errors_array(nint mcluster, short apiKey, nuint count, int[] errors);

    [LibraryImport(Lib)]
    internal static partial void rd_kafka_mock_clear_request_errors(nint mcluster, short apiKey);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rd_kafka_mock_partition_set_leader(nint mcluster, string topic, int partition, int brokerId);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rd_kafka_mock_coordinator_set(nint mcluster, string keyType, string key, int brokerId);
}
