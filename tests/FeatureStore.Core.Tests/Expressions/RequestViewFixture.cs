using FeatureStore.Core.Definitions;
using FeatureStore.Core.Expressions;
using FeatureStore.Core.Tests.Definitions;

namespace FeatureStore.Core.Tests.Expressions;

/// <summary>The minimal repository with a text feature and a request view whose features the tests write.</summary>
internal static class RequestViewFixture
{
    public const string Context = """
        request_views:
          - name: checkout
            context:
              amount: double
              items: int
              coupon: string
              express: bool
              placed_at: timestamp
            features:

        """;

    /// <summary>The repository text with one request-time feature per (name, type, expression).</summary>
    public static string Repository(params (string Name, string Type, string Expression)[] features)
    {
        var block = Context + string.Concat(features.Select(f => $"      - name: {f.Name}\n        type: {f.Type}\n        expression: '{f.Expression.Replace("'", "''", StringComparison.Ordinal)}'\n"));
        return RepositoryFiles.Minimal
            .Replace("        hop: 10m\n", "        hop: 10m\n      - name: last_note\n        aggregation: last\n        field: note\n", StringComparison.Ordinal)
            .Replace("models:\n", block + "models:\n", StringComparison.Ordinal);
    }

    public static LoadResult Load(params (string Name, string Type, string Expression)[] features) =>
        FeatureRepositoryLoader.LoadFromText(Repository(features), "repo.yaml");

    /// <summary>The request view compiled, failing the test with the diagnostics when it does not load.</summary>
    public static CompiledRequestView Compile(params (string Name, string Type, string Expression)[] features)
    {
        var load = Load(features);
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        return CompiledRepository.Compile(load.Repository!).FindRequestView("checkout")!;
    }

    /// <summary>A context in the fixture's order: amount, items, coupon, express, placed_at.</summary>
    public static ContextValue[] Row(double? amount = 10, double? items = 2, string? coupon = null, bool? express = false, long? placedAt = 1_700_000_000_000) =>
    [
        amount is { } a ? ContextValue.Of(a) : ContextValue.Null,
        items is { } i ? ContextValue.Of(i) : ContextValue.Null,
        coupon is { } c ? ContextValue.Of(c) : ContextValue.Null,
        express is { } e ? ContextValue.Of(e) : ContextValue.Null,
        placedAt is { } p ? ContextValue.Instant(p) : ContextValue.Null,
    ];
}
