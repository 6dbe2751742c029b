using FeatureStore.Core.Definitions;
using FeatureStore.Core.Tests.Definitions;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Tests.Windows;

/// <summary>
/// last_n and last_n_distinct of an int field answer integers (not doubles), through the compiled view that
/// lookups and exports both use; the state is the same as over a double field, so its shape does not change.
/// </summary>
public sealed class IntListUnitTests
{
    private const long Hour = 3_600_000;

    private static string Repository(string fieldKind) => RepositoryFiles.Minimal
        .Replace("      note: string\n", $"      note: string\n      quantity: {fieldKind}\n", StringComparison.Ordinal)
        .Replace(
            "      - name: amount_sum_1h\n",
            "      - { name: last_quantities, aggregation: last_n, n: 3, field: quantity, window: 1h }\n"
            + "      - { name: distinct_quantities, aggregation: last_n_distinct, n: 3, field: quantity }\n"
            + "      - { name: top_quantities, aggregation: top_k, k: 2, field: quantity }\n"
            + "      - name: amount_sum_1h\n",
            StringComparison.Ordinal);

    private static CompiledRepository Compile(string fieldKind)
    {
        var load = FeatureRepositoryLoader.LoadFromText(Repository(fieldKind), "repo.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        return CompiledRepository.Compile(load.Repository!);
    }

    [Fact]
    public void Last_n_and_last_n_distinct_of_an_int_field_answer_int64_lists_newest_first()
    {
        var view = Compile("int").FindView("user_orders")!;
        var features = view.Groups.SelectMany(g => g.Features).Where(f => f.Kind is AggregationKind.LastN or AggregationKind.LastNDistinct).ToList();
        Assert.Equal(2, features.Count);
        Assert.All(features, f => Assert.True(f.IntValued && !f.TextValued));

        var state = new ViewWindowState([.. view.Features], 2 * Hour);
        long[] quantities = [3, -7, 4_503_599_627_370_497, 3, 0];
        var inputs = new FeatureInput[view.Features.Count];
        for (var i = 0; i < quantities.Length; i++)
        {
            Array.Fill(inputs, FeatureInput.OfNumber(quantities[i]));
            state.Add(i * 1000, i, inputs);
        }

        var values = new FeatureValue[view.Features.Count];
        state.Evaluate(10_000, values);
        var last = values[view.IndexOf("last_quantities")];
        var distinct = values[view.IndexOf("distinct_quantities")];
        Assert.Equal(ValueKind.Int64List, last.Kind);
        Assert.Equal([0L, 3, 4_503_599_627_370_497], last.Int64s!);
        Assert.Equal([0L, 3, 4_503_599_627_370_497], distinct.Int64s!);
        Assert.Null(last.Doubles);
        Assert.Equal("[0,3,4503599627370497]", last.ToJson());

        // top_k's values are texts in every case: an integer reads without a fraction.
        Assert.Equal([new ValueCount("3", 2), new ValueCount("-7", 1)], values[view.IndexOf("top_quantities")].Counts!);
    }

    [Fact]
    public void Over_a_double_field_the_lists_stay_doubles_and_the_state_has_the_same_shape()
    {
        var ints = Compile("int");
        var doubles = Compile("double");
        var view = doubles.FindView("user_orders")!;
        Assert.All(view.Features, f => Assert.False(f.IntValued));
        var state = new ViewWindowState([.. view.Features], 2 * Hour);
        var inputs = new FeatureInput[view.Features.Count];
        Array.Fill(inputs, FeatureInput.OfNumber(2.5));
        state.Add(1, 1, inputs);
        var values = new FeatureValue[view.Features.Count];
        state.Evaluate(10, values);
        Assert.Equal([2.5], values[view.IndexOf("last_quantities")].Doubles!);

        // A field turned from double to int keeps its state: only the answer's type follows the field.
        Assert.Equal(
            StateLayout.ClassicSignature(doubles.Repository.FeatureViews[0]),
            StateLayout.ClassicSignature(ints.Repository.FeatureViews[0]));
    }

    [Fact]
    public void Integers_beyond_the_range_of_long_saturate_rather_than_wrap()
    {
        Assert.Equal(long.MaxValue, RecentValues.ToInt64(1e300));
        Assert.Equal(long.MinValue, RecentValues.ToInt64(-1e300));
        Assert.Equal(0, RecentValues.ToInt64(double.NaN));
        Assert.Equal(-5, RecentValues.ToInt64(-5));
    }
}
