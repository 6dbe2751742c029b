using System.Collections.Concurrent;

namespace FeatureStore.Reliability.Helpers;

/// <summary>
/// The counts each scenario prints (faults injected, events checked, requests sent, errors): to the
/// test's output and to <c>reliability-figures.txt</c> beside the test assembly, the source of the
/// table in docs/reliability.md.
/// </summary>
internal static class Figures
{
    private static readonly Lock Gate = new();
    private static readonly ConcurrentDictionary<string, bool> Started = new();

    public static string FilePath => Path.Combine(AppContext.BaseDirectory, "reliability-figures.txt");

    public static void Report(string scenario, string figures)
    {
        var line = $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ} {scenario}: {figures}";
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        TestContext.Current.SendDiagnosticMessage(line);
        lock (Gate)
        {
            if (Started.TryAdd(FilePath, true) && File.Exists(FilePath) && File.GetLastWriteTimeUtc(FilePath) < DateTime.UtcNow.AddHours(-1))
            {
                File.Delete(FilePath);
            }

            File.AppendAllText(FilePath, line + Environment.NewLine);
        }
    }
}
