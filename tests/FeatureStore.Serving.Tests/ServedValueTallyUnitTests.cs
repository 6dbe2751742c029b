using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Serving.Internal;

namespace FeatureStore.Serving.Tests;

/// <summary>The served-value counts one repository version keeps: per status, range violations, taken once, allocation-free.</summary>
public sealed class ServedValueTallyUnitTests
{
    private static readonly FeatureViewDefinition[] Views =
    [
        new("a", "user", "s", 3_600_000, [new FeatureDefinition("n", AggregationKind.Count, null, WindowSpec.Lifetime(3_600_000))]),
        new("b", "user", "s", 3_600_000,
            [new FeatureDefinition("x", AggregationKind.Sum, "v", WindowSpec.Lifetime(3_600_000)), new FeatureDefinition("y", AggregationKind.Count, null, WindowSpec.Lifetime(3_600_000))],
            Quality: new ViewQualityDefinition(60_000, 1, null, null, null, 0, [new FeatureRange("x", 0, 10), new FeatureRange("y", null, 5)])),
    ];

    // One row per entity, two columns per row (x, y), as a lookup's answer lays them out.
    private static readonly FeatureValue[] Answer =
    [
        FeatureValue.Of(3.0, 1), FeatureValue.Of(7L, 1),
        FeatureValue.Of(-1.0, 1), FeatureValue.Of(2L, 1),
        FeatureValue.Of(double.NaN, 1), FeatureValue.Null(ValueStatus.NotFound),
        FeatureValue.Null(ValueStatus.OutsideTtl), FeatureValue.Null(ValueStatus.NullValue),
        FeatureValue.Null(ValueStatus.NotFound), FeatureValue.Null(ValueStatus.Building),
    ];

    [Fact]
    public void Each_status_and_range_violation_is_counted_for_its_feature_and_taken_once()
    {
        var tally = new ServedValueTally(Views);
        tally.Count(1, 0, Answer, 0, 5, 2);
        tally.Count(1, 1, Answer, 1, 5, 2);
        tally.Count(0, 0, Answer, 9, 1, 2);
        var taken = new List<(string View, string Feature, string Status, long Count)>();
        tally.Take(taken);

        Assert.Equal(
            [("a", "n", "total", 1L), ("b", "x", "not_found", 1L), ("b", "x", "out_of_range", 2L), ("b", "x", "outside_ttl", 1L), ("b", "x", "total", 5L),
             ("b", "y", "not_found", 1L), ("b", "y", "null_value", 1L), ("b", "y", "out_of_range", 1L), ("b", "y", "total", 5L)],
            taken.OrderBy(t => (t.View, t.Feature, t.Status)));

        taken.Clear();
        tally.Take(taken);
        Assert.Empty(taken);
    }

    [Fact]
    public void Counting_a_lookups_values_allocates_nothing()
    {
        var tally = new ServedValueTally(Views);
        tally.Count(1, 0, Answer, 0, 5, 2); // warm up
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            tally.Count(1, 0, Answer, 0, 5, 2);
            tally.Count(1, 1, Answer, 1, 5, 2);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Counts_added_from_several_threads_all_arrive()
    {
        var tally = new ServedValueTally(Views);
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                tally.Count(0, 0, Answer, 8, 1, 2);
            }
        });
        var taken = new List<(string View, string Feature, string Status, long Count)>();
        tally.Take(taken);
        Assert.Equal([("a", "n", "not_found", 80_000L), ("a", "n", "total", 80_000L)], taken.OrderBy(t => t.Status));
    }
}
