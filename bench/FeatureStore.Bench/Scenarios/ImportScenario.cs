using System.Globalization;
using DuckDB.NET.Data;
using FeatureStore.Bench.Harness;
using FeatureStore.Core.Definitions;
using FeatureStore.Parquet.History;
using FeatureStore.Testing;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// History import (<c>featurestore import</c>, offline part: parse every row with the source's parser, write the
/// event log per date, commit) of a generated unsorted JSON-lines file, against DuckDB loading the same file into
/// one Parquet file (<c>COPY (SELECT * FROM read_json(…)) TO … (FORMAT parquet)</c>).
/// </summary>
internal static class ImportScenario
{
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(int events, int repetitions)
    {
        var dir = Directory.CreateTempSubdirectory("fs-bench-import-").FullName;
        try
        {
            var load = FeatureRepositoryLoader.Load(RepositoryPaths.FraudExample);
            var compiled = CompiledRepository.Compile(load.Repository!);
            var source = compiled.Sources.Single(s => s.Definition.Name == "transactions");
            var file = Path.Combine(dir, "history.jsonl");
            WriteHistory(file, events);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {new FileInfo(file).Length / 1e6:0.0} MB of JSON lines"));

            var ours = await Measure.MedianRateAsync(repetitions, async rep =>
            {
                var store = Path.Combine(dir, $"store-{rep}");
                var done = await HistoryImport.RunAsync(source, compiled.Repository.Settings, new HistoryImportOptions([file]) { StoreDirectory = store }, null, CancellationToken.None);
                Directory.Delete(store, recursive: true);
                return done.Accepted;
            });

            using var duck = new DuckDBConnection("Data Source=:memory:");
            duck.Open();
            var theirs = await Measure.MedianRateAsync(repetitions, rep =>
            {
                var output = Path.Combine(dir, $"duck-{rep}.parquet");
                using var command = duck.CreateCommand();
                command.CommandText = $"COPY (SELECT * FROM read_json('{file}', format = 'newline_delimited')) TO '{output}' (FORMAT parquet)";
                command.ExecuteNonQuery();
                File.Delete(output);
                return Task.FromResult((long)events);
            });

            var label = string.Create(CultureInfo.InvariantCulture, $"{events:N0} events, unsorted JSON lines");
            return
            [
                new ResultRow("import (offline log)", label, ours, "events/s", "duckdb read_json → parquet", theirs),
                new ResultRow("duckdb read_json → parquet", label, theirs, "events/s"),
            ];
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // Payments over three days, in random order, users Pareto-skewed.
    private static void WriteHistory(string path, int events)
    {
        var random = new Random(20);
        var end = DateTimeOffset.UtcNow.AddDays(-1).ToUnixTimeMilliseconds();
        using var writer = new StreamWriter(path);
        for (var i = 0; i < events; i++)
        {
            var user = (int)(100_000 * Math.Pow(random.NextDouble(), 3));
            var time = DateTimeOffset.FromUnixTimeMilliseconds(end - random.NextInt64(3 * 86_400_000L)).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $$"""{"transaction_id":"t{{i}}","user_id":"u{{user}}","merchant_id":"m{{random.Next(5_000)}}","amount":{{Math.Round(random.NextDouble() * 500, 2)}},"currency":"EUR","country":"{{(random.Next(4) switch { 0 => "FR", 1 => "DE", 2 => "IT", _ => "ES" })}}","card_present":{{(random.Next(2) == 0 ? "true" : "false")}},"event_time":"{{time}}"}"""));
        }
    }
}
