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
