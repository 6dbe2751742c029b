using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Tests.Definitions;

/// <summary>A model's <c>labels:</c>, <c>performance:</c> and segmented monitors: read into the records, and each mistake reported where it is.</summary>
public sealed class PerformanceDeclarationUnitTests
{
    /// <summary>A repository declaring every key of labels and performance monitors; tests change one line at a time.</summary>
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
              ts: timestamp
        feature_views:
          - name: user_orders
            entity: user
            source: orders
            ttl: 1d
            features:
              - name: order_count_1h
                aggregation: count
                window: 1h
        models:
          - name: fraud
            prediction:
              topic: predictions
              id_field: prediction_id
              timestamp_field: event_time
              fields: { prediction_id: string, score: double, amount: int, merchant_category: string, is_new: bool, event_time: timestamp }
            labels:
              topic: labels
              dead_letter_topic: labels.bad
              id_field: prediction_id
              label_field: is_fraud
              timestamp_field: labelled_at
              horizon: 7d
              coverage: 0.95
            performance:
              - task: binary_classification
                score: score
                threshold: 0.4
                window: 1h
                metrics:
                  - { metric: roc_auc, min: 0.80 }
                  - { metric: roc_auc, max_drop: 0.05 }
                  - { metric: log_loss, max: 0.6 }
                estimate: true
                segment_by: merchant_category
                segments: 12
                min_samples: 200
                alert: pager
              - task: regression
                score: amount
                window: 1d
                metrics:
                  - { metric: mae, max: 10, max_drop: 2 }
            versions:
              - version: v1
                features: [user_orders:order_count_1h]
            monitors:
              - column: score
                methods: [psi]
                window: { count: 1000 }
                segment_by: is_new
                segments: 3
        alerts:
          webhooks:
            - name: pager
              url: https://alerts.example.com/hook
              secret_env: PAGER_SECRET
        """;

    private static LoadResult Load(string text) => FeatureRepositoryLoader.LoadFromText(text, "repo.yaml");

    private static string Replace(string from, string to)
    {
        Assert.Equal(1, CountOf(Full, from));
        return Full.Replace(from, to, StringComparison.Ordinal);
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
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
        var model = result.Repository!.FindModel("fraud")!;

        Assert.Equal("prediction_id", model.Prediction.IdField);
        Assert.Equal(new LabelsDefinition("labels", "labels.bad", "prediction_id", "is_fraud", "labelled_at", 7 * 86_400_000L, 0.95), model.Labels);

        Assert.Equal(2, model.PerformanceMonitors.Count);
        var classifier = model.PerformanceMonitors[0];
        Assert.Equal(
            (PerformanceTask.BinaryClassification, "score", 0.4, 3_600_000L, true, "merchant_category", 12, 200, "pager"),
            (classifier.Task, classifier.ScoreField, classifier.DecisionThreshold, classifier.WindowMs, classifier.Estimate, classifier.SegmentBy, classifier.Segments, classifier.MinSamples, classifier.Alert));
        Assert.Equal(
            [new MetricThreshold("roc_auc", 0.80, null, null), new MetricThreshold("roc_auc", null, null, 0.05), new MetricThreshold("log_loss", null, 0.6, null)],
            classifier.Thresholds);

        // A regressor's defaults: no estimate, the default segments and min_samples, no alert.
        var regressor = model.PerformanceMonitors[1];
        Assert.Equal(
            (PerformanceTask.Regression, "amount", 86_400_000L, false, (string?)null, 10, 100, (string?)null),
            (regressor.Task, regressor.ScoreField, regressor.WindowMs, regressor.Estimate, regressor.SegmentBy, regressor.Segments, regressor.MinSamples, regressor.Alert));
        Assert.Equal([new MetricThreshold("mae", null, 10, 2)], regressor.Thresholds);

        var monitor = Assert.Single(model.Monitors);
        Assert.Equal(("is_new", 3), (monitor.SegmentBy, monitor.Segments));
    }

    [Fact]
    public void Optional_keys_take_their_documented_defaults()
    {
        var text = Full
            .Replace("      dead_letter_topic: labels.bad\n", "", StringComparison.Ordinal)
            .Replace("      timestamp_field: labelled_at\n", "", StringComparison.Ordinal)
            .Replace("      coverage: 0.95\n", "", StringComparison.Ordinal)
            .Replace("        threshold: 0.4\n", "", StringComparison.Ordinal)
            .Replace("        estimate: true\n        segment_by: merchant_category\n        segments: 12\n        min_samples: 200\n        alert: pager\n", "", StringComparison.Ordinal)
            .Replace("        metrics:\n          - { metric: mae, max: 10, max_drop: 2 }\n", "", StringComparison.Ordinal)
            .Replace("        segments: 3\n", "", StringComparison.Ordinal);
        var result = Load(text);
        Assert.Empty(result.Diagnostics);
        var model = result.Repository!.Models[0];

        Assert.Equal(new LabelsDefinition("labels", "labels.dlq", "prediction_id", "is_fraud", null, 7 * 86_400_000L, null), model.Labels);
        var classifier = model.PerformanceMonitors[0];
        Assert.Equal((0.5, true, (string?)null, 10, 100, (string?)null), (classifier.DecisionThreshold, classifier.Estimate, classifier.SegmentBy, classifier.Segments, classifier.MinSamples, classifier.Alert));
        Assert.Empty(model.PerformanceMonitors[1].Thresholds);
        Assert.Equal(("is_new", 10), (model.Monitors[0].SegmentBy, model.Monitors[0].Segments));
    }

    [Fact]
    public void A_repository_without_labels_reads_as_before_and_keeps_its_canonical_form()
    {
        var repo = Load(RepositoryFiles.Minimal).Repository!;
        var model = repo.Models[0];
        Assert.Equal((null, null, null), (model.Prediction.IdField, model.Labels, model.Performance));
        Assert.Equal((null, 10), (model.Monitors[0].SegmentBy, model.Monitors[0].Segments));
        var json = repo.ToCanonicalJson();
        foreach (var key in new[] { "id_field", "labels", "performance", "segment_by", "segments" })
        {
            Assert.DoesNotContain($"\"{key}\"", json, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_change_to_labels_or_a_performance_monitor_changes_the_hash()
    {
        var hash = Load(Full).Repository!.ContentHash();
        Assert.NotEqual(hash, Load(Replace("horizon: 7d", "horizon: 8d")).Repository!.ContentHash());
        Assert.NotEqual(hash, Load(Replace("max_drop: 0.05", "max_drop: 0.06")).Repository!.ContentHash());
        Assert.NotEqual(hash, Load(Replace("segments: 3", "segments: 4")).Repository!.ContentHash());
    }

    [Fact]
    public void Unknown_keys_of_labels_and_performance_monitors_suggest_the_closest()
    {
        Assert.Equal("did you mean 'horizon'?", Single(Replace("      horizon: 7d", "      horizn: 7d"), "FS0003", 36, 7).Hint);
        Assert.Equal("did you mean 'estimate'?", Single(Replace("        estimate: true", "        estimates: true"), "FS0003", 47, 9).Hint);
        Assert.Equal("did you mean 'max_drop'?", Single(Replace("max_drop: 0.05", "maxdrop: 0.05"), "FS0003", 45, 32).Hint);
    }

    [Fact]
    public void A_required_key_of_labels_is_named_at_the_labels()
    {
        var d = Single(Replace("      horizon: 7d\n", ""), "FS0004", 31, 7);
        Assert.Contains("'horizon'", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Performance_without_labels_is_an_error()
    {
        var text = Full[..Full.IndexOf("    labels:\n", StringComparison.Ordinal)] + Full[Full.IndexOf("    performance:\n", StringComparison.Ordinal)..];
        Assert.Contains("labels", Single(text, "FS0131", 31, 7).Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Labels_without_the_prediction_id_field_is_an_error() =>
        Assert.Contains("id_field", Single(Replace("      topic: predictions\n      id_field: prediction_id\n", "      topic: predictions\n"), "FS0130", 30, 7).Hint, StringComparison.Ordinal);

    [Fact]
    public void The_prediction_id_field_must_be_a_prediction_field() =>
        Assert.StartsWith("did you mean 'prediction_id'?", Single(Replace("id_field: prediction_id\n      timestamp_field: event_time", "id_field: prediction_ident\n      timestamp_field: event_time"), "FS0132", 27, 17).Hint, StringComparison.Ordinal);

    [Fact]
    public void The_labels_topic_must_not_be_the_prediction_topic() =>
        Single(Replace("      topic: labels\n", "      topic: predictions\n"), "FS0133", 31, 14);

    [Fact]
    public void The_horizon_must_be_a_positive_duration()
    {
        Single(Replace("horizon: 7d", "horizon: 0d"), "FS0010", 36, 16);
        Single(Replace("horizon: 7d", "horizon: -1d"), "FS0010", 36, 16);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1.5")]
    [InlineData("-0.1")]
    public void Coverage_must_be_a_share_in_zero_to_one(string coverage) =>
        Assert.Contains(coverage, Single(Replace("coverage: 0.95", $"coverage: {coverage}"), "FS0134", 37, 17).Message, StringComparison.Ordinal);

    [Fact]
    public void Coverage_of_one_is_allowed() =>
        Assert.Equal(1.0, Load(Replace("coverage: 0.95", "coverage: 1")).Repository!.Models[0].Labels!.Coverage);

    [Fact]
    public void The_task_must_be_known() =>
        Assert.Equal("did you mean 'binary_classification'?", Single(Replace("task: binary_classification", "task: binary_clasification"), "FS0138", 39, 15).Hint);

    [Fact]
    public void The_score_must_be_a_numeric_prediction_field()
    {
        Assert.Contains("must be a number", Single(Replace("        score: score\n", "        score: merchant_category\n"), "FS0135", 40, 16).Message, StringComparison.Ordinal);
        Assert.Equal("did you mean 'score'?", Single(Replace("        score: score\n", "        score: scor\n"), "FS0135", 40, 16).Hint);
        Assert.True(Load(Replace("        score: amount\n", "        score: score\n")).Success); // int and double both count
    }

    [Fact]
    public void Segment_by_must_be_a_string_or_bool_prediction_field()
    {
        Assert.Contains("it is double", Single(Replace("segment_by: merchant_category", "segment_by: score"), "FS0136", 48, 21).Message, StringComparison.Ordinal);
        Assert.Equal("did you mean 'merchant_category'?", Single(Replace("segment_by: merchant_category", "segment_by: merchant_categry"), "FS0136", 48, 21).Hint);
        Single(Replace("segment_by: is_new", "segment_by: amount"), "FS0136", 64, 21); // a drift monitor's too
    }

    [Fact]
    public void Segments_must_be_between_one_and_a_thousand_and_need_segment_by()
    {
        Single(Replace("segments: 12", "segments: 1001"), "FS0137", 49, 19);
        Single(Replace("segments: 12", "segments: 0"), "FS0125", 49, 19);
        Single(Replace("        segment_by: is_new\n", ""), "FS0137", 64, 19);
        Assert.Equal(1000, Load(Replace("segments: 12", "segments: 1000")).Repository!.Models[0].PerformanceMonitors[0].Segments);
    }

    [Fact]
    public void A_metric_must_be_one_of_the_task()
    {
        Assert.Equal("did you mean 'roc_auc'?", Single(Replace("{ metric: roc_auc, min: 0.80 }", "{ metric: roc_acu, min: 0.80 }"), "FS0139", 44, 23).Hint);
        var classifierMetric = Single(Replace("{ metric: mae, max: 10, max_drop: 2 }", "{ metric: f1, max: 10, max_drop: 2 }"), "FS0139", 56, 23);
        Assert.Equal("'f1' is not a metric of regression", classifierMetric.Message);
        Assert.Equal("the metrics of regression: mae, rmse, mape, r2", classifierMetric.Hint);
    }

    [Fact]
    public void A_metric_threshold_needs_a_bound()
    {
        var d = Single(Replace("{ metric: log_loss, max: 0.6 }", "{ metric: log_loss }"), "FS0140", 46, 13);
        Assert.Contains("'log_loss'", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_negative_max_drop_is_an_error() =>
        Single(Replace("max_drop: 0.05", "max_drop: -0.05"), "FS0140", 45, 42);

    [Fact]
    public void A_min_above_the_max_is_an_error() =>
        Single(Replace("{ metric: log_loss, max: 0.6 }", "{ metric: log_loss, min: 0.7, max: 0.6 }"), "FS0140", 46, 48);

    [Fact]
    public void A_regression_takes_neither_an_estimate_nor_a_decision_threshold()
    {
        Assert.Contains("classifiers", Single(Replace("        window: 1d\n", "        window: 1d\n        estimate: true\n"), "FS0141", 55, 19).Message, StringComparison.Ordinal);
        Single(Replace("        window: 1d\n", "        window: 1d\n        threshold: 0.5\n"), "FS0141", 55, 20);
        Assert.True(Load(Replace("        window: 1d\n", "        window: 1d\n        estimate: false\n")).Success);
    }

    [Fact]
    public void A_decision_threshold_is_within_zero_and_one() =>
        Single(Replace("threshold: 0.4", "threshold: 1.4"), "FS0142", 41, 20);

    [Fact]
    public void Estimate_is_true_or_false() =>
        Single(Replace("estimate: true", "estimate: maybe"), "FS0143", 47, 19);

    [Fact]
    public void A_performance_monitor_alerts_a_declared_webhook() =>
        Assert.StartsWith("did you mean 'pager'?", Single(Replace("        alert: pager\n", "        alert: pagr\n"), "FS0123", 51, 16).Hint, StringComparison.Ordinal);

    [Fact]
    public void The_window_is_a_required_positive_duration()
    {
        Single(Replace("threshold: 0.4\n        window: 1h\n", "threshold: 0.4\n        window: 0s\n"), "FS0010", 42, 17);
        Assert.Contains("'window'", Single(Replace("threshold: 0.4\n        window: 1h\n", "threshold: 0.4\n"), "FS0004", 39, 9).Message, StringComparison.Ordinal);
    }
}
