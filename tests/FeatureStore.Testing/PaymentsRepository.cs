namespace FeatureStore.Testing;

/// <summary>
/// A payments repository with three views, shared by the serving tests and the lookup benchmark:
/// ten user features over two views (user_stats, user_spend) and a merchant view, plus a model with two versions.
/// </summary>
public static class PaymentsRepository
{
    /// <summary>
    /// A repository of two views covering every aggregation (windowed, lifetime, hops of 1 and 5 minutes), for
    /// the ingest and offline tests; its source topic is left as <c>TOPIC</c> for the caller to fill in.
    /// </summary>
    public static string WindowsYaml(string project) => WindowsText.Replace("PROJECT", project, StringComparison.Ordinal);

    /// <summary>The repository's YAML with its source on <paramref name="topic"/>.</summary>
    public static string Yaml(string topic) => Text.Replace("TOPIC", topic, StringComparison.Ordinal);

    // Ten user features over two views (the lookup benchmark's shape) and a merchant view; ttl 2h on
    // user_spend so that quiet users read OUTSIDE_TTL there while user_stats still has them.
    private const string Text = """
        project: stest
        settings:
          allowed_lateness: 1d
          max_future_skew: 1h
        entities:
          - name: user
            join_keys: [user_id]
          - name: merchant
            join_keys: [merchant_id]
        sources:
          - name: payments
            kafka:
              topic: TOPIC
            timestamp_field: ts
            timestamp_format: epoch_ms
            fields:
              user_id: string
              merchant_id: string
              amount: double
              country: string
              ts: timestamp
        feature_views:
          - name: user_stats
            entity: user
            source: payments
            ttl: 1d
            features:
              - { name: n_1h, aggregation: count, window: 1h }
              - { name: sum_1h, aggregation: sum, field: amount, window: 1h, hop: 1m }
              - { name: mean_2h, aggregation: mean, field: amount, window: 2h }
              - { name: max_30m, aggregation: max, field: amount, window: 30m }
              - { name: last_country, aggregation: last, field: country }
              - { name: n_all, aggregation: count }
          - name: user_spend
            entity: user
            source: payments
            ttl: 2h
            features:
              - { name: sum_2h, aggregation: sum, field: amount, window: 2h }
              - { name: min_1h, aggregation: min, field: amount, window: 1h }
              - { name: merchants_2h, aggregation: approx_distinct, field: merchant_id, window: 2h }
              - { name: sd_2h, aggregation: stddev, field: amount, window: 2h }
          - name: merchant_stats
            entity: merchant
            source: payments
            ttl: 1d
            features:
              - { name: n_1h, aggregation: count, window: 1h }
              - { name: sum_1h, aggregation: sum, field: amount, window: 1h }
              - { name: mean_1h, aggregation: mean, field: amount, window: 1h }
        models:
          - name: fraud
            prediction:
              topic: TOPIC.predictions
              timestamp_field: ts
              fields:
                user_id: string
                score: double
                ts: timestamp
            versions:
              - version: v1
                features: [user_stats:n_1h, merchant_stats:sum_1h]
              - version: v2
                features: [user_stats:n_1h, user_spend:sum_2h, merchant_stats:mean_1h]
        """;

    private const string WindowsText = """
        project: PROJECT
        settings:
          allowed_lateness: 1d
          max_future_skew: 1h
        entities:
          - name: user
            join_keys: [user_id]
          - name: merchant
            join_keys: [merchant_id]
        sources:
          - name: payments
            kafka:
              topic: TOPIC
            timestamp_field: ts
            timestamp_format: epoch_ms
            fields:
              user_id: string
              merchant_id: string
              amount: double
              country: string
              ts: timestamp
        feature_views:
          - name: user_stats
            entity: user
            source: payments
            ttl: 1d
            features:
              - { name: n_1h, aggregation: count, window: 1h }
              - { name: sum_1h, aggregation: sum, field: amount, window: 1h, hop: 1m }
              - { name: mean_2h, aggregation: mean, field: amount, window: 2h }
              - { name: max_30m, aggregation: max, field: amount, window: 30m }
              - { name: min_30m, aggregation: min, field: amount, window: 30m }
              - { name: sd_3h, aggregation: stddev, field: amount, window: 3h }
              - { name: merchants_3h, aggregation: approx_distinct, field: merchant_id, window: 3h }
              - { name: last_country, aggregation: last, field: country }
              - { name: n_all, aggregation: count }
          - name: merchant_stats
            entity: merchant
            source: payments
            ttl: 1d
            features:
              - { name: n_1h, aggregation: count, window: 1h }
              - { name: sum_1h, aggregation: sum, field: amount, window: 1h }
        """;
}
