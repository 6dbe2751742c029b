using System.Diagnostics;
using System.Globalization;
using FeatureStore.Bench.Harness;
using FeatureStore.Parquet.EventLog;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// What <c>apply</c>'s plan costs on a large event log: reading the coverage of a source (its commit markers,
/// rows per day) over a generated log of many batches. The rebuild itself: <see cref="RebuildScenario"/>.
/// </summary>
internal static class PlanScenario
{
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(int partitions, int days, int batchesPerDay, int repetitions)
    {
        var root = Directory.CreateTempSubdirectory("fs-bench-plan-").FullName;
        try
        {
            var markers = Path.Combine(EventLogWriter.SourceFolder(root, "transactions"), CommitMarker.Folder);
            Directory.CreateDirectory(markers);
            var today = DateOnly.FromDateTime(DateTime.UtcNow);
            for (var p = 0; p < partitions; p++)
            {
                long offset = 0;
                for (var d = days - 1; d >= 0; d--)
                {
                    for (var b = 0; b < batchesPerDay; b++)
                    {
                        const long Rows = 5_000;
                        var file = string.Create(CultureInfo.InvariantCulture, $"date={today.AddDays(-d):yyyy-MM-dd}/p{p:D4}-{offset:D19}-{offset + Rows - 1:D19}-0000abcd.parquet");
                        var marker = new CommitMarker(p, offset, offset + Rows, 0, Rows, [file]);
                        await File.WriteAllBytesAsync(Path.Combine(markers, CommitMarker.FileName(p, offset)), marker.Serialize());
                        offset += Rows;
                    }
                }
            }

            var count = partitions * days * batchesPerDay;
            var times = new List<double>(repetitions);
            long events = 0;
            for (var r = 0; r < repetitions; r++)
            {
                var clock = Stopwatch.StartNew();
                events = (await EventLogCoverageReader.ReadAsync(root, "transactions", CancellationToken.None)).Events;
                times.Add(clock.Elapsed.TotalMilliseconds);
            }

            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"plan: {count} markers, {events} events counted"));
            return [new ResultRow("plan", string.Create(CultureInfo.InvariantCulture, $"event log coverage of {count} commit markers"), Measure.Median(times), "ms")];
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
