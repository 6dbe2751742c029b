using FeatureStore.Monitor.Performance;

namespace FeatureStore.Monitor.Tests.Performance;

/// <summary>Which segments a performance window reports: the top ones by volume, the rest merged into <c>other</c>.</summary>
public sealed class TopSegmentsUnitTests
{
    [Fact]
    public void The_segments_with_the_most_predictions_stay_apart_and_the_rest_merge_into_other_with_all_their_pairs()
    {
        WindowSeries[] stored =
        [
            Series("a", 10, 4),
            Series("b", 50, 20),
            Series("c", 30, 9),
            Series("d", 30, 7),
            Series("other", 5, 1),
        ];

        var reported = WindowEvaluator.TopSegments(stored, 2);

        Assert.Equal(["b", "c", "other"], reported.Select(s => s.Segment));
        var other = reported[2];
        Assert.Equal(10 + 30 + 5, other.Predictions);
        Assert.Equal(4 + 7 + 1, other.Labelled);
        Assert.Equal(9 * (4 + 7 + 1), other.Pairs.Length);
        Assert.Equal(8 * (10 + 30 + 5), other.Scores.Length);
        Assert.Equal(stored[0].Pairs.Concat(stored[3].Pairs).Concat(stored[4].Pairs).Order(), other.Pairs.Order());
    }

    [Fact]
    public void Fewer_segments_than_the_cap_are_reported_as_stored()
    {
        WindowSeries[] stored = [Series("x", 3, 1), Series("y", 2, 2)];

        var reported = WindowEvaluator.TopSegments(stored, 10);

        Assert.Equal(stored, reported);
    }

    private static WindowSeries Series(string segment, int predictions, int labelled)
    {
        var seed = segment[0];
        var pairs = Enumerable.Range(0, 9 * labelled).Select(i => (byte)(seed + i)).ToArray();
        var scores = Enumerable.Range(0, 8 * predictions).Select(i => (byte)(seed * i)).ToArray();
        return new WindowSeries(segment, predictions, labelled, pairs, scores, ":" + segment);
    }
}
