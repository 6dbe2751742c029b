using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using FeatureStore.Bench.Harness;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Tables;
using FeatureStore.Testing;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Point-in-time export against DuckDB on the same Parquet files: the event log written by the archiver's
/// writer from the bench's sample payments, and an entity table of random (user, instant) rows with a
/// label. DuckDB computes the conventional equivalent: sliding-window aggregates per event with window
/// functions, then an ASOF JOIN of each row to the user's latest event at or before its instant, written
/// to Parquet. (That is "as of the last event", not §4's tiled windows that decay with time; the values
/// differ, the work is comparable: read, sort, aggregate, join, write.)
/// </summary>
internal static class ExportScenario
{
    private const int Partitions = 4;
    private const int Users = 10_000;
    private const int Merchants = 1_000;
    private static readonly string[] Countries = ["FR", "DE", "ES", "IT", "NL", "BE", "PT", "PL"];

    private const int EventSeed = 42;
    private const int RowSeed = 7;

    // Part of the cached input's name: raised when the log's file layout changes (2: text dictionary-encoded).
    private const int InputVersion = 2;

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(int events, int rows, int repetitions)
    {
        var dir = Directory.CreateTempSubdirectory("fs-bench-export-").FullName;
        try
        {
            var load = FeatureRepositoryLoader.Load(RepositoryPaths.FraudExample);
            var compiled = CompiledRepository.Compile(load.Repository!);
            var source = compiled.Sources.Single(s => s.Definition.Name == "transactions");

            // The generated input is kept between runs, keyed by its size and seeds (writing 10M events takes minutes);
            // a folder without its "ready" file (an interrupted run) is written again.
            var input = Path.Combine(Path.GetTempPath(), string.Create(CultureInfo.InvariantCulture, $"fs-bench-export-input-{events}-{rows}-{EventSeed}-{RowSeed}-v{InputVersion}"));
            var ready = Path.Combine(input, "ready");
            if (!File.Exists(ready))
            {
                if (Directory.Exists(input))
                {
                    Directory.Delete(input, recursive: true);
                }

                var (first, last) = await WriteLogAsync(input, source, events);
                await WriteEntitiesAsync(Path.Combine(input, "entities.parquet"), rows, first, last);
                await File.WriteAllTextAsync(ready, "complete");
            }
            else
            {
                Console.Error.WriteLine("  input from " + input);
            }

            var entities = Path.Combine(input, "entities.parquet");
            // Ten features: the user view's eight (count, sum, mean, max, stddev, approx_distinct, last, lifetime
            // count) and two of the merchant view's.
            var features = FeatureSelection.Parse(compiled, ["user_txn_stats", "merchant_txn_stats:txn_count_1h,merchant_txn_stats:amount_mean_1h"]);
            var featureCount = features.Sum(f => f.Features.Count);

            ResetPeakResident();
            var ours = await Measure.MedianRateAsync(repetitions, async rep =>
            {
                using var stages = new StageClock();
                var result = await PointInTimeExport.RunAsync(compiled, input, entities, features, Path.Combine(dir, $"ours-{rep}.parquet"), ExportFormat.Parquet, stages, CancellationToken.None);
                stages.Report(new ExportProgress("done", 0, 0));
                File.Delete(Path.Combine(dir, $"ours-{rep}.parquet"));
                return result.Rows;
            });
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  ours: peak resident {PeakResident() / 1e9:0.00} GB"));

            using var duck = new DuckDBConnection("Data Source=:memory:");
            duck.Open();
            var glob = Path.Combine(EventLogWriter.SourceFolder(input, "transactions"), "date=*", "*.parquet");
            var theirs = await Measure.MedianRateAsync(repetitions, rep =>
            {
                using var command = duck.CreateCommand();
                command.CommandText = $"""
                    COPY (
                      WITH ev AS (
                        SELECT user_id, _event_time_ms AS t,
                               count(*) OVER w1h AS txn_count_1h, sum(amount) OVER w1h AS amount_sum_1h,
                               avg(amount) OVER w24h AS amount_mean_24h, max(amount) OVER w24h AS amount_max_24h
                        FROM read_parquet('{glob}')
                        WINDOW w1h AS (PARTITION BY user_id ORDER BY _event_time_ms RANGE BETWEEN 3599999 PRECEDING AND CURRENT ROW),
                               w24h AS (PARTITION BY user_id ORDER BY _event_time_ms RANGE BETWEEN 86399999 PRECEDING AND CURRENT ROW)
                      )
                      SELECT r.*, ev.txn_count_1h, ev.amount_sum_1h, ev.amount_mean_24h, ev.amount_max_24h
                      FROM read_parquet('{entities}') r
                      ASOF LEFT JOIN ev ON r.user_id = ev.user_id AND r.event_timestamp >= ev.t
                    ) TO '{Path.Combine(dir, $"duckdb-{rep}.parquet")}' (FORMAT parquet)
                    """;
                return Task.FromResult((long)command.ExecuteNonQuery());
            });

            var asof = await Measure.MedianRateAsync(repetitions, rep =>
            {
                using var command = duck.CreateCommand();
                command.CommandText = $"""
                    COPY (
                      SELECT r.*, ev.country AS last_country
                      FROM read_parquet('{entities}') r
                      ASOF LEFT JOIN (SELECT user_id, _event_time_ms AS t, country FROM read_parquet('{glob}')) ev
                        ON r.user_id = ev.user_id AND r.event_timestamp >= ev.t
                    ) TO '{Path.Combine(dir, $"duckdb-asof-{rep}.parquet")}' (FORMAT parquet)
                    """;
                return Task.FromResult((long)command.ExecuteNonQuery());
            });

            var label = $"{Count(rows)} rows × {featureCount} features over {Count(events)} events";
            return
            [
                new ResultRow("export (point-in-time)", label, ours, "rows/s", "duckdb window (1h count, sum; 24h mean, max) + asof join", theirs),
                new ResultRow("export (point-in-time)", label, ours, "rows/s", "duckdb asof join alone (last value)", asof),
                new ResultRow("duckdb window + asof join", label + " (4 aggregates)", theirs, "rows/s"),
                new ResultRow("duckdb asof join", label + " (last value)", asof, "rows/s"),
            ];
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Prints how long each stage of an export took (stderr), for the reading of the table, with the highest resident
    /// size seen during it (sampled every 10 ms) and the managed heap's committed size at that moment.
    /// </summary>
    private sealed class StageClock : IProgress<ExportProgress>, IDisposable
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private readonly Timer _sampler;
        private string? _stage;
        private TimeSpan _since;
        private long _peak;
        private long _committedAtPeak;

        public StageClock() => _sampler = new Timer(_ => Sample(), null, 0, 10);

        public void Dispose() => _sampler.Dispose();

        public void Report(ExportProgress value)
        {
            lock (_clock)
            {
                if (value.Stage == _stage)
                {
                    return;
                }

                var now = _clock.Elapsed;
                if (_stage is not null)
                {
                    // With the memory at the stage's end: resident now, and the managed heap after the last collection.
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"    {_stage}: {(now - _since).TotalSeconds:0.0} s (peak resident {Math.Max(_peak, Environment.WorkingSet) / 1e9:0.00} GB with {_committedAtPeak / 1e9:0.00} GB committed by the heap; at its end resident {Environment.WorkingSet / 1e9:0.00} GB, heap {GC.GetGCMemoryInfo().HeapSizeBytes / 1e9:0.00} GB)"));
                }

                (_stage, _since, _peak, _committedAtPeak) = (value.Stage, now, 0, 0);
            }
        }

        private void Sample()
        {
            var resident = Environment.WorkingSet;
            lock (_clock)
            {
                if (resident > _peak)
                {
                    (_peak, _committedAtPeak) = (resident, GC.GetGCMemoryInfo().TotalCommittedBytes);
                }
            }
        }
    }

    // Linux: "5" to clear_refs resets the peak resident size (VmHWM) that Process.PeakWorkingSet64 reads.
    private static void ResetPeakResident()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("  (cannot reset the peak resident size: it covers the whole run)");
        }
    }

    private static long PeakResident()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        return self.PeakWorkingSet64;
    }

    private static async Task<(long First, long Last)> WriteLogAsync(string root, CompiledSource source, int events)
    {
        // Payments generated one at a time (never all held: 10M would not fit comfortably) and spread
        // round-robin over the partitions, each committed to the log in batches as the archiver does.
        var writer = new EventLogWriter(root, source);
        var parser = new EventParser(source.Schema);
        var random = new Random(EventSeed);
        var start = DateTimeOffset.Parse("2026-11-01T00:00:00Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        long first = long.MaxValue, last = long.MinValue;
        const int batch = 50_000;
        var rows = new Dictionary<long, EventRowBuffer>[Partitions];
        var offsets = new long[Partitions];
        var batchStarts = new long[Partitions];
        for (var p = 0; p < Partitions; p++)
        {
            rows[p] = [];
        }

        for (var i = 0; i < events; i++)
        {
            var time = DateTimeOffset.FromUnixTimeMilliseconds(start + (i * 50L)).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
            var payload = Encoding.UTF8.GetBytes(
                $$"""{"transaction_id":"t{{i}}","user_id":"u{{random.Next(Users)}}","merchant_id":"m{{random.Next(Merchants)}}","amount":{{random.Next(1, 50_000) / 100.0}},"currency":"EUR","country":"{{Countries[random.Next(Countries.Length)]}}","card_present":{{(random.Next(2) == 0 ? "true" : "false")}},"event_time":"{{time}}"}""");
            if (parser.Parse(payload) != ParseError.None)
            {
                throw new InvalidOperationException("bad sample payload: " + Encoding.UTF8.GetString(payload));
            }

            first = Math.Min(first, parser.EventTimeMs);
            last = Math.Max(last, parser.EventTimeMs);
            var p = i % Partitions;
            var day = TileMath.FloorDiv(parser.EventTimeMs, 86_400_000);
            if (!rows[p].TryGetValue(day, out var buffer))
            {
                buffer = new EventRowBuffer(source.Schema);
                rows[p][day] = buffer;
            }

            buffer.Add(parser, offsets[p]++);
            if (offsets[p] - batchStarts[p] == batch)
            {
                await writer.CommitAsync(source.Definition.Topic, p, batchStarts[p], offsets[p], long.MinValue, rows[p], CancellationToken.None);
                rows[p] = [];
                batchStarts[p] = offsets[p];
            }

            if ((i + 1) % 1_000_000 == 0)
            {
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {i + 1:N0} events written to the log"));
            }
        }

        for (var p = 0; p < Partitions; p++)
        {
            if (offsets[p] > batchStarts[p])
            {
                await writer.CommitAsync(source.Definition.Topic, p, batchStarts[p], offsets[p], long.MinValue, rows[p], CancellationToken.None);
            }
        }

        return (first, last);
    }

    private static string Count(int n) => n >= 1_000_000 ? string.Create(CultureInfo.InvariantCulture, $"{n / 1_000_000.0:0.#}M") : string.Create(CultureInfo.InvariantCulture, $"{n / 1000}k");

    private static async Task WriteEntitiesAsync(string path, int rows, long first, long last)
    {
        var random = new Random(RowSeed);
        var users = new string?[rows];
        var merchants = new string?[rows];
        var times = new long?[rows];
        var labels = new bool?[rows];
        for (var r = 0; r < rows; r++)
        {
            users[r] = "u" + random.Next(Users).ToString(CultureInfo.InvariantCulture);
            merchants[r] = "m" + random.Next(Merchants).ToString(CultureInfo.InvariantCulture);
            times[r] = random.NextInt64(first, last + 3_600_000);
            labels[r] = random.Next(50) == 0;
        }

        await TableWriter.WriteAsync(new Table(
        [
            new TableColumn("user_id", users),
            new TableColumn("merchant_id", merchants),
            new TableColumn("event_timestamp", times),
            new TableColumn("is_fraud", labels),
        ], rows), path, ExportFormat.Parquet, CancellationToken.None);
    }
}
