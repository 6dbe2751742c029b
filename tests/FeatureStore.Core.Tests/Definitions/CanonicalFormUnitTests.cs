using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Tests.Definitions;

public sealed class CanonicalFormUnitTests
{
    private static FeatureRepository Load(string text) => FeatureRepositoryLoader.LoadFromText(text, "repo.yaml").Repository!;

    [Fact]
    public void Layout_comments_and_item_order_do_not_change_the_hash()
    {
        var original = Load(RepositoryFiles.Minimal);
        var reordered = Load("# a comment\n" + RepositoryFiles.Minimal
            .Replace("  - name: user\n    join_keys: [user_id]", "  - join_keys:   [ user_id ]\n    name: user", StringComparison.Ordinal)
            .Replace("window: 1h\n      - name: amount_sum_1h", "window: 60m\n      - name: amount_sum_1h", StringComparison.Ordinal));

        Assert.Equal(original.ToCanonicalJson(), reordered.ToCanonicalJson());
        Assert.Equal(original.ContentHash(), reordered.ContentHash());
        Assert.Equal(64, original.ContentHash().Length);
    }

    [Fact]
    public void A_change_of_meaning_changes_the_hash() =>
        Assert.NotEqual(
            Load(RepositoryFiles.Minimal).ContentHash(),
            Load(RepositoryFiles.Minimal.Replace("ttl: 1d", "ttl: 2d", StringComparison.Ordinal)).ContentHash());

    [Fact]
    public void Plan_lists_additions_removals_and_changes()
    {
        var before = Load(RepositoryFiles.Minimal);
        var after = Load(RepositoryFiles.Minimal
            .Replace("hop: 10m", "hop: 15m", StringComparison.Ordinal)
            .Replace("      - name: order_count_1h\n        aggregation: count\n        window: 1h\n", "      - name: order_count_2h\n        aggregation: count\n        window: 2h\n", StringComparison.Ordinal)
            .Replace("features: [user_orders:order_count_1h]", "features: [user_orders:order_count_2h]", StringComparison.Ordinal));

        var plan = RepositoryPlan.Compute(before, after).Select(c => c.ToString()).ToList();

        Assert.Contains("+ feature user_orders:order_count_2h", plan);
        Assert.Contains("- feature user_orders:order_count_1h", plan);
        Assert.Contains("~ feature user_orders:amount_sum_1h hop_ms 600000 -> 900000", plan);
        Assert.Contains("~ model_version churn@v1 features [\"user_orders:order_count_1h\"] -> [\"user_orders:order_count_2h\"]", plan);
        Assert.Empty(RepositoryPlan.Compute(after, after));
        Assert.All(RepositoryPlan.Compute(null, after), c => Assert.Equal(ChangeKind.Add, c.Kind));
    }
}
