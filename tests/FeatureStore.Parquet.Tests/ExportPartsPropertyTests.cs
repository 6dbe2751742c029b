using System.Globalization;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Tables;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Parquet.Tests;

/// <summary>
/// An export split into parts by a small memory budget writes the same file as one held whole: on random event
/// streams (ties in time, missing amounts, out-of-order arrival, each entity's events in one sorted run per log
/// batch) and random entity tables, with budgets from one event to more than the log, every column equals the
/// whole export's and the §4 reference.
/// </summary>
public sealed class ExportPartsPropertyTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("fs-export-parts-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void An_export_in_parts_equals_the_whole_export_on_random_streams_and_budgets() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(10),
            Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), Arb.From(Gen.Choose(1, 4_000)), (seed, budget) => Scenario(seed, budget).GetAwaiter().GetResult()));

    private async Task<bool> Scenario(int seed, int budget)
    {
        var dir = Path.Combine(_root, seed.ToString(CultureInfo.InvariantCulture) + "-" + budget.ToString(CultureInfo.InvariantCulture));
        var scenario = new OfflineScenario("pay", count: 300 + (seed % 900), users: 3 + (seed % 40), seed: seed, nowMs: 1_765_000_000_000);
        // Small batches: each partition's events come in many files, so an entity's events arrive as several runs.
        await scenario.WriteLogAsync(dir, CancellationToken.None, batch: 40 + (seed % 300));
        var entities = scenario.EntityTable(rows: 50 + (seed % 250), seed: seed ^ 0x5bd1);
        var input = Path.Combine(dir, "entities.parquet");
        await TableWriter.WriteAsync(entities, input, ExportFormat.Parquet, CancellationToken.None);
        var features = FeatureSelection.Parse(scenario.Compiled, ["user_stats", "merchant_stats:sum_1h"]);

        var whole = Path.Combine(dir, "whole.parquet");
        var parts = Path.Combine(dir, "parts.parquet");
        await PointInTimeExport.RunAsync(scenario.Compiled, dir, input, features, whole, ExportFormat.Parquet, null, CancellationToken.None);
        var split = await PointInTimeExport.RunAsync(scenario.Compiled, dir, input, features, parts, ExportFormat.Parquet, null, CancellationToken.None,
            maxEventsInMemory: budget);

        // Two views read the log: past the budget the entities are split into parts (at most one per entity of the
        // view with the most), each reading the log once.
        var most = Math.Max(Distinct(entities, "user_id"), Distinct(entities, "merchant_id"));
        var expectedParts = Math.Clamp((2L * scenario.Events.Count + budget - 1) / budget, 1, most);
        Assert.Equal(expectedParts * scenario.Events.Count, split.EventsRead);
        var a = await TableReader.ReadParquetAsync(whole, CancellationToken.None);
        var b = await TableReader.ReadParquetAsync(parts, CancellationToken.None);
        Assert.Equal(a.Columns.Select(c => c.Name), b.Columns.Select(c => c.Name));
        for (var c = 0; c < a.Columns.Count; c++)
        {
            Assert.Equal(a.Columns[c].Values.Cast<object?>(), b.Columns[c].Values.Cast<object?>());
        }

        scenario.AssertFeaturesEqualReference(entities, b);
        return true;
    }

    private static int Distinct(Table table, string column) => table.Find(column)!.Values.Cast<object?>().Distinct().Count();
}
