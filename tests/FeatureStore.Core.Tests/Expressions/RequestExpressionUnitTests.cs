using FeatureStore.Core.Expressions;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Tests.Expressions;

public sealed class RequestExpressionUnitTests
{
    private static FeatureValue One(string expression, string type = "double", ContextValue[]? context = null, params FeatureValue[] stored)
    {
        var view = RequestViewFixture.Compile(("f", type, expression));
        var results = new FeatureValue[1];
        view.Evaluate(stored, context ?? RequestViewFixture.Row(), results);
        return results[0];
    }

    [Theory]
    [InlineData("amount * 2 + 1", 21)]
    [InlineData("amount / 4", 2.5)]
    [InlineData("amount % 3", 1)]
    [InlineData("-amount", -10)]
    [InlineData("log(amount)", 2.302585092994046)]
    [InlineData("log1p(amount)", 2.3978952727983707)]
    [InlineData("exp(0)", 1)]
    [InlineData("sqrt(amount + 6)", 4)]
    [InlineData("abs(0 - amount)", 10)]
    [InlineData("round(2.5)", 3)]
    [InlineData("round(-2.5)", -3)]
    [InlineData("floor(2.7)", 2)]
    [InlineData("ceil(2.1)", 3)]
    [InlineData("pow(amount, 2)", 100)]
    [InlineData("min(amount, items)", 2)]
    [InlineData("max(amount, items)", 10)]
    [InlineData("safe_div(amount, 4)", 2.5)]
    [InlineData("coalesce(amount, 0)", 10)]
    [InlineData("length(\"abc\")", 3)]
    [InlineData("amount > 5 ? 1 : 0", 1)]
    [InlineData("amount >= 10 && items < 3 ? 1 : 0", 1)]
    [InlineData("amount == 10 || items == 0 ? 7 : 8", 7)]
    [InlineData("!(amount > 5) ? 1 : 0", 0)]
    [InlineData("express == true ? 1 : 0", 0)]
    [InlineData("amount ?? 4", 10)]
    [InlineData("is_null(coupon) ? 1 : 0", 1)]
    // 2023-11-14T22:13:20Z, a Tuesday.
    [InlineData("year(placed_at)", 2023)]
    [InlineData("month(placed_at)", 11)]
    [InlineData("day(placed_at)", 14)]
    [InlineData("hour(placed_at)", 22)]
    [InlineData("minute(placed_at)", 13)]
    [InlineData("day_of_week(placed_at)", 2)]
    [InlineData("epoch_ms(placed_at)", 1_700_000_000_000)]
    public void Every_operator_and_function_computes_what_it_says(string expression, double expected)
    {
        var value = One(expression);
        Assert.Equal(ValueStatus.Present, value.Status);
        Assert.Equal(expected, value.Double, 12);
    }

    [Theory]
    [InlineData("coalesce(coupon, \"none\")", "none")]
    [InlineData("lower(\"AbC\")", "abc")]
    [InlineData("upper(\"AbC\")", "ABC")]
    [InlineData("amount > 5 ? \"big\" : \"small\"", "big")]
    [InlineData("\"code-\" + coalesce(coupon, \"x\")", "code-x")]
    public void Text_expressions_give_text(string expression, string expected)
    {
        var value = One(expression, "string");
        Assert.Equal(ValueKind.String, value.Kind);
        Assert.Equal(expected, value.Text);
    }

    [Theory]
    [InlineData(9.99, 9)]
    [InlineData(-9.99, -9)]
    public void An_int_feature_truncates_toward_zero(double amount, long expected)
    {
        var value = One("amount", "int", RequestViewFixture.Row(amount: amount));
        Assert.Equal(ValueKind.Int64, value.Kind);
        Assert.Equal(expected, value.Int64);
    }

    [Theory]
    [InlineData("amount / 0")]
    [InlineData("0 / 0")]
    [InlineData("log(0 - 1)")]
    [InlineData("safe_div(amount, 0)")]
    [InlineData("pow(10, 400)")]
    public void A_result_that_is_not_a_finite_number_is_null(string expression)
    {
        var value = One(expression);
        Assert.Equal(ValueStatus.NullValue, value.Status);
        Assert.Equal(ValueKind.None, value.Kind);
    }

    [Fact]
    public void A_missing_stored_value_makes_the_result_null_with_its_status_unless_coalesced()
    {
        var notFound = FeatureValue.Of(0L, null) with { Status = ValueStatus.NotFound };
        Assert.Equal(ValueStatus.NotFound, One("amount / user_orders.order_count_1h", stored: notFound).Status);
        Assert.Equal(ValueStatus.OutsideTtl, One("amount / user_orders.order_count_1h", stored: FeatureValue.Null(ValueStatus.OutsideTtl)).Status);
        Assert.Equal(ValueStatus.NullValue, One("amount / user_orders.order_count_1h", stored: FeatureValue.Null(ValueStatus.NullValue)).Status);

        var handled = One("amount / coalesce(user_orders.order_count_1h, 1)", stored: notFound);
        Assert.Equal((ValueStatus.Present, 10.0), (handled.Status, handled.Double));
    }

    [Fact]
    public void A_building_or_inexact_input_gives_its_status_and_no_value_even_when_coalesced()
    {
        Assert.Equal(ValueStatus.Building, One("coalesce(user_orders.order_count_1h, 1)", stored: FeatureValue.Null(ValueStatus.Building)).Status);
        Assert.Equal(ValueStatus.Inexact, One("coalesce(user_orders.order_count_1h, 1)", stored: FeatureValue.Null(ValueStatus.Inexact)).Status);
    }

    [Fact]
    public void A_present_result_carries_the_newest_event_time_of_what_it_reads()
    {
        var view = RequestViewFixture.Compile(("f", "double", "user_orders.order_count_1h + user_orders.amount_sum_1h"));
        Assert.Equal([("user_orders", "order_count_1h"), ("user_orders", "amount_sum_1h")], view.Dependencies);
        var results = new FeatureValue[1];
        view.Evaluate([FeatureValue.Of(3L, 100), FeatureValue.Of(2.5, 200)], RequestViewFixture.Row(), results);
        Assert.Equal(FeatureValue.Of(5.5, 200), results[0]);
    }

    [Fact]
    public void A_null_context_value_propagates_and_comparisons_with_null_are_false()
    {
        Assert.Equal(ValueStatus.NullValue, One("amount * 2", context: RequestViewFixture.Row(amount: null)).Status);
        Assert.Equal(0, One("amount > 1 ? 1 : 0", context: RequestViewFixture.Row(amount: null)).Double);
        Assert.Equal(1, One("amount == null ? 1 : 0", context: RequestViewFixture.Row(amount: null)).Double);
        Assert.Equal(ValueStatus.NullValue, One("hour(placed_at)", context: RequestViewFixture.Row(placedAt: null)).Status);
    }

    [Fact]
    public void A_text_stored_feature_reads_as_text()
    {
        var value = One("coalesce(user_orders.last_note, \"-\")", "string", null, FeatureValue.Of("gift", 5));
        Assert.Equal("gift", value.Text);
    }

    [Fact]
    public void Evaluation_allocates_nothing_for_a_number()
    {
        var view = RequestViewFixture.Compile(("a", "double", "amount / coalesce(user_orders.order_count_1h, 1)"), ("b", "double", "log1p(amount) + hour(placed_at)"));
        var stored = new[] { FeatureValue.Of(3L, 100) };
        var context = RequestViewFixture.Row();
        var results = new FeatureValue[2];
        view.Evaluate(stored, context, results);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            view.Evaluate(stored, context, results);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
