using System.Text;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Expressions;
using FeatureStore.Core.Tests.Definitions;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Tests.Expressions;

/// <summary>
/// Request-time features that read other request-time features, of their own view or of another: evaluated in a
/// dependency order whatever the declared one, the statuses carried through, the context of the views read taken
/// too; and refused with file:line:column when they read each other in a cycle (a self reference, a long cycle,
/// two views reading each other), read a list, or read a feature that does not exist.
/// </summary>
public sealed class RequestFeatureReadsUnitTests
{
    // Two request views over the minimal repository: `checkout` reads `basket`, and itself.
    private static string Repository(string views) => RepositoryFiles.Minimal
        .Replace("        hop: 10m\n", "        hop: 10m\n      - { name: recent_amounts, aggregation: last_n, n: 3, field: amount }\n", StringComparison.Ordinal)
        .Replace("models:\n", "request_views:\n" + views + "models:\n", StringComparison.Ordinal);

    private const string TwoViews = """
          - name: checkout
            context:
              amount: double
            features:
              - { name: doubled_share, type: double, expression: 'checkout.share * 2' }
              - { name: share, type: double, expression: 'amount / basket.total' }
              - { name: label, type: string, expression: 'basket.kind + ":" + (checkout.share > 0.5 ? "big" : "small")' }
          - name: basket
            context:
              items: int
              coupon: string
            features:
              - { name: total, type: double, expression: 'items * 10 + coalesce(user_orders.amount_sum_1h, 0)' }
              - { name: kind, type: string, expression: 'coalesce(coupon, "none")' }

        """;

    private static LoadResult Load(string views) => FeatureRepositoryLoader.LoadFromText(Repository(views), "repo.yaml");

    // The 1-based line and column of the first occurrence of <paramref name="text"/> in the repository of <paramref name="views"/>.
    private static (int Line, int Column) Where(string views, string text)
    {
        var lines = Repository(views).Split('\n');
        var line = Array.FindIndex(lines, l => l.Contains(text, StringComparison.Ordinal));
        return (line + 1, lines[line].IndexOf(text, StringComparison.Ordinal) + 1);
    }

    private static CompiledRepository Compile(string views)
    {
        var load = Load(views);
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        return CompiledRepository.Compile(load.Repository!);
    }

    [Fact]
    public void A_feature_reads_features_of_its_own_view_and_of_another_in_dependency_order()
    {
        var checkout = Compile(TwoViews).FindRequestView("checkout")!;
        Assert.Equal(["basket"], checkout.Reads);
        Assert.Equal(["amount", "items", "coupon"], checkout.Context.Select(c => c.Name));
        Assert.Equal([("user_orders", "amount_sum_1h")], checkout.Dependencies);

        var results = new FeatureValue[3];
        checkout.Evaluate([FeatureValue.Of(20.0, 1_000L)], [ContextValue.Of(30), ContextValue.Of(1), ContextValue.Null], results);
        Assert.Equal(FeatureValue.Of(1.0, 1_000L), results[1]); // 30 / (1 * 10 + 20)
        Assert.Equal(FeatureValue.Of(2.0, 1_000L), results[0]);
        Assert.Equal(FeatureValue.Of("none:big", 1_000L), results[2]);
    }

    [Fact]
    public void A_status_travels_through_the_features_that_read_it()
    {
        var checkout = Compile(TwoViews).FindRequestView("checkout")!;
        var results = new FeatureValue[3];

        // No stored sum: total still counts the items (coalesce), so every feature has a value with no event time.
        checkout.Evaluate([FeatureValue.Null(ValueStatus.NotFound)], [ContextValue.Of(5), ContextValue.Of(1), ContextValue.Of("SAVE")], results);
        Assert.Equal(FeatureValue.Of(0.5, null), results[1]);
        Assert.Equal("SAVE:small", results[2].Text);

        // No items: total is null and reads NOT_FOUND (the first value it reads that is not present), and so does
        // every feature that reads it, however far, unless it has a value all the same (a comparison with null is false).
        checkout.Evaluate([FeatureValue.Null(ValueStatus.NotFound)], [ContextValue.Of(5), ContextValue.Null, ContextValue.Null], results);
        Assert.Equal([ValueStatus.NotFound, ValueStatus.NotFound], results[..2].Select(v => v.Status));
        Assert.Equal(FeatureValue.Of("none:small", null), results[2]);

        // A stored value still being built makes every feature reading it, directly or not, BUILDING.
        checkout.Evaluate([FeatureValue.Null(ValueStatus.Building)], [ContextValue.Of(5), ContextValue.Of(1), ContextValue.Null], results);
        Assert.All(results, v => Assert.Equal((ValueStatus.Building, ValueKind.None), (v.Status, v.Kind)));
    }

    [Fact]
    public void A_chain_of_two_hundred_features_declared_last_first_loads_and_evaluates()
    {
        var views = new StringBuilder("  - name: chain\n    context:\n      amount: double\n    features:\n");
        for (var i = 199; i >= 1; i--)
        {
            views.Append("      - { name: f").Append(i).Append(", type: double, expression: 'chain.f").Append(i - 1).Append(" + 1' }\n");
        }

        views.Append("      - { name: f0, type: double, expression: amount }\n");
        var chain = Compile(views.ToString()).FindRequestView("chain")!;
        var results = new FeatureValue[200];
        chain.Evaluate([], [ContextValue.Of(0.5)], results);
        Assert.Equal(199.5, results[0].Double); // f199, declared first
        Assert.Equal(0.5, results[199].Double);
    }

    [Fact]
    public void A_feature_reading_itself_is_refused_at_the_reference()
    {
        const string Views = """
              - name: checkout
                context:
                  amount: double
                features:
                  - { name: loop, type: double, expression: 'amount + checkout.loop' }

            """;
        var diagnostic = Assert.Single(Load(Views).Diagnostics);
        Assert.Equal("FS0186", diagnostic.Code);
        Assert.Contains("checkout.loop reads itself", diagnostic.Message, StringComparison.Ordinal);
        Assert.Equal(Where(Views, "checkout.loop"), (diagnostic.Line, diagnostic.Column));
    }

    [Fact]
    public void A_cycle_of_three_features_across_two_views_names_every_step()
    {
        var load = Load("""
              - name: a
                features:
                  - { name: x, type: double, expression: 'a.y + 1' }
                  - { name: y, type: double, expression: 'a.x + 1' }
                  - { name: fine, type: double, expression: '1' }

            """);
        var diagnostic = Assert.Single(load.Diagnostics, d => d.Code == "FS0186");
        Assert.Contains("a.x -> a.y -> a.x", diagnostic.Message, StringComparison.Ordinal);
        Assert.Null(load.Repository);
    }

    [Fact]
    public void A_cycle_of_two_hundred_features_is_refused_without_exhausting_the_stack()
    {
        var views = new StringBuilder("  - name: ring\n    features:\n");
        for (var i = 0; i < 200; i++)
        {
            views.Append("      - { name: f").Append(i).Append(", type: double, expression: 'ring.f").Append((i + 1) % 200).Append(" + 1' }\n");
        }

        var load = Load(views.ToString());
        var diagnostic = Assert.Single(load.Diagnostics);
        Assert.Equal("FS0186", diagnostic.Code);
        Assert.Contains("ring.f0 -> ring.f1 -> ", diagnostic.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_views_reading_each_other_are_refused_even_without_a_cycle_of_features()
    {
        var load = Load("""
              - name: a
                features:
                  - { name: x, type: double, expression: '1' }
                  - { name: y, type: double, expression: 'b.z + 1' }
              - name: b
                features:
                  - { name: z, type: double, expression: 'a.x + 1' }

            """);
        var diagnostic = Assert.Single(load.Diagnostics);
        Assert.Equal("FS0186", diagnostic.Code);
        Assert.Contains("request views read each other", diagnostic.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Views_giving_one_context_field_two_types_are_refused()
    {
        var load = Load("""
              - name: a
                context:
                  amount: double
                features:
                  - { name: x, type: double, expression: 'amount + b.y' }
              - name: b
                context:
                  amount: string
                features:
                  - { name: y, type: double, expression: 'length(amount)' }

            """);
        var diagnostic = Assert.Single(load.Diagnostics);
        Assert.Equal("FS0187", diagnostic.Code);
        Assert.Contains("context field 'amount' is string", diagnostic.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("checkout.nope + 1", "FS0183", "nope")]
    [InlineData("user_orders.recent_amounts + 1", "FS0188", "user_orders.recent")]
    [InlineData("nowhere.x + 1", "FS0183", "nowhere")]
    public void Reading_an_unknown_request_feature_or_a_list_is_refused_at_its_position(string expression, string code, string at)
    {
        var views = "  - name: checkout\n    features:\n      - { name: x, type: double, expression: '" + expression + "' }\n";
        var diagnostic = Assert.Single(Load(views).Diagnostics);
        Assert.Equal(code, diagnostic.Code);
        Assert.Equal(Where(views, at), (diagnostic.Line, diagnostic.Column));
    }

    [Fact]
    public void A_model_version_may_list_request_time_features_beside_stored_ones()
    {
        var text = Repository(TwoViews).Replace("features: [user_orders:order_count_1h]", "features: [user_orders:order_count_1h, checkout:share, basket]", StringComparison.Ordinal);
        var load = FeatureRepositoryLoader.LoadFromText(text, "repo.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        Assert.Equal(["user_orders:order_count_1h", "checkout:share", "basket:total", "basket:kind"], load.Repository!.Models[0].Versions[0].Features);
    }

    [Theory]
    [InlineData("checkout:nope", "request view 'checkout' has no feature 'nope'")]
    [InlineData("checkot:share", "unknown feature view 'checkot'")]
    public void A_model_listing_an_unknown_request_time_feature_is_refused_at_the_reference(string reference, string message)
    {
        var text = Repository(TwoViews).Replace("features: [user_orders:order_count_1h]", $"features: [user_orders:order_count_1h, {reference}]", StringComparison.Ordinal);
        var diagnostic = Assert.Single(FeatureRepositoryLoader.LoadFromText(text, "repo.yaml").Diagnostics);
        Assert.Equal("FS0120", diagnostic.Code);
        Assert.Contains(message, diagnostic.Message, StringComparison.Ordinal);
        var lines = text.Split('\n');
        var line = Array.FindIndex(lines, l => l.Contains(reference, StringComparison.Ordinal));
        Assert.Equal((line + 1, lines[line].IndexOf(reference, StringComparison.Ordinal) + 1), (diagnostic.Line, diagnostic.Column));
        if (reference.StartsWith("checkot", StringComparison.Ordinal))
        {
            Assert.Contains("checkout", diagnostic.Hint, StringComparison.Ordinal);
        }
    }
}
