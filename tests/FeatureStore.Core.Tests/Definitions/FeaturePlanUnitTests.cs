using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Tests.Definitions;

public sealed class FeaturePlanUnitTests
{
    private const long Day = EventLogCoverage.DayMs;
    private const long Now = 20_000 * Day + 12 * 3_600_000; // noon

    private static FeatureRepository Load(string text) => FeatureRepositoryLoader.LoadFromText(text, "repo.yaml").Repository!;

    private static readonly FeatureRepository Before = Load(RepositoryFiles.Minimal);

    /// <summary>A log of the last <paramref name="days"/> days, 100 rows a day, today included.</summary>
    private static EventLogCoverage Log(int days, bool fromFirst = false) =>
        new(fromFirst, Enumerable.Range(0, days).ToDictionary(d => (20_000L - d) * Day, _ => 100L));

    private static IReadOnlyList<FeaturePlanLine> Plan(string after, EventLogCoverage log) =>
        FeaturePlan.Compute(Before, Load(after), _ => log, Now);

    private static FeaturePlanLine Line(IReadOnlyList<FeaturePlanLine> plan, string feature) => Assert.Single(plan, l => l.Feature == feature);

    private static string AddFeature(string lines) => RepositoryFiles.Minimal.Replace("        hop: 10m\n", "        hop: 10m\n" + lines, StringComparison.Ordinal);

    [Fact]
    public void An_added_feature_is_rebuilt_from_the_days_its_window_reaches_and_the_others_are_kept()
    {
        var plan = Plan(AddFeature("      - name: amount_min_1h\n        aggregation: min\n        field: amount\n        window: 1h\n"), Log(10));

        var added = Line(plan, "amount_min_1h");
        Assert.Equal((FeatureChange.Added, StateEffect.Rebuilt, 100L, (string?)null), (added.Change, added.Effect, added.EventsToRead, added.Refusal));
        Assert.All(plan.Where(l => l != added), l => Assert.Equal((FeatureChange.Unchanged, StateEffect.Kept), (l.Change, l.Effect)));
        Assert.Equal("+ user_orders:amount_min_1h added: rebuilt from the event log, reading 100 events (BUILDING until it is switched in)", added.ToString());
        Assert.Equal("  user_orders:order_count_1h unchanged: state kept", Line(plan, "order_count_1h").ToString());
    }

    [Fact]
    public void A_window_change_says_what_changed_and_reads_every_day_the_new_window_reaches()
    {
        var plan = Plan(RepositoryFiles.Minimal.Replace("        aggregation: count\n        window: 1h", "        aggregation: count\n        window: 1d", StringComparison.Ordinal), Log(10));

        var changed = Line(plan, "order_count_1h");
        Assert.Equal((FeatureChange.Changed, StateEffect.Rebuilt, 200L), (changed.Change, changed.Effect, changed.EventsToRead));
        Assert.Equal(["window 1h -> 1d", "hop 5m -> 1h"], changed.What);
        Assert.Null(changed.Refusal);
    }

    [Theory]
    [InlineData("aggregation: sum\n        field: amount\n        window: 1h\n        hop: 10m", "aggregation: max\n        field: amount\n        window: 1h\n        hop: 10m", "aggregation sum -> max")]
    [InlineData("hop: 10m", "hop: 20m", "hop 10m -> 20m")]
    public void Aggregation_and_hop_changes_are_rebuilt(string from, string to, string what)
    {
        var changed = Line(Plan(RepositoryFiles.Minimal.Replace(from, to, StringComparison.Ordinal), Log(3)), "amount_sum_1h");
        Assert.Equal((FeatureChange.Changed, StateEffect.Rebuilt), (changed.Change, changed.Effect));
        Assert.Equal([what], changed.What);
    }

    [Fact]
    public void A_field_change_is_rebuilt()
    {
        var after = RepositoryFiles.Minimal
            .Replace("      note: string\n", "      note: string\n      fee: double\n", StringComparison.Ordinal)
            .Replace("field: amount", "field: fee", StringComparison.Ordinal);
        var changed = Line(Plan(after, Log(3)), "amount_sum_1h");
        Assert.Equal(["field amount -> fee"], changed.What);
        Assert.Equal(StateEffect.Rebuilt, changed.Effect);
    }

    [Fact]
    public void A_ttl_change_keeps_every_feature_state_and_says_so()
    {
        var plan = Plan(RepositoryFiles.Minimal.Replace("ttl: 1d", "ttl: 2d", StringComparison.Ordinal), EventLogCoverage.Empty);

        Assert.Equal(2, plan.Count);
        Assert.All(plan, l => Assert.Equal((FeatureChange.Changed, StateEffect.Kept, (string?)null), (l.Change, l.Effect, l.Refusal)));
        Assert.All(plan, l => Assert.Equal(["ttl 1d -> 2d"], l.What));
    }

    [Fact]
    public void A_removed_feature_is_dropped()
    {
        var after = RepositoryFiles.Minimal.Replace("      - name: amount_sum_1h\n        aggregation: sum\n        field: amount\n        window: 1h\n        hop: 10m\n", "", StringComparison.Ordinal);
        var removed = Line(Plan(after, Log(1)), "amount_sum_1h");
        Assert.Equal((FeatureChange.Removed, StateEffect.Dropped), (removed.Change, removed.Effect));
        Assert.Equal("- user_orders:amount_sum_1h removed: state dropped", removed.ToString());
    }

    [Fact]
    public void A_window_longer_than_the_log_is_refused_with_the_instants()
    {
        var plan = Plan(RepositoryFiles.Minimal.Replace("        aggregation: count\n        window: 1h", "        aggregation: count\n        window: 7d", StringComparison.Ordinal)
            .Replace("ttl: 1d", "ttl: 7d", StringComparison.Ordinal), Log(3));

        var refused = Line(plan, "order_count_1h");
        Assert.Equal(
            "the 7d window needs events from 2024-09-27 12:00:00Z, and the event log of source orders is whole only from 2024-10-03 00:00:00Z",
            refused.Refusal);
        Assert.EndsWith("REFUSED: " + refused.Refusal, refused.ToString(), StringComparison.Ordinal);
        Assert.Null(Line(plan, "amount_sum_1h").Refusal);
    }

    [Fact]
    public void The_first_day_of_a_log_counts_as_partial_unless_the_log_reaches_back_to_the_first_event()
    {
        var after = RepositoryFiles.Minimal.Replace("        aggregation: count\n        window: 1h", "        aggregation: count\n        window: 1d", StringComparison.Ordinal);
        Assert.NotNull(Line(Plan(after, Log(2)), "order_count_1h").Refusal);
        Assert.Null(Line(Plan(after, Log(2, fromFirst: true)), "order_count_1h").Refusal);
        Assert.Null(Line(Plan(after, Log(3)), "order_count_1h").Refusal);
    }

    [Fact]
    public void A_lifetime_feature_needs_a_log_from_the_first_event()
    {
        var after = AddFeature("      - name: orders_ever\n        aggregation: count\n");

        var refused = Line(Plan(after, Log(30)), "orders_ever");
        Assert.Equal("a lifetime feature needs every event of source orders, and its event log does not reach back to the first one", refused.Refusal);
        Assert.Equal(3000, refused.EventsToRead);

        var whole = Line(Plan(after, Log(30, fromFirst: true)), "orders_ever");
        Assert.Null(whole.Refusal);
        Assert.Equal(3000, whole.EventsToRead);
    }

    [Fact]
    public void A_rebuild_over_an_empty_log_is_refused()
    {
        var added = Line(Plan(AddFeature("      - name: amount_max_1h\n        aggregation: max\n        field: amount\n        window: 1h\n"), EventLogCoverage.Empty), "amount_max_1h");
        Assert.Equal("the event log of source orders holds no committed events", added.Refusal);
        Assert.Equal(0, added.EventsToRead);
    }

    [Fact]
    public void New_views_unchanged_views_and_a_first_apply_have_no_feature_lines()
    {
        Assert.Empty(FeaturePlan.Compute(null, Before, _ => EventLogCoverage.Empty, Now));
        Assert.Empty(FeaturePlan.Compute(Before, Before, _ => throw new InvalidOperationException("an unchanged view reads no log"), Now));
    }

    [Fact]
    public void Only_the_sources_of_features_to_rebuild_are_read()
    {
        Assert.Equal(["orders"], FeaturePlan.SourcesToRead(Before, Load(AddFeature("      - name: amount_min_1h\n        aggregation: min\n        field: amount\n        window: 1h\n"))));
        Assert.Empty(FeaturePlan.SourcesToRead(Before, Load(RepositoryFiles.Minimal.Replace("ttl: 1d", "ttl: 2d", StringComparison.Ordinal))));
        Assert.Empty(FeaturePlan.SourcesToRead(null, Before));
    }
}
