using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Tests.Definitions;

/// <summary>A view's <c>freshness:</c>, <c>quality:</c> and <c>alert:</c>, a source's <c>quality:</c>: read into the records, and each mistake reported where it is.</summary>
public sealed class QualityDeclarationUnitTests
{
    /// <summary>A repository declaring every quality key; tests change one line at a time.</summary>
    private const string Full = """
        project: shop
        entities:
          - name: user
            join_keys: [user_id]
        sources:
          - name: orders
            kafka:
              topic: orders
            timestamp_field: ts
            fields:
              user_id: string
              amount: double
              channel: string
              ts: timestamp
            quality:
              window: 10m
              min_events: 50
              max_dead_letter_rate: 0.01
            alert: pager
        feature_views:
          - name: user_orders
            entity: user
            source: orders
            ttl: 1d
            freshness: 5m
            alert: pager
            quality:
              window: 1m
              min_lookups: 20
              max_not_found_rate: 0.2
              max_outside_ttl_rate: 0.3
              max_null_rate: 0.4
              max_out_of_range_rate: 0.05
              ranges:
                amount_sum: { min: 0, max: 10000 }
                order_count: { min: 0 }
            features:
              - name: order_count
                aggregation: count
                window: 1h
              - name: amount_sum
                aggregation: sum
                field: amount
                window: 1h
              - name: last_channel
                aggregation: last
                field: channel
        alerts:
          webhooks:
            - name: pager
              url: https://alerts.example.com/hook
              secret_env: PAGER_SECRET
        """;

    private static LoadResult Load(string text) => FeatureRepositoryLoader.LoadFromText(text, "repo.yaml");

    private static string Replace(string from, string to)
    {
        Assert.Equal(1, Full.Split(from).Length - 1);
        return Full.Replace(from, to, StringComparison.Ordinal);
    }

    /// <summary>The one diagnostic of <paramref name="text"/>, checked to be <paramref name="code"/> at <paramref name="line"/>:<paramref name="column"/>.</summary>
    private static Diagnostic Single(string text, string code, int line, int column)
    {
        var result = Load(text);
        Assert.Null(result.Repository);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(("repo.yaml", code, line, column), (diagnostic.File, diagnostic.Code, diagnostic.Line, diagnostic.Column));
        Assert.False(string.IsNullOrEmpty(diagnostic.Hint));
        return diagnostic;
    }

    [Fact]
    public void A_full_declaration_is_read_into_the_records()
    {
        var result = Load(Full);
        Assert.Empty(result.Diagnostics);
        var repo = result.Repository!;
        var view = repo.FindView("user_orders")!;
        Assert.Equal((300_000L, "pager"), (view.FreshnessMs, view.Alert));
        var q = view.Quality!;
        Assert.Equal((60_000L, 20L, 0.2, 0.3, 0.4, 0.05), (q.WindowMs, q.MinLookups, q.MaxNotFoundRate, q.MaxOutsideTtlRate, q.MaxNullRate, q.MaxOutOfRangeRate));
        Assert.Equal([new FeatureRange("amount_sum", 0, 10000), new FeatureRange("order_count", 0, null)], q.Ranges);
        var source = repo.FindSource("orders")!;
        Assert.Equal((new SourceQualityDefinition(600_000, 50, 0.01), "pager"), (source.Quality, source.Alert));
    }

    [Fact]
    public void Optional_keys_take_their_documented_defaults()
    {
        var text = Full
            .Replace("      window: 10m\n      min_events: 50\n", "", StringComparison.Ordinal)
            .Replace("      window: 1m\n      min_lookups: 20\n", "", StringComparison.Ordinal)
            .Replace("      max_out_of_range_rate: 0.05\n", "", StringComparison.Ordinal);
        var repo = Load(text).Repository!;
        var q = repo.FeatureViews[0].Quality!;
        Assert.Equal((ViewQualityDefinition.DefaultWindowMs, ViewQualityDefinition.DefaultMinLookups, (double?)0), (q.WindowMs, q.MinLookups, q.MaxOutOfRangeRate));
        Assert.Equal(new SourceQualityDefinition(ViewQualityDefinition.DefaultWindowMs, SourceQualityDefinition.DefaultMinEvents, 0.01), repo.Sources[0].Quality);
    }

    [Fact]
    public void A_repository_without_quality_reads_as_before_and_keeps_its_canonical_form()
    {
        var repo = Load(RepositoryFiles.Minimal).Repository!;
        Assert.All(repo.FeatureViews, v => Assert.Equal((null, null, null), (v.FreshnessMs, v.Quality, v.Alert)));
        Assert.All(repo.Sources, s => Assert.Equal((null, null), (s.Quality, s.Alert)));
        var json = System.Text.Json.Nodes.JsonNode.Parse(repo.ToCanonicalJson())!;
        var items = json["feature_views"]!.AsArray().Concat(json["sources"]!.AsArray()).Select(n => n!.AsObject()).ToList();
        Assert.NotEmpty(items);
        foreach (var key in new[] { "freshness_ms", "quality", "alert" })
        {
            Assert.All(items, item => Assert.False(item.ContainsKey(key), key));
        }
    }

    [Fact]
    public void A_change_to_freshness_or_a_threshold_changes_the_hash()
    {
        var hash = Load(Full).Repository!.ContentHash();
        Assert.NotEqual(hash, Load(Replace("freshness: 5m", "freshness: 6m")).Repository!.ContentHash());
        Assert.NotEqual(hash, Load(Replace("max_null_rate: 0.4", "max_null_rate: 0.5")).Repository!.ContentHash());
        Assert.NotEqual(hash, Load(Replace("max_dead_letter_rate: 0.01", "max_dead_letter_rate: 0.02")).Repository!.ContentHash());
        Assert.NotEqual(hash, Load(Replace("order_count: { min: 0 }", "order_count: { min: 1 }")).Repository!.ContentHash());
    }

    [Fact]
    public void Declaring_or_changing_quality_is_a_change_of_the_view_that_reads_no_event_log_and_rebuilds_nothing()
    {
        var before = Load(Full.Replace("    freshness: 5m\n", "", StringComparison.Ordinal)).Repository!;
        var after = Load(Replace("max_null_rate: 0.4", "max_null_rate: 0.45")).Repository!;
        Assert.Empty(FeaturePlan.Compute(before, after, _ => throw new InvalidOperationException("no log is read"), 0));
        Assert.Empty(FeaturePlan.SourcesToRead(before, after));
        var changes = RepositoryPlan.Compute(before, after).Select(c => c.Detail ?? "").ToList();
        Assert.Contains(changes, c => c.StartsWith("freshness_ms none -> 300000", StringComparison.Ordinal));
        Assert.Contains(changes, c => c.StartsWith("quality ", StringComparison.Ordinal));
    }

    [Fact]
    public void An_alert_to_an_undeclared_webhook_is_reported_at_the_alert()
    {
        var d = Single(Replace("    alert: pager\n    quality:\n      window: 1m", "    alert: pagr\n    quality:\n      window: 1m"), "FS0160", 26, 12);
        Assert.Equal("did you mean 'pager'?; declare it under alerts: webhooks:", d.Hint);
    }

    [Fact]
    public void A_quality_block_that_checks_nothing_is_refused()
    {
        var text = Full.Replace("      max_not_found_rate: 0.2\n      max_outside_ttl_rate: 0.3\n      max_null_rate: 0.4\n      max_out_of_range_rate: 0.05\n      ranges:\n        amount_sum: { min: 0, max: 10000 }\n        order_count: { min: 0 }\n", "", StringComparison.Ordinal);
        Single(text, "FS0161", 28, 7);
        Single(Replace("      max_dead_letter_rate: 0.01\n", ""), "FS0161", 16, 7);
    }

    [Fact]
    public void A_window_outside_ten_seconds_to_a_day_is_refused()
    {
        Assert.Contains("10s..1d", Single(Replace("window: 1m", "window: 5s"), "FS0162", 28, 15).Message, StringComparison.Ordinal);
        Single(Replace("window: 10m", "window: 2d"), "FS0162", 16, 15);
    }

    [Theory]
    [InlineData("max_not_found_rate: 0.2", "max_not_found_rate: 1.5", 30, 27)]
    [InlineData("max_null_rate: 0.4", "max_null_rate: -0.1", 32, 22)]
    [InlineData("max_dead_letter_rate: 0.01", "max_dead_letter_rate: 2", 18, 29)]
    public void A_rate_outside_zero_to_one_is_refused_at_its_value(string from, string to, int line, int column) =>
        Assert.Contains("is not a share in [0, 1]", Single(Replace(from, to), "FS0163", line, column).Message, StringComparison.Ordinal);

    [Fact]
    public void A_range_of_an_unknown_or_non_numeric_feature_is_refused_at_its_name()
    {
        Assert.Equal("did you mean 'amount_sum'?", Single(Replace("amount_sum: { min: 0, max: 10000 }", "amount_sun: { min: 0, max: 10000 }"), "FS0164", 35, 9).Hint);
        Assert.Contains("not numeric", Single(Replace("order_count: { min: 0 }", "last_channel: { min: 0 }"), "FS0164", 36, 9).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_range_is_refused_with_the_bounds_swapped_as_the_hint()
    {
        Assert.Equal("write { min: 10, max: 100 }", Single(Replace("amount_sum: { min: 0, max: 10000 }", "amount_sum: { min: 100, max: 10 }"), "FS0165", 35, 21).Hint);
        Single(Replace("order_count: { min: 0 }", "order_count: {}"), "FS0165", 36, 22);
    }

    [Fact]
    public void An_out_of_range_rate_without_ranges_is_refused()
    {
        var text = Full.Replace("      ranges:\n        amount_sum: { min: 0, max: 10000 }\n        order_count: { min: 0 }\n", "", StringComparison.Ordinal);
        Single(text, "FS0164", 33, 30);
    }

    [Fact]
    public void Unknown_keys_of_a_quality_block_suggest_the_closest()
    {
        Assert.Equal("did you mean 'max_null_rate'?", Single(Replace("max_null_rate: 0.4", "max_nul_rate: 0.4"), "FS0003", 32, 7).Hint);
        Assert.Equal("did you mean 'freshness'?", Single(Replace("freshness: 5m", "freshnes: 5m"), "FS0003", 25, 5).Hint);
    }

    [Fact]
    public void A_freshness_that_is_not_a_duration_is_refused()
    {
        Single(Replace("freshness: 5m", "freshness: soon"), "FS0010", 25, 16);
    }

    [Fact]
    public void Mutated_quality_declarations_give_diagnostics_with_a_line_and_never_throw()
    {
        string[] tokens = [":", "-", "{", "}", "[", "]", "'", "#", "\n", "  ", "~", "1e999", "-1", "0", "NaN", "-inf", "1.5", "ranges", "min", "max", "window", "10s", "0s", "9999d", "pager", "amount_sum"];
        var random = new Random(28);
        var lines = Full.Split('\n').Length;
        for (var i = 0; i < 2_000; i++)
        {
            var text = Full;
            for (var m = 1 + random.Next(3); m > 0; m--)
            {
                var at = random.Next(text.Length);
                text = random.Next(2) == 0
                    ? text.Insert(at, tokens[random.Next(tokens.Length)])
                    : text.Remove(at, Math.Min(1 + random.Next(6), text.Length - at));
            }

            var result = Load(text);
            if (result.Repository is { } repository)
            {
                Assert.All(repository.FeatureViews, v => Assert.All(v.Quality?.Ranges ?? [], r => Assert.False(r.Min > r.Max)));
                continue;
            }

            Assert.NotEmpty(result.Diagnostics);
            Assert.All(result.Diagnostics, d => Assert.InRange(d.Line, 1, lines + 40));
        }
    }
}
