using FeatureStore.Core.Windows;

namespace FeatureStore.Testing;

/// <summary>One raw event of a test stream: time, source-log sequence, and one input per feature.</summary>
/// <param name="Time">Event time, epoch ms.</param>
/// <param name="Sequence">Position in the source log (ties of last).</param>
/// <param name="Inputs">One input per feature.</param>
public sealed record TestEvent(long Time, long Sequence, FeatureInput[] Inputs);

/// <summary>
/// DESIGN.md §4 applied literally to a list of raw events, written without tiles: the reference the
/// tile implementation is checked against.
/// </summary>
public static class NaiveReference
{
    /// <summary>The values of <paramref name="features"/> at <paramref name="t"/> over <paramref name="events"/>, per §4.</summary>
    public static FeatureValue[] Evaluate(IReadOnlyList<TestEvent> events, IReadOnlyList<WindowedFeature> features, long ttl, long t)
    {
        var upToT = events.Where(e => e.Time <= t).ToList();
        ValueStatus? hidden = upToT.Count == 0 ? ValueStatus.NotFound
            : upToT.Max(e => e.Time) < t - ttl ? ValueStatus.OutsideTtl : null;
        var values = new FeatureValue[features.Count];
        for (var f = 0; f < features.Count; f++)
        {
            var feature = features[f];
            if (hidden is { } status)
            {
                values[f] = feature.Kind switch
                {
                    AggregationKind.Count => new FeatureValue(status, ValueKind.Int64, 0, 0, null, null),
                    AggregationKind.Sum => new FeatureValue(status, ValueKind.Double, 0, 0, null, null),
                    _ => FeatureValue.Null(status),
                };
                continue;
            }

            // S(T) = (floor((T - W) / H) + 1) * H, computed with decimal floor to stay independent of TileMath.
            var start = feature.Window.IsLifetime ? long.MinValue
                : ((long)Math.Floor((decimal)(t - feature.Window.WindowMs) / feature.Window.HopMs) + 1) * feature.Window.HopMs;
            var inWindow = upToT.Where(e => e.Time >= start).ToList();
            long? eventTime = inWindow.Count == 0 ? null : inWindow.Max(e => e.Time);
            var present = inWindow.Where(e => e.Inputs[f].Present).ToList();
            var numbers = present.Select(e => e.Inputs[f].Number).ToList();
            values[f] = feature.Kind switch
            {
                AggregationKind.Count => FeatureValue.Of((long)inWindow.Count, eventTime),
                AggregationKind.Sum => FeatureValue.Of(ExactSum(numbers), eventTime),
                _ when numbers.Count == 0 => FeatureValue.Null(ValueStatus.NullValue, eventTime),
                AggregationKind.Mean => FeatureValue.Of(ExactSum(numbers) / numbers.Count, eventTime),
                AggregationKind.Min => FeatureValue.Of(numbers.Min(), eventTime),
                AggregationKind.Max => FeatureValue.Of(numbers.Max(), eventTime),
                AggregationKind.StdDev when numbers.Count < 2 => FeatureValue.Null(ValueStatus.NullValue, eventTime),
                AggregationKind.StdDev => FeatureValue.Of(SampleStdDev(numbers), eventTime),
                AggregationKind.Last => Last(present, f, feature.TextValued, eventTime),
                // Which events count is what is checked here; the sketch's accuracy is tested on its own
                // (HyperLogLog_estimates_within_its_error_bound), so the reference sketches its events too.
                AggregationKind.ApproxDistinct => FeatureValue.Of(Sketch(present, f), eventTime),
                AggregationKind.Percentile => FeatureValue.Of(Quantile(numbers, feature.Parameter), eventTime),
                AggregationKind.LastN => LastN(present, f, feature, distinct: false, eventTime),
                AggregationKind.LastNDistinct => LastN(present, f, feature, distinct: true, eventTime),
                AggregationKind.TopK => TopK(present, f, feature.Size, eventTime),
                _ => throw new ArgumentOutOfRangeException(nameof(features)),
            };
        }

        return values;
    }

    private static FeatureValue Last(List<TestEvent> present, int f, bool text, long? eventTime)
    {
        var last = present.OrderBy(e => e.Time).ThenBy(e => e.Sequence).Last();
        return text ? FeatureValue.Of(last.Inputs[f].Text!, eventTime) : FeatureValue.Of(last.Inputs[f].Number, eventTime);
    }

    /// <summary>The smallest value whose rank (the values at or below it) reaches p·n: the exact p-quantile percentile returns.</summary>
    public static double Quantile(IReadOnlyList<double> numbers, double p)
    {
        var sorted = numbers.Order().ToList();
        var target = p * sorted.Count;
        for (var i = 0; i < sorted.Count; i++)
        {
            if (i + 1 >= target)
            {
                return sorted[i];
            }
        }

        return sorted[^1];
    }

    // The n latest events' values (or, distinct, each value at its latest event), newest first: later is a greater
    // time, then a greater log position, then (equal positions come from two partitions) a greater value.
    private static FeatureValue LastN(List<TestEvent> present, int f, WindowedFeature feature, bool distinct, long? eventTime)
    {
        IEnumerable<TestEvent> latest = present
            .OrderByDescending(e => e.Time).ThenByDescending(e => e.Sequence)
            .ThenByDescending(e => e.Inputs[f].Text, StringComparer.Ordinal).ThenByDescending(e => e.Inputs[f].Number);
        if (distinct)
        {
            latest = latest.DistinctBy(e => feature.TextValued ? (object)e.Inputs[f].Text! : e.Inputs[f].Number);
        }

        var chosen = latest.Take(feature.Size).ToList();
        return feature.TextValued ? FeatureValue.OfStrings([.. chosen.Select(e => e.Inputs[f].Text!)], eventTime)
            : feature.IntValued ? FeatureValue.OfInt64s([.. chosen.Select(e => checked((long)e.Inputs[f].Number))], eventTime)
            : FeatureValue.OfDoubles([.. chosen.Select(e => e.Inputs[f].Number)], eventTime);
    }

    // Every value's count, the k greatest, ties by the smaller value (texts ordinally, numbers by value).
    private static FeatureValue TopK(List<TestEvent> present, int f, int k, long? eventTime)
    {
        var counts = present.GroupBy(e => new ValueKey(e.Inputs[f].Text is null ? e.Inputs[f].Number : 0, e.Inputs[f].Text))
            .Select(g => (Key: g.Key, Count: (long)g.Count()))
            .OrderByDescending(c => c.Count).ThenBy(c => c.Key)
            .Take(k)
            .Select(c => new ValueCount(c.Key.ToText(), c.Count));
        return FeatureValue.OfCounts([.. counts], eventTime);
    }

    // Summed in decimal, exactly for inputs of up to 15 significant digits, so the reference is not the
    // less accurate side of a comparison with the compensated sum.
    private static double ExactSum(List<double> values) => (double)values.Sum(v => (decimal)v);

    private static long Sketch(List<TestEvent> present, int f)
    {
        var sketch = new HyperLogLog();
        foreach (var e in present)
        {
            sketch.Add(e.Inputs[f].Hash);
        }

        return sketch.Estimate();
    }

    private static double SampleStdDev(List<double> values)
    {
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }
}
