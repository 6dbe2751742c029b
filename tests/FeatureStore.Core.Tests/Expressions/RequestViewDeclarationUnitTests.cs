using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Tests.Expressions;

public sealed class RequestViewDeclarationUnitTests
{
    private static Diagnostic Single(params (string Name, string Type, string Expression)[] features)
    {
        var load = RequestViewFixture.Load(features);
        Assert.False(load.Success);
        return Assert.Single(load.Diagnostics);
    }

    // The line of the first feature's expression in the fixture's text, and its column (after "expression: ").
    private static (int Line, int Column) ExpressionAt()
    {
        var lines = RequestViewFixture.Repository(("f", "double", "MARK")).Split('\n');
        var line = Array.FindIndex(lines, l => l.Contains("MARK", StringComparison.Ordinal));
        return (line + 1, lines[line].IndexOf("MARK", StringComparison.Ordinal) + 1);
    }

    [Fact]
    public void A_valid_request_view_loads_with_its_context_and_features()
    {
        var load = RequestViewFixture.Load(("ratio", "double", "amount / user_orders.amount_sum_1h"), ("big", "int", "amount > 100 ? 1 : 0"));
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        var view = Assert.Single(load.Repository!.RequestViews);
        Assert.Equal("checkout", view.Name);
        Assert.Equal(["amount", "items", "coupon", "express", "placed_at"], view.Context.Select(f => f.Name));
        Assert.Equal(["ratio", "big"], view.Features.Select(f => f.Name));
        Assert.Contains("\"request_views\"", load.Repository.ToCanonicalJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_repository_without_request_views_keeps_its_canonical_form() =>
        Assert.DoesNotContain("request_views", FeatureRepositoryLoader.LoadFromText(Definitions.RepositoryFiles.Minimal, "r.yaml").Repository!.ToCanonicalJson(), StringComparison.Ordinal);

    [Fact]
    public void An_unknown_name_is_reported_at_its_column_with_the_closest_one()
    {
        var d = Single(("f", "double", "amount / amout"));
        var (line, column) = ExpressionAt();
        Assert.Equal(("FS0180", line, column + 9), (d.Code, d.Line, d.Column));
        Assert.Contains("unknown name 'amout'", d.Message, StringComparison.Ordinal);
        Assert.Equal("did you mean 'amount'?", d.Hint);
    }

    [Fact]
    public void An_unknown_function_is_reported_as_one()
    {
        var d = Single(("f", "double", "logg(amount)"));
        Assert.Equal("FS0182", d.Code);
        Assert.Contains("unknown function 'logg'", d.Message, StringComparison.Ordinal);
        Assert.Equal("did you mean 'log'?", d.Hint);
    }

    [Theory]
    [InlineData("amount / user_ordrs.order_count_1h", "unknown feature view 'user_ordrs'")]
    [InlineData("amount / user_orders.order_count_2h", "feature view 'user_orders' has no feature 'order_count_2h'")]
    [InlineData("checkout.g + 1", "request view 'checkout' has no feature 'g'")]
    public void A_reference_to_an_unknown_stored_feature_is_reported(string expression, string message)
    {
        var d = Single(("f", "double", expression));
        Assert.Equal("FS0183", d.Code);
        Assert.Contains(message, d.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("double", "coupon + 1")]
    [InlineData("double", "hour(amount)")]
    [InlineData("double", "amount + coupon")]
    [InlineData("double", "coupon")]
    [InlineData("string", "amount * 2")]
    [InlineData("double", "amount > 2")]
    [InlineData("double", "placed_at")]
    [InlineData("double", "express + 1")]
    [InlineData("double", "amount +")]
    [InlineData("double", "(amount")]
    [InlineData("bool", "amount > 2")]
    [InlineData("timestamp", "placed_at")]
    public void A_type_or_syntax_error_is_reported(string type, string expression)
    {
        var d = Single(("f", type, expression));
        Assert.True(d.Code is "FS0181" or "FS0184", d.ToString());
    }

    [Theory]
    [InlineData("express ? 1 : 0")]
    [InlineData("express && amount > 5 ? 1 : 0")]
    [InlineData("amount > 5 || express ? 1 : 0")]
    public void A_bool_context_field_used_as_a_condition_as_it_is_says_how_to_compare_it(string expression)
    {
        var d = Single(("f", "int", expression));
        Assert.Equal("FS0181", d.Code);
        Assert.Contains("express == true", d.Hint, StringComparison.Ordinal);
        // And the hint's form compiles.
        Assert.True(RequestViewFixture.Load(("f", "int", expression.Replace("express", "(express == true)", StringComparison.Ordinal))).Success);
    }

    [Fact]
    public void A_request_view_named_like_a_feature_view_is_refused()
    {
        var text = RequestViewFixture.Repository(("f", "double", "amount")).Replace("  - name: checkout", "  - name: user_orders", StringComparison.Ordinal);
        var d = Assert.Single(FeatureRepositoryLoader.LoadFromText(text, "r.yaml").Diagnostics);
        Assert.Equal("FS0185", d.Code);
    }

    [Fact]
    public void Two_features_of_one_name_are_refused() => Assert.Equal("FS0100", Single(("f", "double", "amount"), ("f", "double", "items")).Code);

    [Theory]
    [InlineData("\"\".GetType()")]
    [InlineData("coupon.GetType()")]
    [InlineData("System.IO.File.ReadAllText(\"/etc/passwd\")")]
    [InlineData("typeof(string)")]
    [InlineData("new object()")]
    [InlineData("new System.Net.WebClient()")]
    [InlineData("coupon.Length")]
    [InlineData("amount.ToString()")]
    [InlineData("coupon + 1")]
    [InlineData("Environment.Exit(1)")]
    [InlineData("Math.Sqrt(amount)")]
    [InlineData("default(int)")]
    [InlineData("amount = 1")]
    [InlineData("x => x")]
    [InlineData("amount is double")]
    [InlineData("(object)amount")]
    [InlineData("user_orders.order_count_1h.GetType()")]
    [InlineData("log.Method")]
    public void A_hostile_expression_is_refused_at_validation(string expression)
    {
        var load = RequestViewFixture.Load(("f", "double", expression));
        Assert.False(load.Success);
        Assert.All(load.Diagnostics, d => Assert.StartsWith("FS018", d.Code, StringComparison.Ordinal));
    }

    [Fact]
    public void A_one_megabyte_expression_is_refused_before_it_is_parsed()
    {
        var d = Single(("f", "double", string.Concat(Enumerable.Repeat("amount+", 150_000)) + "1"));
        Assert.Equal("FS0184", d.Code);
        Assert.Contains("characters long", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Deep_nesting_is_refused_before_it_is_parsed()
    {
        var d = Single(("f", "double", new string('(', 200) + "amount" + new string(')', 200)));
        Assert.Equal("FS0184", d.Code);
    }

    [Fact]
    public void A_long_chain_of_operators_is_refused_by_depth()
    {
        var d = Single(("f", "double", string.Concat(Enumerable.Repeat("amount+", 200)) + "1"));
        Assert.Equal("FS0184", d.Code);
    }

    [Fact]
    public void A_literal_division_by_zero_is_valid_and_gives_null() =>
        Assert.True(RequestViewFixture.Load(("f", "double", "amount / 0")).Success);
}
