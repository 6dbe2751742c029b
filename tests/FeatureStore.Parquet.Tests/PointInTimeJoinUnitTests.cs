using FeatureStore.Core.Windows;
using FeatureStore.Parquet.Export;
using FeatureStore.Testing;

namespace FeatureStore.Parquet.Tests;

/// <summary>The point-in-time sweep against the literal §4 reference on seeded random streams.</summary>
public sealed class PointInTimeJoinUnitTests
{
    private const long Minute = 60_000;
    private const long Hour = 60 * Minute;

    private static readonly WindowedFeature[] Features =
    [
        new(AggregationKind.Count, WindowSpec.WithDefaultHop(Hour)),
        new(AggregationKind.Sum, new WindowSpec(Hour, Minute)),
        new(AggregationKind.Mean, WindowSpec.WithDefaultHop(2 * Hour)),
        new(AggregationKind.Max, new WindowSpec(30 * Minute, 10 * Minute)),
        new(AggregationKind.Min, new WindowSpec(30 * Minute, 1)),
        new(AggregationKind.StdDev, WindowSpec.WithDefaultHop(3 * Hour)),
        new(AggregationKind.ApproxDistinct, WindowSpec.WithDefaultHop(3 * Hour)),
        new(AggregationKind.Last, WindowSpec.Lifetime(), TextValued: true),
        new(AggregationKind.Last, new WindowSpec(Hour, 15 * Minute)),
        new(AggregationKind.Count, WindowSpec.Lifetime(Hour)),
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Sweep_equals_the_reference_at_every_row(int seed)
    {
        var random = new Random(seed);
        const int entities = 12;
        const long ttl = 4 * Hour;
        var byEntity = Enumerable.Range(0, entities).Select(_ => new List<TestEvent>()).ToArray();
        var events = new ViewEvents(Features.Length);
        var allTimes = new List<long>();
        for (var i = 0; i < 600; i++)
        {
            var entity = random.Next(entities - 2); // the last two entities never have an event
            var time = random.Next(5) == 0 && allTimes.Count > 0 ? allTimes[random.Next(allTimes.Count)] : random.NextInt64(-2 * Hour, 10 * Hour);
            allTimes.Add(time);
            var amount = random.Next(8) == 0 ? FeatureInput.Absent : FeatureInput.OfNumber(Math.Round(random.NextDouble() * 100, 2));
            var merchant = FeatureInput.OfText("m" + random.Next(20));
            FeatureInput[] inputs = [FeatureInput.Absent, amount, amount, amount, amount, amount, merchant, merchant, amount, FeatureInput.Absent];
            byEntity[entity].Add(new TestEvent(time, i, inputs));
            events.Add(entity, time, i, inputs);
        }

        var rows = 400;
        var rowEntity = new int[rows];
        var times = new long[rows];
        for (var r = 0; r < rows; r++)
        {
            rowEntity[r] = random.Next(entities);
            times[r] = random.Next(3) == 0 ? allTimes[random.Next(allTimes.Count)] + random.Next(-1, 2) : random.NextInt64(-3 * Hour, 16 * Hour);
        }

        events.SortByEntityAndTime(entities);
        int[] selected = [.. Enumerable.Range(0, Features.Length)];
        var outputs = Features.Select(f => PointInTimeJoin.NewColumn(f, rows)).ToArray();
        PointInTimeJoin.Sweep(Features, ttl, events, 0, entities, rowEntity, times, selected, outputs, null, null);

        for (var r = 0; r < rows; r++)
        {
            var expected = NaiveReference.Evaluate(byEntity[rowEntity[r]], Features, ttl, times[r]);
            for (var f = 0; f < Features.Length; f++)
            {
                Assert.True(OfflineScenario.Same(expected[f].Boxed, outputs[f].GetValue(r)),
                    $"row {r} (entity {rowEntity[r]} at {times[r]}), feature {f} {Features[f].Kind}: expected {expected[f].Boxed ?? "null"}, got {outputs[f].GetValue(r) ?? "null"}");
            }
        }
    }
}
