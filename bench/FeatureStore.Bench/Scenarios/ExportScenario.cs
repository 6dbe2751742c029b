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

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(int events, int rows, int repetitions)
    {
        var dir = Directory.CreateTempSubdirectory("fs-bench-export-").FullName;
        try
        {
            var load = FeatureRepositoryLoader.Load(RepositoryPaths.FraudExample);
            var compiled = CompiledRepository.Compile(load.Repository!);
            var source = compiled.Sources.Single(s => s.Definition.Name == "transactions");
            var (first, last) = await WriteLogAsync(dir, source, events);
            var entities = Path.Combine(dir, "entities.parquet");
            await WriteEntitiesAsync(entities, rows, first, last);
            var features = FeatureSelection.Parse(compiled,
                ["user_txn_stats:txn_count_1h,user_txn_stats:amount_sum_1h,user_txn_stats:amount_mean_24h,user_txn_stats:amount_max_24h"]);

            var ours = await Measure.MedianRateAsync(repetitions, async rep =>
            {
                var result = await PointInTimeExport.RunAsync(compiled, dir, entities, features, Path.Combine(dir, $"ours-{rep}.parquet"), ExportFormat.Parquet, null, CancellationToken.None);
                return result.Rows;
            });

            using var duck = new DuckDBConnection("Data Source=:memory:");
            duck.Open();
            var glob = Path.Combine(EventLogWriter.SourceFolder(dir, "transactions"), "date=*", "*.parquet");
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

            var label = $"{rows / 1000}k rows × 4 features over {events / 1000}k events";
            return
            [
                new ResultRow("export (point-in-time)", label, ours, "rows/s", "duckdb asof join + window", theirs),
                new ResultRow("duckdb asof join + window", label, theirs, "rows/s"),
            ];
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<(long First, long Last)> WriteLogAsync(string root, CompiledSource source, int events)
    {
        var payloads = RawKafkaScenario.SamplePayloads(events);
        var writer = new EventLogWriter(root, source);
        var parser = new EventParser(source.Schema);
        long first = long.MaxValue, last = long.MinValue;
        const int batch = 50_000;
        for (var p = 0; p < Partitions; p++)
        {
            var offset = 0L;
            var rows = new Dictionary<long, EventRowBuffer>();
            var batchStart = 0L;
            for (var i = p; i < payloads.Length; i += Partitions)
            {
                if (parser.Parse(payloads[i]) != ParseError.None)
                {
                    throw new InvalidOperationException("bad sample payload: " + Encoding.UTF8.GetString(payloads[i]));
                }

                first = Math.Min(first, parser.EventTimeMs);
                last = Math.Max(last, parser.EventTimeMs);
                var day = TileMath.FloorDiv(parser.EventTimeMs, 86_400_000);
                if (!rows.TryGetValue(day, out var buffer))
                {
                    buffer = new EventRowBuffer(source.Schema);
                    rows[day] = buffer;
                }

                buffer.Add(parser, offset++);
                if (offset - batchStart == batch)
                {
                    await writer.CommitAsync(source.Definition.Topic, p, batchStart, offset, long.MinValue, rows, CancellationToken.None);
                    rows = [];
                    batchStart = offset;
                }
            }

            if (offset > batchStart)
            {
                await writer.CommitAsync(source.Definition.Topic, p, batchStart, offset, long.MinValue, rows, CancellationToken.None);
            }
        }

        return (first, last);
    }

    private static async Task WriteEntitiesAsync(string path, int rows, long first, long last)
    {
        var random = new Random(7);
        var users = new string?[rows];
        var times = new long?[rows];
        var labels = new bool?[rows];
        for (var r = 0; r < rows; r++)
        {
            users[r] = "u" + random.Next(10_000).ToString(CultureInfo.InvariantCulture);
            times[r] = random.NextInt64(first, last + 3_600_000);
            labels[r] = random.Next(50) == 0;
        }

        await TableWriter.WriteAsync(new Table(
        [
            new TableColumn("user_id", users),
            new TableColumn("event_timestamp", times),
            new TableColumn("is_fraud", labels),
        ], rows), path, ExportFormat.Parquet, CancellationToken.None);
    }
}
