using System.Buffers;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Tests.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Core.Tests.Windows;

/// <summary>
/// percentile, last_n, last_n_distinct and top_k on their own: the quantile sketch within its rank-error bound,
/// the Misra–Gries counts within theirs, tiles merged equal to one built from every event, and the hostile
/// inputs a repository or a stream can bring (huge n, p outside [0, 1], a string field, 100 000 distinct values).
/// The exact agreement with the naive reference on random streams is in ViewWindowStatePropertyUnitTests.
/// </summary>
public sealed class ListAndSketchAggregationUnitTests
{
    private const long Hour = 3_600_000;

    private static Config Runs(int count) => Config.QuickThrowOnFailure.WithMaxTest(count);

    [Fact]
    public void The_quantile_sketch_returns_a_value_whose_rank_is_within_its_bound_of_p() =>
        Check.One(Runs(300), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var values = RandomValues(random, random.Next(1, 20_000));
            var sketch = new QuantileSketch();
            foreach (var v in values)
            {
                sketch.Add(v);
            }

            WithinBound(values, sketch, random, seed);
            return true;
        }));

    [Fact]
    public void Quantile_sketches_merged_in_any_grouping_stay_within_their_bound() =>
        Check.One(Runs(150), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var values = RandomValues(random, random.Next(1, 30_000));
            var parts = Enumerable.Range(0, random.Next(1, 12)).Select(_ => new QuantileSketch()).ToArray();
            foreach (var v in values)
            {
                parts[random.Next(parts.Length)].Add(v);
            }

            var merged = new QuantileSketch(random.Next(2) == 0 ? QuantileSketch.TileLevelCapacity : QuantileSketch.EvaluationLevelCapacity);
            foreach (var part in parts)
            {
                merged.Merge(part);
            }

            Assert.Equal(values.Count, merged.Count);
            WithinBound(values, merged, random, seed);
            return true;
        }));

    [Fact]
    public void The_quantile_sketch_is_exact_below_its_level_capacity_and_deterministic_above_it()
    {
        var sketch = new QuantileSketch();
        for (var i = 200; i >= 1; i--)
        {
            sketch.Add(i);
        }

        Assert.Equal(0, sketch.RankErrorBound);
        Assert.Equal(1, sketch.Quantile(0));
        Assert.Equal(100, sketch.Quantile(0.5));
        Assert.Equal(190, sketch.Quantile(0.95));
        Assert.Equal(200, sketch.Quantile(1));

        // No randomness: the same values in the same order give the same answers, run after run.
        var values = RandomValues(new Random(3), 50_000);
        var a = new QuantileSketch();
        var b = new QuantileSketch();
        values.ForEach(a.Add);
        values.ForEach(b.Add);
        foreach (var p in new[] { 0, 0.01, 0.25, 0.5, 0.9, 0.99, 1 })
        {
            Assert.Equal(a.Quantile(p), b.Quantile(p));
        }

        // Bytes per tile: at most K - 1 values per level.
        Assert.True(a.RetainedValues <= (QuantileSketch.TileLevelCapacity - 1) * (Math.Log2(50_000.0 / QuantileSketch.TileLevelCapacity) + 2), $"{a.RetainedValues} values kept");
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Quantile(1.5));
        Assert.True(double.IsNaN(new QuantileSketch().Quantile(0.5)));
    }

    [Fact]
    public void Top_k_counts_are_exact_within_capacity_and_low_by_at_most_the_undercount_beyond_it() =>
        Check.One(Runs(200), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var distinct = random.Next(1, 3_000);
            var n = random.Next(1, 20_000);
            var skew = random.NextDouble() * 3;
            var truth = new Dictionary<string, long>();
            var parts = Enumerable.Range(0, random.Next(1, 6)).Select(_ => new FrequentValues(FrequentValues.TileCapacity(random.Next(1, 40)))).ToArray();
            for (var i = 0; i < n; i++)
            {
                var value = "v" + (int)(distinct * Math.Pow(random.NextDouble(), 1 + skew));
                truth[value] = truth.GetValueOrDefault(value) + 1;
                parts[random.Next(parts.Length)].Add(0, value);
            }

            var merged = new FrequentValues(FrequentValues.MinEvaluationCapacity);
            foreach (var part in parts)
            {
                Assert.True(part.Count <= part.Capacity);
                merged.Merge(part);
            }

            var bound = parts.Sum(p => (double)n / ((p.Capacity / 2) + 1));
            Assert.True(merged.Undercount <= bound, $"seed {seed}: undercount {merged.Undercount} above N/(C/2+1) = {bound}");
            foreach (var (value, count) in merged.Top(int.MaxValue))
            {
                var real = truth[value];
                Assert.True(count <= real && count >= real - merged.Undercount, $"seed {seed}: {value} counted {count}, truly {real}, undercount {merged.Undercount}");
            }

            // A value more frequent than the undercount is never lost.
            foreach (var (value, real) in truth.Where(t => t.Value > merged.Undercount))
            {
                Assert.Contains(merged.Top(int.MaxValue), c => c.Value == value);
            }

            if (merged.Undercount == 0)
            {
                var expected = truth.OrderByDescending(t => t.Value).ThenBy(t => t.Key, StringComparer.Ordinal).Take(5).Select(t => new ValueCount(t.Key, t.Value));
                Assert.Equal(expected, merged.Top(5));
            }

            return true;
        }));

    [Fact]
    public void A_hundred_thousand_distinct_values_in_a_top_k_tile_keep_its_state_bounded()
    {
        var feature = new WindowedFeature(AggregationKind.TopK, new WindowSpec(24 * Hour, Hour), TextValued: true, Parameter: 5);
        var state = new ViewWindowState([feature], 2 * 24 * Hour);
        var inputs = new FeatureInput[1];
        for (var i = 0; i < 100_000; i++)
        {
            // One heavy hitter among 100 000 distinct values, all in one tile.
            inputs[0] = FeatureInput.OfText(i % 10 == 0 ? "heavy" : "v" + i);
            state.Add(1000 + (i % 1000), i, inputs);
        }

        var buffer = new ArrayBufferWriter<byte>();
        state.WriteTo(buffer);
        var capacity = FrequentValues.TileCapacity(5);
        Assert.True(buffer.WrittenCount < (capacity * 16) + (100_000 * 16), $"{buffer.WrittenCount} bytes");
        state.Compact(rawBefore: long.MaxValue, queriesFrom: 0);
        var compacted = new ArrayBufferWriter<byte>();
        state.WriteTo(compacted);
        Assert.True(compacted.WrittenCount < capacity * 16, $"{compacted.WrittenCount} bytes for a tile of capacity {capacity}");

        var values = new FeatureValue[1];
        state.Evaluate(3000, values);
        var top = Assert.IsType<IReadOnlyList<ValueCount>>(values[0].Counts, exactMatch: false);
        Assert.Equal("heavy", top[0].Value);
        Assert.InRange(top[0].Count, 10_000 - (100_000 / ((capacity / 2) + 1)), 10_000);
    }

    [Fact]
    public void Online_shares_in_log_order_and_an_export_in_time_order_agree_on_large_streams() =>
        Check.One(Runs(12), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            // Thousands of events per tile, so the sketch compacts: online (two partition shares, out of order,
            // stored and read back, merged) and export (time order, no raw entries) may keep other values,
            // each within the bound of the exact percentile; the exact kinds agree exactly.
            var random = new Random(seed);
            var window = new WindowSpec(24 * Hour, Hour);
            WindowedFeature[] features =
            [
                new(AggregationKind.Percentile, window, Parameter: Math.Round(random.NextDouble(), 2)),
                new(AggregationKind.LastN, window, TextValued: true, Parameter: 7),
                new(AggregationKind.LastNDistinct, window, TextValued: true, Parameter: 5),
                new(AggregationKind.TopK, window, TextValued: true, Parameter: 4),
            ];
            var n = random.Next(5_000, 40_000);
            var events = Enumerable.Range(0, n).Select(i =>
            {
                var merchant = "m" + (int)(60 * Math.Pow(random.NextDouble(), 2));
                var amount = FeatureInput.OfNumber(Math.Round(Math.Exp(random.NextDouble() * 8), 2));
                return new TestEvent(random.NextInt64(0, 30 * Hour), i, [amount, FeatureInput.OfText(merchant), FeatureInput.OfText(merchant), FeatureInput.OfText(merchant)]);
            }).ToList();
            var ttl = 2 * 24 * Hour;
            var shares = new[] { new ViewWindowState(features, ttl), new ViewWindowState(features, ttl) };
            foreach (var e in events)
            {
                shares[random.Next(2)].Add(e.Time, e.Sequence, e.Inputs);
            }

            var online = new ViewWindowState(features, ttl);
            foreach (var share in shares)
            {
                var bytes = new ArrayBufferWriter<byte>();
                share.WriteTo(bytes);
                online.MergeFrom(ViewWindowState.ReadFrom(bytes.WrittenSpan, features, ttl));
            }

            var export = new ViewWindowState(features, ttl) { RetainRaw = false };
            foreach (var e in events.OrderBy(e => e.Time).ThenBy(e => e.Sequence))
            {
                export.Add(e.Time, e.Sequence, e.Inputs);
            }

            var t = 30 * Hour;
            var fromOnline = new FeatureValue[4];
            var fromExport = new FeatureValue[4];
            Assert.True(online.Evaluate(t, fromOnline));
            Assert.True(export.Evaluate(t, fromExport));
            var expected = NaiveReference.Evaluate(events, features, ttl, t);
            Assert.Equal(expected[1..], fromOnline[1..]);
            Assert.Equal(expected[1..], fromExport[1..]);

            var start = TileMath.FirstTile(t, window) * Hour;
            var inWindow = events.Where(e => e.Time >= start && e.Time <= t).Select(e => e.Inputs[0].Number).Order().ToArray();
            foreach (var value in new[] { fromOnline[0].Double, fromExport[0].Double })
            {
                var below = LowerBound(inWindow, value);
                var atOrBelow = UpperBound(inWindow, value);
                var target = features[0].Parameter * inWindow.Length;
                var off = target < below ? below - target : target > atOrBelow ? target - atOrBelow : 0;
                Assert.True(off <= 0.02 * inWindow.Length, $"seed {seed}: p{features[0].Parameter} of {inWindow.Length} values off by {off} ranks");
            }

            return true;
        }));

    [Fact]
    public void Last_n_over_an_empty_window_is_null_and_otherwise_newest_first()
    {
        var last = new WindowedFeature(AggregationKind.LastN, new WindowSpec(Hour, 60_000), TextValued: true, Parameter: 3);
        var distinct = new WindowedFeature(AggregationKind.LastNDistinct, new WindowSpec(Hour, 60_000), TextValued: true, Parameter: 3);
        var percentile = new WindowedFeature(AggregationKind.Percentile, new WindowSpec(Hour, 60_000), Parameter: 0.5);
        var top = new WindowedFeature(AggregationKind.TopK, new WindowSpec(Hour, 60_000), TextValued: true, Parameter: 2);
        var state = new ViewWindowState([last, distinct, percentile, top], 2 * Hour);
        string[] merchants = ["a", "b", "a", "c", "a", "b"];
        for (var i = 0; i < merchants.Length; i++)
        {
            state.Add(i * 1000, i, [FeatureInput.OfText(merchants[i]), FeatureInput.OfText(merchants[i]), FeatureInput.OfNumber(i), FeatureInput.OfText(merchants[i])]);
        }

        var values = new FeatureValue[4];
        state.Evaluate(10_000, values);
        Assert.Equal(["b", "a", "c"], values[0].Strings!);
        Assert.Equal(["b", "a", "c"], values[1].Strings!);
        Assert.Equal(2, values[2].Double);
        Assert.Equal([new ValueCount("a", 3), new ValueCount("b", 2)], values[3].Counts!);
        Assert.Equal("""{"a":3,"b":2}""", values[3].ToJson());
        Assert.Equal("""["b","a","c"]""", values[0].ToJson());

        // An hour and a bit later the window is empty: null, not an empty list.
        state.Evaluate(Hour + 70_000, values);
        Assert.All(values, v => Assert.Equal((ValueStatus.NullValue, ValueKind.None), (v.Status, v.Kind)));
    }

    [Fact]
    public void A_stored_state_of_other_n_is_refused_rather_than_misread()
    {
        var five = new WindowedFeature(AggregationKind.LastN, new WindowSpec(Hour, 60_000), Parameter: 5);
        var state = new ViewWindowState([five], 2 * Hour);
        state.Add(1, 1, [FeatureInput.OfNumber(1)]);
        var buffer = new ArrayBufferWriter<byte>();
        state.WriteTo(buffer);
        Assert.Throws<InvalidDataException>(() => ViewWindowState.ReadFrom(buffer.WrittenSpan, [five with { Parameter = 6 }], 2 * Hour));
        Assert.Equal(5, ViewWindowState.ReadFrom(buffer.WrittenSpan, [five], 2 * Hour).Features[0].Size);
    }

    [Theory]
    [InlineData("aggregation: percentile\n        field: amount", "FS0170", "needs p")]
    [InlineData("aggregation: percentile\n        p: 1.5\n        field: amount", "FS0171", "not a share in [0, 1]")]
    [InlineData("aggregation: percentile\n        p: -0.1\n        field: amount", "FS0171", "not a share in [0, 1]")]
    [InlineData("aggregation: percentile\n        p: NaN\n        field: amount", "FS0171", "not a share in [0, 1]")]
    [InlineData("aggregation: percentile\n        p: 0.9\n        field: note", "FS0105", "needs a numeric field")]
    [InlineData("aggregation: last_n\n        n: 1000000\n        field: note", "FS0171", "from 1 to 1000")]
    [InlineData("aggregation: last_n_distinct\n        n: 0\n        field: note", "FS0171", "from 1 to 1000")]
    [InlineData("aggregation: top_k\n        k: 2.5\n        field: note", "FS0171", "from 1 to 1000")]
    [InlineData("aggregation: top_k\n        n: 5\n        field: note", "FS0170", "takes no n")]
    [InlineData("aggregation: sum\n        k: 5\n        field: amount", "FS0170", "takes no k")]
    public void Wrong_parameters_are_reported_at_their_position(string aggregation, string code, string message)
    {
        var text = RepositoryFiles.Minimal.Replace("aggregation: sum\n        field: amount", aggregation, StringComparison.Ordinal);
        Assert.NotEqual(RepositoryFiles.Minimal, text);
        var result = FeatureRepositoryLoader.LoadFromText(text, "repo.yaml");
        Assert.Null(result.Repository);
        var diagnostic = Assert.Single(result.Diagnostics, d => d.Code == code && d.Message.Contains(message, StringComparison.Ordinal));
        Assert.StartsWith("repo.yaml:", diagnostic.ToString(), StringComparison.Ordinal);
        Assert.True(diagnostic.Line > 20 && diagnostic.Column > 1, diagnostic.ToString());
    }

    [Fact]
    public void The_new_aggregations_load_with_their_parameters_and_change_the_state_signature()
    {
        var text = RepositoryFiles.Minimal.Replace("aggregation: sum\n        field: amount", "aggregation: percentile\n        p: 0.95\n        field: amount", StringComparison.Ordinal);
        var repo = FeatureRepositoryLoader.LoadFromText(text, "repo.yaml").Repository!;
        var feature = repo.FeatureViews[0].Features[1];
        Assert.Equal((AggregationKind.Percentile, 0.95), (feature.Aggregation, feature.Parameter));
        var other = FeatureRepositoryLoader.LoadFromText(text.Replace("p: 0.95", "p: 0.5", StringComparison.Ordinal), "repo.yaml").Repository!;
        Assert.NotEqual(StateLayout.ClassicSignature(repo.FeatureViews[0]), StateLayout.ClassicSignature(other.FeatureViews[0]));
        Assert.NotEqual(repo.ContentHash(), other.ContentHash());
    }

    private static void WithinBound(List<double> values, QuantileSketch sketch, Random random, int seed)
    {
        var sorted = values.Order().ToArray();
        var n = sorted.Length;
        var levels = Math.Floor(Math.Log2(Math.Max(1.0, (double)n / QuantileSketch.TileLevelCapacity))) + 1;
        Assert.True(sketch.RankErrorBound <= n * levels / QuantileSketch.TileLevelCapacity * 2, $"seed {seed}: bound {sketch.RankErrorBound} for {n} values");
        foreach (var p in new[] { 0, 1, 0.5, 0.01, 0.99, random.NextDouble(), random.NextDouble() })
        {
            var v = sketch.Quantile(p);
            var below = LowerBound(sorted, v);
            var atOrBelow = UpperBound(sorted, v);
            var target = p * n;
            var off = target < below ? below - target : target > atOrBelow ? target - atOrBelow : 0;
            Assert.True(off <= sketch.RankErrorBound + 1, $"seed {seed}: p={p} of {n} gave {v} with rank [{below}, {atOrBelow}], off by {off} > bound {sketch.RankErrorBound}");
        }
    }

    // Duplicates, one value, sorted, reversed, and random mixes.
    private static List<double> RandomValues(Random random, int n)
    {
        var values = random.Next(6) switch
        {
            0 => Enumerable.Repeat(42.0, n).ToList(),
            1 => Enumerable.Range(0, n).Select(i => (double)i).ToList(),
            2 => Enumerable.Range(0, n).Select(i => (double)(n - i)).ToList(),
            3 => Enumerable.Range(0, n).Select(_ => (double)random.Next(10)).ToList(),
            4 => Enumerable.Range(0, n).Select(_ => Math.Exp(random.NextDouble() * 10)).ToList(),
            _ => Enumerable.Range(0, n).Select(_ => random.NextDouble() * 1000).ToList(),
        };
        return values;
    }

    private static int LowerBound(double[] sorted, double v)
    {
        var i = Array.BinarySearch(sorted, v);
        if (i < 0)
        {
            return ~i;
        }

        while (i > 0 && sorted[i - 1] == v)
        {
            i--;
        }

        return i;
    }

    private static int UpperBound(double[] sorted, double v)
    {
        var i = LowerBound(sorted, v);
        while (i < sorted.Length && sorted[i] == v)
        {
            i++;
        }

        return i;
    }
}
