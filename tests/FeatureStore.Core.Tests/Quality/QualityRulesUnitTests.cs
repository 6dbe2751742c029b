using FeatureStore.Core.Definitions;
using FeatureStore.Core.Quality;
using FeatureStore.Core.Windows;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Core.Tests.Quality;

/// <summary>The freshness and quality checks: verdicts at their boundaries, and the window sum against a naive one.</summary>
public sealed class QualityRulesUnitTests
{
    private static readonly FeatureViewDefinition View = new(
        "user_orders", "user", "orders", 86_400_000,
        [new FeatureDefinition("order_count", AggregationKind.Count, null, WindowSpec.Lifetime(3_600_000)), new FeatureDefinition("amount_sum", AggregationKind.Sum, "amount", WindowSpec.Lifetime(3_600_000))],
        FreshnessMs: 60_000,
        Quality: new ViewQualityDefinition(60_000, 10, 0.2, null, 0.5, null, [new FeatureRange("amount_sum", 0, 100)]));

    private static readonly SourceDefinition Source = new("orders", "orders", "orders.dlq", "json", "ts", FeatureStore.Core.Events.TimestampFormat.Rfc3339, [], Quality: new SourceQualityDefinition(60_000, 100, 0.01));

    [Fact]
    public void Freshness_breaches_only_once_the_age_is_over_the_objective()
    {
        var now = 1_000_000_000L;
        Assert.Equal(QualityVerdict.Ok, QualityRules.FreshnessOf(View, now, now - 60_000, 0).Verdict);
        var late = QualityRules.FreshnessOf(View, now, now - 60_001, 42);
        Assert.Equal((QualityVerdict.Breach, 60.001, 60.0, 42L, "freshness:user_orders"), (late.Verdict, late.Value, late.Threshold, late.Count, late.Key));
        Assert.Equal(QualityVerdict.Ok, QualityRules.FreshnessOf(View, now, now + 5_000, 0).Verdict); // an event stamped ahead is age 0
        var none = QualityRules.FreshnessOf(View, now, null, -1);
        Assert.Equal((QualityVerdict.InsufficientData, (double?)null), (none.Verdict, none.Value));
    }

    [Fact]
    public void A_served_rate_is_judged_against_its_threshold_once_min_lookups_are_served()
    {
        var counts = new Dictionary<string, long>
        {
            ["user_orders:order_count:total"] = 10,
            ["user_orders:order_count:not_found"] = 3,
            ["user_orders:order_count:null_value"] = 5,
            ["user_orders:amount_sum:total"] = 9,
            ["user_orders:amount_sum:not_found"] = 9,
        };
        var checks = QualityRules.ServedRatesOf(View, counts).ToDictionary(c => c.Key);

        // Thresholds not declared (outside_ttl) are not checked; ranges only on the feature that has one.
        Assert.Equal(
            ["quality:view:user_orders:amount_sum:not_found_rate", "quality:view:user_orders:amount_sum:null_rate", "quality:view:user_orders:amount_sum:out_of_range_rate",
             "quality:view:user_orders:order_count:not_found_rate", "quality:view:user_orders:order_count:null_rate"],
            checks.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((QualityVerdict.Breach, 0.3), (checks["quality:view:user_orders:order_count:not_found_rate"].Verdict, checks["quality:view:user_orders:order_count:not_found_rate"].Value));
        Assert.Equal(QualityVerdict.Ok, checks["quality:view:user_orders:order_count:null_rate"].Verdict); // 0.5 is not over 0.5
        Assert.Equal(QualityVerdict.InsufficientData, checks["quality:view:user_orders:amount_sum:not_found_rate"].Verdict); // 9 < min_lookups 10
        Assert.Equal(0.0, checks["quality:view:user_orders:amount_sum:out_of_range_rate"].Threshold); // the default with ranges
    }

    [Fact]
    public void A_dead_letter_rate_is_checked_per_reason_over_every_consumed_event()
    {
        var counts = new Dictionary<string, long> { ["orders:consumed"] = 200, ["orders:dead:malformed_json"] = 3, ["orders:dead:too_late"] = 2 };
        var checks = QualityRules.DeadLetterRatesOf(Source, counts).ToDictionary(c => c.Reason!);
        Assert.Equal(QualityRules.Reasons.Order(StringComparer.Ordinal), checks.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((QualityVerdict.Breach, 0.015, "quality:source:orders:malformed_json"), (checks["malformed_json"].Verdict, checks["malformed_json"].Value, checks["malformed_json"].Key));
        Assert.Equal(QualityVerdict.Ok, checks["too_late"].Verdict); // 0.01 is not over 0.01
        Assert.Equal((QualityVerdict.Ok, 0.0), (checks["missing_key"].Verdict, checks["missing_key"].Value));

        var few = QualityRules.DeadLetterRatesOf(Source, new Dictionary<string, long> { ["orders:consumed"] = 99, ["orders:dead:malformed_json"] = 99 });
        Assert.All(few, c => Assert.Equal(QualityVerdict.InsufficientData, c.Verdict));
        Assert.All(QualityRules.DeadLetterRatesOf(Source, new Dictionary<string, long>()), c => Assert.Null(c.Value));
    }

    [Fact]
    public void The_window_sum_leaves_out_a_bucket_that_ends_where_the_window_starts_and_one_after_now()
    {
        var one = new Dictionary<string, long> { ["x"] = 1 };
        var sum = QualityRules.Sum([(60_000, one), (70_000, one), (100_000, one), (110_000, one)], 100_000, 30_000, 10_000);
        Assert.Equal(2, sum["x"]);
    }

    [Fact]
    public void The_window_sum_counts_exactly_the_buckets_that_overlap_the_window()
    {
        const long bucket = 10_000;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var now = random.NextInt64(1_000_000, 2_000_000);
            var window = random.NextInt64(1, 200_000);
            var buckets = Enumerable.Range(0, random.Next(0, 40)).Select(_ =>
            {
                var start = ((now / bucket) - random.Next(-2, 30)) * bucket;
                return (start, new Dictionary<string, long> { ["a"] = random.Next(0, 5), ["b"] = random.Next(0, 5) });
            }).ToList();

            // Naive: a bucket counts when any instant of it lies in (now - window, now].
            var expected = new Dictionary<string, long>();
            foreach (var (start, counts) in buckets)
            {
                var overlaps = false;
                for (var t = start; t < start + bucket && !overlaps; t++)
                {
                    overlaps = t > now - window && t <= now;
                }

                if (overlaps)
                {
                    foreach (var (k, v) in counts)
                    {
                        expected[k] = expected.GetValueOrDefault(k) + v;
                    }
                }
            }

            var sum = QualityRules.Sum(buckets, now, window, bucket);
            Assert.Equal(expected.Where(e => e.Value != 0 || sum.ContainsKey(e.Key)).OrderBy(e => e.Key), sum.Where(e => e.Value != 0 || expected.ContainsKey(e.Key)).OrderBy(e => e.Key));
        }));
    }
}
