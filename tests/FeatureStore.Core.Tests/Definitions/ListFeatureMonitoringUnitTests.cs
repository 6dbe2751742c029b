using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Tests.Definitions;

/// <summary>
/// Drift and quality on list, count and sketch features: a monitor on a list or value counts (last_n,
/// last_n_distinct, top_k) is refused with FS0189 at its place, one on a count or a percentile (a number) is
/// accepted; a quality range holds a count or a percentile and refuses a list (FS0164).
/// </summary>
public sealed class ListFeatureMonitoringUnitTests
{
    private static string Repository(string monitored, string? ranges = null)
    {
        var text = RepositoryFiles.Minimal
            .Replace("        hop: 10m\n", "        hop: 10m\n"
                + "      - { name: recent_amounts, aggregation: last_n, n: 3, field: amount }\n"
                + "      - { name: recent_notes, aggregation: last_n_distinct, n: 3, field: note }\n"
                + "      - { name: top_notes, aggregation: top_k, k: 3, field: note }\n"
                + "      - { name: amount_p95, aggregation: percentile, p: 0.95, field: amount, window: 1h }\n"
                + (ranges is null ? "" : "    quality:\n      window: 1h\n      ranges: " + ranges + "\n"), StringComparison.Ordinal)
            .Replace("features: [user_orders:order_count_1h]", "features: [user_orders]", StringComparison.Ordinal)
            .Replace("column: score", "column: " + monitored, StringComparison.Ordinal);
        return text;
    }

    private static LoadResult Load(string text) => FeatureRepositoryLoader.LoadFromText(text, "repo.yaml");

    [Theory]
    [InlineData("user_orders:recent_amounts", "last_n")]
    [InlineData("user_orders:recent_notes", "last_n_distinct")]
    [InlineData("user_orders:top_notes", "top_k")]
    public void A_monitor_on_a_list_or_value_counts_is_refused_at_its_column(string column, string aggregation)
    {
        var text = Repository(column);
        var diagnostic = Assert.Single(Load(text).Diagnostics);
        Assert.Equal("FS0189", diagnostic.Code);
        Assert.Contains($"monitor column '{column}' is {aggregation}, a list", diagnostic.Message, StringComparison.Ordinal);
        var lines = text.Split('\n');
        var line = Array.FindIndex(lines, l => l.Contains("column: " + column, StringComparison.Ordinal));
        Assert.Equal((line + 1, lines[line].IndexOf(column, StringComparison.Ordinal) + 1), (diagnostic.Line, diagnostic.Column));
    }

    [Theory]
    [InlineData("user_orders:amount_p95")]
    [InlineData("user_orders:order_count_1h")]
    public void A_monitor_on_a_percentile_or_a_count_is_accepted(string column) =>
        Assert.True(Load(Repository(column)).Success, string.Join("\n", Load(Repository(column)).Diagnostics));

    [Fact]
    public void A_quality_range_holds_a_count_or_a_percentile_and_refuses_a_list()
    {
        var accepted = Load(Repository("score", "{ order_count_1h: { min: 0, max: 50 }, amount_p95: { max: 10000 } }"));
        Assert.True(accepted.Success, string.Join("\n", accepted.Diagnostics));
        var diagnostic = Assert.Single(Load(Repository("score", "{ recent_amounts: { max: 10 } }")).Diagnostics);
        Assert.Equal("FS0164", diagnostic.Code);
        Assert.Contains("'recent_amounts' of view 'user_orders' is not numeric", diagnostic.Message, StringComparison.Ordinal);
    }
}
