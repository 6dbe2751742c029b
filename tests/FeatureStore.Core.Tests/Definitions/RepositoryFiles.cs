namespace FeatureStore.Core.Tests.Definitions;

/// <summary>The example repository and small valid files for the definition tests.</summary>
internal static class RepositoryFiles
{
    public static string ExamplePath => FeatureStore.Testing.RepositoryPaths.FraudExample;

    public static string Example => File.ReadAllText(ExamplePath);

    public static string RepoRoot() => FeatureStore.Testing.RepositoryPaths.Root();

    /// <summary>A minimal valid repository; tests change one line of it at a time.</summary>
    public const string Minimal = """
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
              note: string
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
              - name: amount_sum_1h
                aggregation: sum
                field: amount
                window: 1h
                hop: 10m
        models:
          - name: churn
            prediction:
              topic: churn_predictions
              fields:
                score: double
            versions:
              - version: v1
                features: [user_orders:order_count_1h]
            monitors:
              - column: score
                methods: [psi]
                window: { count: 1000 }
                alert: pager
        alerts:
          webhooks:
            - name: pager
              url: https://alerts.example.com/hook
              secret_env: PAGER_SECRET
        """;
}
