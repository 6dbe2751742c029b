using FeatureStore.Core.Windows;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Core.Tests.Windows;

public sealed class WindowCoreUnitTests
{
    private const long Minute = 60_000;
    private const long Hour = 60 * Minute;

    [Theory]
    [InlineData(7, 5, 1)]
    [InlineData(-1, 5, -1)]
    [InlineData(-5, 5, -1)]
    [InlineData(-6, 5, -2)]
    [InlineData(0, 5, 0)]
    public void FloorDiv_is_a_true_floor(long a, long b, long expected) => Assert.Equal(expected, TileMath.FloorDiv(a, b));

    [Fact]
    public void Window_start_is_the_first_tile_wholly_after_T_minus_W()
    {
        var window = new WindowSpec(Hour, 5 * Minute);
        var t = (10 * Hour) + (7 * Minute);                     // 10:07
        Assert.Equal((9 * Hour) + (10 * Minute), TileMath.WindowStart(t, window));   // 9:10: [9:10, 10:07]
        Assert.Equal(9 * Hour + (5 * Minute), TileMath.WindowStart(10 * Hour, window)); // T on an edge: (9:00, 10:00] -> [9:05, 10:00]
        Assert.Equal(t - Hour + 1, TileMath.WindowStart(t, new WindowSpec(Hour, 1)));  // H = 1 ms: the exact sliding window (T − W, T]
        Assert.Equal(long.MinValue, TileMath.WindowStart(t, WindowSpec.Lifetime()));
    }

    [Theory]
    [InlineData(60_000L, 60_000L)]                 // 1m window: gcd(1m, 5m)
    [InlineData(3_600_000L, 300_000L)]             // 1h -> 5m
    [InlineData(43_199_999L, 1L)]                  // just below 12h -> gcd with 5m
    [InlineData(43_200_000L, 3_600_000L)]          // 12h -> 1h
    [InlineData(604_800_000L, 3_600_000L)]         // 7d -> 1h
    [InlineData(1_036_800_000L, 86_400_000L)]      // 12d -> 1d
    [InlineData(420_000L, 60_000L)]                // 7m -> gcd(7m, 5m) = 1m
    public void Default_hop_follows_the_window(long window, long hop) => Assert.Equal(hop, WindowSpec.DefaultHopMs(window));

    [Fact]
    public void Sample_standard_deviation_matches_the_textbook_value()
    {
        // The data set 2, 4, 4, 4, 5, 5, 7, 9 (Wikipedia, "Standard deviation": population σ = 2);
        // sample s = sqrt(32 / 7) = 2.138089935299395 (R: sd(c(2,4,4,4,5,5,7,9))).
        var agg = PartialAggregate.Empty;
        var seq = 0;
        foreach (var v in new double[] { 2, 4, 4, 4, 5, 5, 7, 9 })
        {
            agg.Add(AggregationKind.StdDev, 0, seq++, FeatureInput.OfNumber(v));
        }

        Assert.Equal(2.138089935299395, agg.Result(AggregationKind.StdDev, false, null).Double, 12);
    }

    [Fact]
    public void Compensated_sum_keeps_small_terms_next_to_large_ones()
    {
        var agg = PartialAggregate.Empty;
        double[] values = [1e16, 1, 1, -1e16, 1, 1];
        for (var i = 0; i < values.Length; i++)
        {
            agg.Add(AggregationKind.Sum, 0, i, FeatureInput.OfNumber(values[i]));
        }

        Assert.Equal(4, agg.Result(AggregationKind.Sum, false, null).Double); // naive left-to-right summation gives 2
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(100_000)]
    public void HyperLogLog_estimates_within_its_error_bound(int distinct)
    {
        var sketch = new HyperLogLog();
        for (var i = 0; i < distinct; i++)
        {
            sketch.Add(HyperLogLog.HashValue(i));
            sketch.Add(HyperLogLog.HashValue(i)); // repeats change nothing
        }

        // 1.04 / sqrt(4096) = 1.6% standard error; 5% is beyond three of them.
        Assert.InRange(sketch.Estimate(), distinct * 0.95, distinct * 1.05);
    }

    [Fact]
    public void HyperLogLog_round_trips_sparse_and_dense_and_merges_as_a_union()
    {
        var a = new HyperLogLog();
        var b = new HyperLogLog();
        for (var i = 0; i < 3000; i++)
        {
            (i % 2 == 0 ? a : b).Add(HyperLogLog.HashValue(i));
        }

        var small = new HyperLogLog();
        small.Add(HyperLogLog.HashValue(42));
        Assert.True(small.IsSparse);
        Assert.False(a.IsSparse);

        foreach (var sketch in new[] { a, small })
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            sketch.WriteTo(buffer);
            var copy = HyperLogLog.ReadFrom(buffer.WrittenSpan, out var consumed);
            Assert.Equal(buffer.WrittenCount, consumed);
            Assert.Equal(sketch.Estimate(), copy.Estimate());
        }

        var union = a.Clone();
        union.Merge(b);
        Assert.InRange(union.Estimate(), 3000 * 0.95, 3000 * 1.05);
        Assert.InRange(a.Estimate(), 1500 * 0.95, 1500 * 1.05); // the clone left a untouched
    }

    [Fact]
    public void HyperLogLog_merge_holds_the_registers_of_every_value_added_once() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            // Sizes around the sparse limit (1 024 registers), overlapping values, and a reused (cleared) target.
            var random = new Random(seed);
            var sizes = new[] { 0, 1, 5, 300, 700, 1_100, 3_000 };
            var target = new HyperLogLog();
            target.Add(HyperLogLog.HashValue(-1.5));
            target.Clear();
            var all = new HyperLogLog();
            for (var part = random.Next(1, 5); part > 0; part--)
            {
                var sketch = new HyperLogLog();
                var offset = random.Next(0, 2_000);
                for (var i = sizes[random.Next(sizes.Length)]; i > 0; i--)
                {
                    var value = HyperLogLog.HashValue(offset + random.Next(0, 2_500));
                    sketch.Add(value);
                    all.Add(value);
                }

                target.Merge(sketch);
            }

            Assert.Equal(all.IsSparse, target.IsSparse);
            Assert.Equal(Registers(all), Registers(target));
            Assert.Equal(all.Estimate(), target.Estimate());
        }));

    private static byte[] Registers(HyperLogLog sketch)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        sketch.WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public void Merge_is_associative_and_commutative() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            foreach (var kind in new[] { AggregationKind.Count, AggregationKind.Sum, AggregationKind.Mean, AggregationKind.Min, AggregationKind.Max, AggregationKind.Last, AggregationKind.StdDev })
            {
                var parts = Enumerable.Range(0, 3).Select(_ =>
                {
                    var p = PartialAggregate.Empty;
                    for (var i = random.Next(0, 6); i > 0; i--)
                    {
                        p.Add(kind, random.Next(0, 10), random.Next(0, 1000), FeatureInput.OfNumber(random.Next(-100, 100)));
                    }

                    return p;
                }).ToArray();

                var left = PartialAggregate.Empty;   // (a + b) + c
                var ab = PartialAggregate.Empty;
                ab.Merge(kind, parts[0]);
                ab.Merge(kind, parts[1]);
                left.Merge(kind, ab);
                left.Merge(kind, parts[2]);

                var right = PartialAggregate.Empty;  // c + (b + a)
                var ba = PartialAggregate.Empty;
                ba.Merge(kind, parts[1]);
                ba.Merge(kind, parts[0]);
                right.Merge(kind, parts[2]);
                right.Merge(kind, ba);

                var l = left.Result(kind, false, null);
                var r = right.Result(kind, false, null);
                if (l.Status != r.Status || Math.Abs(l.Double - r.Double) > 1e-9 * Math.Max(1, Math.Abs(l.Double)) || l.Int64 != r.Int64)
                {
                    throw new InvalidOperationException($"{kind}: {l} vs {r}");
                }
            }

            return true;
        }));

    [Fact]
    public void Ttl_hides_idle_entities_and_tells_never_seen_from_expired()
    {
        var state = new ViewWindowState([new WindowedFeature(AggregationKind.Count, new WindowSpec(Hour, 5 * Minute))], ttlMs: 2 * Hour);
        var values = new FeatureValue[1];

        state.Evaluate(10 * Hour, values);
        Assert.Equal(ValueStatus.NotFound, values[0].Status);

        state.Add(10 * Hour, 1, [FeatureInput.Absent]);
        state.Evaluate((10 * Hour) - 1, values);
        Assert.Equal(ValueStatus.NotFound, values[0].Status);          // nothing at or before T yet

        state.Evaluate(12 * Hour, values);                              // newest = T - ttl exactly: still inside
        Assert.Equal((ValueStatus.Present, 0L), (values[0].Status, values[0].Int64)); // window decayed to empty

        state.Evaluate((12 * Hour) + 1, values);
        Assert.Equal(ValueStatus.OutsideTtl, values[0].Status);
        Assert.Equal(0, values[0].Int64);
    }

    [Fact]
    public void Windows_decay_without_new_events_and_report_the_newest_contributing_time()
    {
        var state = new ViewWindowState(
            [new WindowedFeature(AggregationKind.Sum, new WindowSpec(Hour, 5 * Minute)), new WindowedFeature(AggregationKind.Mean, new WindowSpec(Hour, 5 * Minute))],
            ttlMs: 24 * Hour);
        state.Add(0, 1, [FeatureInput.OfNumber(10), FeatureInput.OfNumber(10)]);
        state.Add(30 * Minute, 2, [FeatureInput.OfNumber(20), FeatureInput.OfNumber(20)]);
        var values = new FeatureValue[2];

        state.Evaluate(40 * Minute, values);
        Assert.Equal((30.0, 15.0, 30 * Minute), (values[0].Double, values[1].Double, values[1].EventTimeMs!.Value));

        state.Evaluate(Hour + (5 * Minute), values);                    // the first event's tile has left the window
        Assert.Equal((20.0, 20.0), (values[0].Double, values[1].Double));

        state.Evaluate(2 * Hour, values);
        Assert.Equal((ValueStatus.Present, 0.0), (values[0].Status, values[0].Double));
        Assert.Equal(ValueStatus.NullValue, values[1].Status);
    }

    [Fact]
    public void Last_prefers_the_later_event_then_the_later_log_position()
    {
        var state = new ViewWindowState([new WindowedFeature(AggregationKind.Last, WindowSpec.Lifetime(), TextValued: true)], ttlMs: 24 * Hour);
        state.Add(100, 5, [FeatureInput.OfText("FR")]);
        state.Add(100, 9, [FeatureInput.OfText("DE")]);
        state.Add(99, 12, [FeatureInput.OfText("IT")]);
        var values = new FeatureValue[1];
        state.Evaluate(100, values);
        Assert.Equal("DE", values[0].Text);
    }

    [Fact]
    public void Compaction_flags_queries_it_can_no_longer_answer_exactly()
    {
        var window = new WindowSpec(Hour, 5 * Minute);
        var state = new ViewWindowState([new WindowedFeature(AggregationKind.Count, window)], ttlMs: 2 * Hour);
        state.Add(Minute, 1, [FeatureInput.Absent]);
        state.Add(3 * Minute, 2, [FeatureInput.Absent]);
        var values = new FeatureValue[1];
        Assert.True(state.Evaluate(2 * Minute, values));
        Assert.Equal(1, values[0].Int64);                               // cut inside the tile from its raw entries

        state.Compact(rawBefore: 5 * Minute, queriesFrom: 0);
        Assert.False(state.Evaluate(2 * Minute, values));               // no raw entries left to cut the tile
        Assert.True(state.Evaluate(5 * Minute, values));                // whole tiles are still exact
        Assert.Equal(2, values[0].Int64);
    }

    [Fact]
    public void Raw_entry_cap_keeps_the_newest_and_flags_only_cuts_that_needed_the_dropped_ones()
    {
        var window = new WindowSpec(Hour, 5 * Minute);
        var state = new ViewWindowState([new WindowedFeature(AggregationKind.Count, window)], ttlMs: 2 * Hour);
        for (var i = 0; i < 10; i++)
        {
            state.Add(i * Minute, i, [FeatureInput.Absent]);            // two tiles: minutes 0-4 and 5-9
        }

        state.Compact(rawBefore: long.MinValue, queriesFrom: 0, maxRawEntries: 3);
        Assert.Equal(3, state.RawEntryCount);                           // minutes 7, 8, 9 remain
        var values = new FeatureValue[1];
        Assert.True(state.Evaluate(10 * Minute, values));               // after every event: whole tiles, exact
        Assert.Equal(10, values[0].Int64);
        Assert.True(state.Evaluate(4 * Minute, values));                // first tile complete at T: exact
        Assert.Equal(5, values[0].Int64);
        Assert.False(state.Evaluate(8 * Minute, values));               // cutting minutes 5-9 needs entries 5 and 6
    }
}
