using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Tests.Definitions;

/// <summary>apply's plan shows request views like feature views: added, changed (context, description) and removed, and their features one by one.</summary>
public sealed class RequestViewPlanUnitTests
{
    private const string Views = """
        request_views:
          - name: checkout
            context:
              amount: double
            features:
              - { name: doubled, type: double, expression: amount * 2 }
              - { name: tripled, type: double, expression: amount * 3 }

        """;

    private static FeatureRepository Load(string text)
    {
        var load = FeatureRepositoryLoader.LoadFromText(text, "repo.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        return load.Repository!;
    }

    private static FeatureRepository With(string views) => Load(RepositoryFiles.Minimal.Replace("models:\n", views + "models:\n", StringComparison.Ordinal));

    [Fact]
    public void Adding_changing_and_removing_request_views_and_their_features_are_planned_item_by_item()
    {
        var none = Load(RepositoryFiles.Minimal);
        var first = With(Views);
        Assert.Contains("+ request_view checkout", RepositoryPlan.Compute(none, first).Select(c => c.ToString()));

        var changed = With(Views
            .Replace("amount: double", "amount: int", StringComparison.Ordinal)
            .Replace("amount * 3", "amount * 4", StringComparison.Ordinal)
            .Replace("      - { name: doubled, type: double, expression: amount * 2 }\n", "      - { name: halved, type: double, expression: amount / 2 }\n", StringComparison.Ordinal));
        var plan = RepositoryPlan.Compute(first, changed).Select(c => c.ToString()).ToList();
        Assert.Contains(plan, c => c.StartsWith("~ request_view checkout context ", StringComparison.Ordinal) && c.Contains("int", StringComparison.Ordinal));
        Assert.Contains("+ request_feature checkout:halved", plan);
        Assert.Contains("- request_feature checkout:doubled", plan);
        Assert.Contains("~ request_feature checkout:tripled expression \"amount * 3\" -> \"amount * 4\"", plan);

        Assert.Equal(["- request_view checkout"], RepositoryPlan.Compute(first, none).Select(c => c.ToString()));
        Assert.Empty(RepositoryPlan.Compute(first, With(Views)));
    }
}
