using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Tests.Definitions;

public sealed class StateLayoutUnitTests
{
    private const string AmountMin = "      - name: amount_min_1h\n        aggregation: min\n        field: amount\n        window: 1h\n";

    private static readonly FeatureRepository V1 = Load(RepositoryFiles.Minimal);

    private static FeatureRepository Load(string text) => FeatureRepositoryLoader.LoadFromText(text, "repo.yaml").Repository!;

    private static FeatureRepository AddFeature(string lines) =>
        Load(RepositoryFiles.Minimal.Replace("        hop: 10m\n", "        hop: 10m\n" + lines, StringComparison.Ordinal));

    private static void AssertSame(StateGroupLayout expected, StateGroupLayout actual)
    {
        Assert.Equal(expected.Signature, actual.Signature);
        Assert.Equal(expected.Building, actual.Building);
        Assert.Equal(expected.Slots, actual.Slots);
    }

    private static string[] Live(StateGroupLayout group) => [.. group.Slots.Select(s => s.Feature).OfType<string>()];

    [Fact]
    public void A_view_never_changed_has_one_serving_group_under_its_classic_signature()
    {
        var layout = StateLayout.Default(V1);
        var group = Assert.Single(layout.Views["user_orders"].Groups);
        Assert.False(group.Building);
        Assert.Equal(StateLayout.ClassicSignature(V1.FindView("user_orders")!), group.Signature);
        Assert.Equal(["order_count_1h", "amount_sum_1h"], Live(group));

        // The compiled view keeps the classic signature for offline snapshots and stores each feature in that group.
        var compiled = CompiledRepository.Compile(V1);
        var view = compiled.FindView("user_orders")!;
        Assert.Equal(group.Signature, view.Signature);
        Assert.Equal(group.Signature, Assert.Single(view.Groups).Signature);
        Assert.Equal((0, 1), view.PlaceOf(1));
        Assert.Same(view.Groups[0], Assert.Single(compiled.Sources.Single().Groups));
    }

    [Fact]
    public void An_added_feature_is_built_in_a_new_group_and_the_unchanged_ones_keep_theirs()
    {
        var layout = StateLayout.Next(V1, null, AddFeature(AmountMin), version: 2);
        var groups = layout.Views["user_orders"].Groups;
        Assert.Equal(2, groups.Count);
        AssertSame(StateLayout.Default(V1).Views["user_orders"].Groups[0], groups[0]);
        Assert.True(groups[1].Building);
        Assert.Equal(["amount_min_1h"], Live(groups[1]));
        Assert.NotEqual(groups[0].Signature, groups[1].Signature);

        var view = CompiledRepository.Compile(AddFeature(AmountMin), layout).FindView("user_orders")!;
        Assert.Equal((1, 0), view.PlaceOf(view.IndexOf("amount_min_1h")));
        Assert.Equal((0, 0), view.PlaceOf(view.IndexOf("order_count_1h")));
        Assert.Same(view.Groups[1], view.BuildingGroup);
        Assert.Equal(2, CompiledRepository.Compile(AddFeature(AmountMin), layout).Sources.Single().Groups.Count);
    }

    [Fact]
    public void A_changed_window_leaves_a_dead_slot_and_builds_the_new_window()
    {
        var changed = Load(RepositoryFiles.Minimal.Replace("window: 1h\n      - name: amount_sum_1h", "window: 2h\n      - name: amount_sum_1h", StringComparison.Ordinal));
        var groups = StateLayout.Next(V1, null, changed, version: 2).Views["user_orders"].Groups;

        Assert.Equal(2, groups.Count);
        Assert.Equal([null, "amount_sum_1h"], groups[0].Slots.Select(s => s.Feature));
        Assert.Equal(3_600_000, groups[0].Slots[0].WindowMs); // the old state's shape stays, to decode it
        Assert.Equal(["order_count_1h"], Live(groups[1]));
        Assert.Equal(7_200_000, groups[1].Slots[0].WindowMs);
    }

    [Fact]
    public void The_switch_serves_the_built_group_and_a_group_whose_features_are_all_gone_is_dropped()
    {
        var v2 = AddFeature(AmountMin);
        var building = StateLayout.Next(V1, null, v2, version: 2);
        var signature = building.Views["user_orders"].BuildingGroup!.Signature;
        Assert.Null(building.Switched("user_orders", "nosuchgr"));
        var switched = building.Switched("user_orders", signature)!;
        Assert.All(switched.Views["user_orders"].Groups, g => Assert.False(g.Building));

        // v3 keeps only the added feature: the first group has no live slot left and is dropped.
        var v3 = Load(RepositoryFiles.Minimal
            .Replace("      - name: order_count_1h\n        aggregation: count\n        window: 1h\n", AmountMin, StringComparison.Ordinal)
            .Replace("      - name: amount_sum_1h\n        aggregation: sum\n        field: amount\n        window: 1h\n        hop: 10m\n", "", StringComparison.Ordinal)
            .Replace("features: [user_orders:order_count_1h]", "features: [user_orders:amount_min_1h]", StringComparison.Ordinal));
        var after = StateLayout.Next(v2, switched, v3, version: 4).Views["user_orders"];
        var group = Assert.Single(after.Groups);
        Assert.Equal(signature, group.Signature);
        Assert.False(group.Building);
    }

    [Fact]
    public void A_building_group_goes_on_through_an_unrelated_change_and_is_replaced_by_a_related_one()
    {
        var v2 = AddFeature(AmountMin);
        var building = StateLayout.Next(V1, null, v2, version: 2);
        var first = building.Views["user_orders"].BuildingGroup!;

        var ttl = Load(RepositoryFiles.Minimal.Replace("        hop: 10m\n", "        hop: 10m\n" + AmountMin, StringComparison.Ordinal).Replace("ttl: 1d", "ttl: 2d", StringComparison.Ordinal));
        Assert.Same(first, StateLayout.Next(v2, building, ttl, version: 3).Views["user_orders"].BuildingGroup);

        var more = AddFeature(AmountMin + "      - name: amount_max_1h\n        aggregation: max\n        field: amount\n        window: 1h\n");
        var replaced = StateLayout.Next(v2, building, more, version: 3).Views["user_orders"];
        Assert.Equal(["amount_min_1h", "amount_max_1h"], Live(replaced.BuildingGroup!));
        Assert.NotEqual(first.Signature, replaced.BuildingGroup!.Signature);
        Assert.Single(replaced.Groups, g => g.Building);
    }

    [Fact]
    public void A_view_moved_to_another_entity_builds_every_feature_and_a_new_view_starts_in_its_default_group()
    {
        var rekeyed = Load(RepositoryFiles.Minimal.Replace("  - name: user\n    join_keys: [user_id]\n", "  - name: user\n    join_keys: [user_id]\n  - name: buyer\n    join_keys: [user_id]\n", StringComparison.Ordinal)
            .Replace("    entity: user\n", "    entity: buyer\n", StringComparison.Ordinal));
        var groups = StateLayout.Next(V1, null, rekeyed, version: 2).Views["user_orders"].Groups;
        var group = Assert.Single(groups);
        Assert.True(group.Building);
        Assert.Equal(["order_count_1h", "amount_sum_1h"], Live(group));

        var fresh = StateLayout.Next(null, null, V1, version: 1);
        AssertSame(Assert.Single(StateLayout.Default(V1).Views["user_orders"].Groups), Assert.Single(fresh.Views["user_orders"].Groups));
    }

    [Fact]
    public void A_layout_survives_its_json_and_a_dead_slot_whose_field_is_gone_is_fed_nothing()
    {
        var changed = Load(RepositoryFiles.Minimal.Replace("field: amount\n        window: 1h\n        hop: 10m\n", "field: amount\n        window: 2h\n        hop: 10m\n", StringComparison.Ordinal));
        var layout = StateLayout.Next(V1, null, changed, version: 2);
        var back = StateLayout.FromJson(layout.ToJson());
        Assert.Equal(layout.ToJson(), back.ToJson());
        Assert.Equal(layout.Views["user_orders"].Groups.Count, back.Views["user_orders"].Groups.Count);

        // The source loses the field `amount` that a dead slot read: the slot is fed nothing, the new one reads `note`.
        var noAmount = Load(RepositoryFiles.Minimal
            .Replace("      amount: double\n", "", StringComparison.Ordinal)
            .Replace("      - name: amount_sum_1h\n        aggregation: sum\n        field: amount\n", "      - name: amount_sum_1h\n        aggregation: approx_distinct\n        field: note\n", StringComparison.Ordinal));
        var dropped = StateLayout.Next(V1, null, noAmount, version: 2);
        var view = CompiledRepository.Compile(noAmount, dropped).FindView("user_orders")!;
        Assert.Equal(StateGroup.NoInput, view.Groups[0].InputSlots[1]);
        Assert.True(view.Groups[1].InputSlots[0] >= 0);
    }
}
