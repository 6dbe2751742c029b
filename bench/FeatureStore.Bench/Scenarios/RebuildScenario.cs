using System.Diagnostics;
using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using FeatureStore.Bench.Harness;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Ingest.Rebuild;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Export;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// The rebuild of a changed view's new state group (docs/evolution.md): one lifetime sum added to the fraud example's
/// user view, built from an event log of N events over 100 000 users (read, sorted by entity through spilled runs,
/// each entity's state written to the online store), against the raw read of the same rows: DuckDB reading the
/// log's Parquet files and aggregating the same sum per user; the log scan alone (<see cref="EventLogScan"/>, no
/// sort, no write) is shown beside it.
/// </summary>
internal static class RebuildScenario
{
    private const string Added = "      - name: amount_sum_lifetime\n        aggregation: sum\n        field: amount\n";

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(string store, IDatabase database, int events, int repetitions)
    {
        var dir = Directory.CreateTempSubdirectory("fs-bench-rebuild-").FullName;
        try
        {
            var text = (await File.ReadAllTextAsync(RepositoryPaths.FraudExample)).Replace("\r", "", StringComparison.Ordinal);
            const string anchor = "      - name: txn_count_lifetime\n        aggregation: count\n";
            var changed = text.Replace(anchor, anchor + Added, StringComparison.Ordinal);
            var prefix = "bench" + Guid.NewGuid().ToString("N")[..6];
            var registry = new RegistryStore(database, prefix);
            await ApplyAsync(registry, text);
            var applied = await ApplyAsync(registry, changed);
            var compiled = applied.Compile();
            var view = compiled.FindView("user_txn_stats")!;
            var building = view.BuildingGroup!;
            var root = Path.Combine(dir, "offline");
            var clock = Stopwatch.StartNew();
            var next = await WriteLogAsync(root, compiled.Sources.Single(s => s.Definition.Name == "transactions"), events);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {store}: {events:N0} events logged in {clock.Elapsed.TotalSeconds:0.0} s, {Directory.EnumerateFiles(root, "*.parquet", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) / 1e6:0.0} MB of Parquet"));

            // Ingest's records of where it began the group: the log's end on every partition (the whole log is rebuilt).
            var keys = new OnlineKeys(prefix, "fraud");
            foreach (var (partition, offset) in next)
            {
                await database.HashSetAsync(keys.Checkpoints("ingest"), OnlineKeys.PartitionField("transactions", partition), $"{offset}:0");
                await database.HashSetAsync(keys.Checkpoints("ingest"), OnlineKeys.BuildStartField(view.Name, building.Signature, "transactions", partition), offset);
            }

            // The view's serving group (its unchanged features) holds a state for 10 000 users, which lookups read
            // while the rebuild runs: their latency next to the same lookups on an idle store.
            var serving = view.Groups.Single(g => !g.Building);
            await WriteServingStatesAsync(database, keys, serving, compiled.Sources.Single(s => s.Definition.Name == "transactions").Schema);
            var idle = await LookupLatenciesAsync(database, keys, serving, Task.Delay(TimeSpan.FromSeconds(5)));

            var rebuild = new GroupRebuild(database, prefix, applied, view.Name, new GroupRebuildOptions { StoreDirectory = root, IngestGroup = "ingest", SpillDirectory = dir },
                NullLogger.Instance);
            var starts = (await rebuild.WaitAsync(CancellationToken.None))!;
            long entities = 0;
            var rebuilding = new TaskCompletionSource();
            var during = LookupLatenciesAsync(database, keys, serving, rebuilding.Task);
            var ours = await Measure.MedianRateAsync(repetitions, async _ =>
            {
                var (rows, written) = await rebuild.RebuildAsync(starts, CancellationToken.None);
                entities = written;
                return rows;
            });
            rebuilding.SetResult();
            var meanwhile = await during;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {store}: {entities:N0} entities written per rebuild"));
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {store}: lookups of 10 users' kept features during the rebuilds: {meanwhile.Length:N0}, p50 {Measure.Quantile(meanwhile, 0.5):0.000} ms, p99 {Measure.Quantile(meanwhile, 0.99):0.000} ms; idle store: p50 {Measure.Quantile(idle, 0.5):0.000} ms, p99 {Measure.Quantile(idle, 0.99):0.000} ms"));

            var group = view.Groups.ToList().IndexOf(building);
            var features = Enumerable.Range(0, view.Features.Count).Where(f => view.PlaceOf(f).Group == group).ToList();
            var scan = await Measure.MedianRateAsync(repetitions, async _ =>
                await EventLogScan.StreamAsync(root, view, (_, _) => true, (_, _, _) => true, (_, _, _, _, _) => { }, null, CancellationToken.None, features));

            using var duck = new DuckDBConnection("Data Source=:memory:");
            duck.Open();
            var files = Path.Combine(EventLogWriter.SourceFolder(root, "transactions"), "date=*", "*.parquet");
            var theirs = await Measure.MedianRateAsync(repetitions, _ =>
            {
                using var command = duck.CreateCommand();
                command.CommandText = $"SELECT count(*) FROM (SELECT user_id, sum(amount) FROM read_parquet('{files}') GROUP BY user_id)";
                command.ExecuteScalar();
                return Task.FromResult((long)events);
            });

            var label = string.Create(CultureInfo.InvariantCulture, $"{events:N0} logged events, 1 added feature, {store}");
            const string baseline = "duckdb read_parquet + sum per user";
            return
            [
                new ResultRow("rebuild (log → sorted → online)", label, ours, "rows/s", baseline, theirs),
                new ResultRow("rebuild: log scan alone", label, scan, "rows/s", baseline, theirs),
                new ResultRow(baseline, label, theirs, "rows/s"),
                new ResultRow("lookups during the rebuild, 10 users, p50", label, Measure.Quantile(meanwhile, 0.5), "ms", "same lookups, idle store", Measure.Quantile(idle, 0.5)),
                new ResultRow("lookups during the rebuild, 10 users, p99", label, Measure.Quantile(meanwhile, 0.99), "ms", "same lookups, idle store", Measure.Quantile(idle, 0.99)),
            ];
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private const int ServingUsers = 10_000;

    // A state of 20 events in the serving group for each of the first users (what ingest would have written).
    private static async Task WriteServingStatesAsync(IDatabase database, OnlineKeys keys, StateGroup group, EventSchema schema)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var state = new ViewWindowState(group.Features, group.TtlMs);
        var inputs = new FeatureInput[group.Features.Count];
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        var writes = new List<Task>(ServingUsers);
        for (var u = 0; u < ServingUsers; u++)
        {
            state.Reset();
            for (var e = 0; e < 20; e++)
            {
                for (var s = 0; s < inputs.Length; s++)
                {
                    var slot = group.InputSlots[s];
                    inputs[s] = slot < 0 ? FeatureInput.Absent
                        : schema.Fields[slot].Kind == FieldKind.String ? FeatureInput.OfText("m" + (e % 7).ToString(CultureInfo.InvariantCulture))
                        : FeatureInput.OfNumber((u % 100) + (e * 1.25));
                }

                state.Add(now - (e * 600_000L), e, inputs);
            }

            buffer.ResetWrittenCount();
            state.WriteTo(buffer);
            writes.Add(database.HashSetAsync(keys.Entity(group, "u" + u.ToString(CultureInfo.InvariantCulture)), OnlineKeys.PartitionField("transactions", u % 4), buffer.WrittenSpan.ToArray()));
        }

        await Task.WhenAll(writes);
    }

    // Reads 10 random users' hashes of the group (the store part of a lookup, as the server reads them) one lookup
    // after the other until `until` completes; the latencies in ms, sorted.
    private static async Task<double[]> LookupLatenciesAsync(IDatabase database, OnlineKeys keys, StateGroup group, Task until)
    {
        var reader = new OnlineStateReader(database, OnlineReadStrategy.Script);
        var random = new Random(7);
        var batch = new RedisKey[10];
        var latencies = new List<double>();
        while (!until.IsCompleted)
        {
            for (var i = 0; i < batch.Length; i++)
            {
                batch[i] = keys.Entity(group, "u" + random.Next(ServingUsers).ToString(CultureInfo.InvariantCulture));
            }

            var started = Stopwatch.GetTimestamp();
            using (await reader.ReadAsync(batch, batch.Length, TimeSpan.FromSeconds(5), CancellationToken.None))
            {
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            await Task.Delay(1);
        }

        return [.. latencies.Order()];
    }

    private static async Task<AppliedRepository> ApplyAsync(RegistryStore registry, string yaml)
    {
        var repository = FeatureRepositoryLoader.LoadFromText(yaml, "bench.yaml").Repository!;
        await registry.ApplyAsync(repository, yaml);
        return (await registry.LoadCurrentAsync(repository.Project))!;
    }

    // Payments over the last three days, users Pareto-skewed over 100 000, four partitions by user, batches of
    // 250 000 events per partition (the log as the archiver writes it, one file per day of a batch).
    private static async Task<Dictionary<int, long>> WriteLogAsync(string root, CompiledSource source, int events)
    {
        const int Partitions = 4;
        const int Batch = 250_000;
        var writer = new EventLogWriter(root, source);
        var parser = new EventParser(source.Schema);
        var random = new Random(31);
        var end = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds();
        var next = Enumerable.Range(0, Partitions).ToDictionary(p => p, _ => 0L);
        var pending = Enumerable.Range(0, Partitions).Select(_ => new Dictionary<long, EventRowBuffer>()).ToArray();
        var counts = new int[Partitions];
        async Task FlushAsync(int p)
        {
            await writer.CommitAsync("transactions", p, next[p] - counts[p], next[p], long.MinValue, pending[p], CancellationToken.None);
            pending[p].Clear();
            counts[p] = 0;
        }

        for (var i = 0; i < events; i++)
        {
            var user = (int)(100_000 * Math.Pow(random.NextDouble(), 3));
            var time = end - random.NextInt64(3 * 86_400_000L);
            var json = string.Create(CultureInfo.InvariantCulture,
                $$"""{"transaction_id":"t{{i}}","user_id":"u{{user}}","merchant_id":"m{{random.Next(5_000)}}","amount":{{Math.Round(random.NextDouble() * 500, 2)}},"currency":"EUR","country":"FR","card_present":true,"event_time":"{{Rfc3339.Format(time)}}"}""");
            if (parser.Parse(Encoding.UTF8.GetBytes(json)) != ParseError.None)
            {
                throw new InvalidOperationException("generated event refused: " + json);
            }

            var p = user % Partitions;
            var day = TileMath.FloorDiv(time, 86_400_000);
            if (!pending[p].TryGetValue(day, out var rows))
            {
                rows = new EventRowBuffer(source.Schema);
                pending[p][day] = rows;
            }

            rows.Add(parser, next[p]++);
            if (++counts[p] == Batch)
            {
                await FlushAsync(p);
            }
        }

        for (var p = 0; p < Partitions; p++)
        {
            if (counts[p] > 0)
            {
                await FlushAsync(p);
            }
        }

        return next;
    }
}
