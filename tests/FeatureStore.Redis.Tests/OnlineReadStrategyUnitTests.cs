using FeatureStore.Redis.Online;

namespace FeatureStore.Redis.Tests;

/// <summary>How lookups choose to read the store: by its kind when left to it, as asked otherwise, never by a strategy it refuses.</summary>
public sealed class OnlineReadStrategyUnitTests
{
    [Fact]
    public void Auto_pipelines_on_a_cluster_scripts_on_a_single_server_and_waits_while_the_store_is_unknown()
    {
        Assert.Equal(OnlineReadStrategy.Pipeline, OnlineStateReader.Choose(OnlineReadStrategy.Auto, cluster: true));
        Assert.Equal(OnlineReadStrategy.Script, OnlineStateReader.Choose(OnlineReadStrategy.Auto, cluster: false));
        Assert.Equal(OnlineReadStrategy.Auto, OnlineStateReader.Choose(OnlineReadStrategy.Auto, cluster: null));
    }

    [Theory]
    [InlineData(OnlineReadStrategy.Script, false)]
    [InlineData(OnlineReadStrategy.Script, null)]
    [InlineData(OnlineReadStrategy.Transaction, false)]
    [InlineData(OnlineReadStrategy.Transaction, null)]
    [InlineData(OnlineReadStrategy.Pipeline, false)]
    [InlineData(OnlineReadStrategy.Pipeline, true)]
    [InlineData(OnlineReadStrategy.Pipeline, null)]
    public void A_strategy_asked_for_is_kept_where_the_store_can_run_it(OnlineReadStrategy requested, bool? cluster) =>
        Assert.Equal(requested, OnlineStateReader.Choose(requested, cluster));

    [Theory]
    [InlineData(OnlineReadStrategy.Script, "script")]
    [InlineData(OnlineReadStrategy.Transaction, "transaction")]
    public void A_single_command_strategy_on_a_cluster_is_refused_with_the_way_out(OnlineReadStrategy requested, string name)
    {
        var refused = Assert.Throws<NotSupportedException>(() => OnlineStateReader.Choose(requested, cluster: true));
        Assert.StartsWith($"the read strategy {name} reads every key of a lookup in one command, which Redis Cluster refuses across slots", refused.Message, StringComparison.Ordinal);
        Assert.Contains("use pipeline (or auto", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_outside_the_strategies_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => OnlineStateReader.Choose((OnlineReadStrategy)42, cluster: false));
}
