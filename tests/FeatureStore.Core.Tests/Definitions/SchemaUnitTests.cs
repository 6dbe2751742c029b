using System.Text.Json;
using FeatureStore.Core.Definitions;
using YamlDotNet.RepresentationModel;

namespace FeatureStore.Core.Tests.Definitions;

/// <summary>The JSON Schema in schemas/ describes the same keys the loader accepts.</summary>
public sealed class SchemaUnitTests
{
    private static readonly JsonElement Schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryFiles.RepoRoot(), "schemas", "featurestore.schema.json"))).RootElement;

    [Fact]
    public void Every_key_of_the_example_is_in_the_schema()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(RepositoryFiles.Example));
        var missing = new List<string>();
        Walk(stream.Documents[0].RootNode, Schema, "", missing);
        Assert.Empty(missing);
    }

    [Fact]
    public void Every_key_of_the_schema_is_accepted_by_the_loader()
    {
        // A repository using every optional key the schema lists loads without an unknown-key error.
        var everything = RepositoryFiles.Minimal
            .Replace("project: shop\n", "project: shop\nsettings:\n  allowed_lateness: 1m\n  max_future_skew: 1m\n  schema_registry: { url: 'http://registry:8081', basic_auth_env: SR_AUTH }\n", StringComparison.Ordinal)
            .Replace("    join_keys: [user_id]\n", "    join_keys: [user_id]\n    description: d\n", StringComparison.Ordinal)
            .Replace("      topic: orders\n", "      topic: orders\n      dead_letter_topic: orders.bad\n    format: json\n    timestamp_format: rfc3339\n    description: d\n    history: { path: h.csv, format: csv, cutover: 1796083200000 }\n    quality: { window: 1m, min_events: 10, max_dead_letter_rate: 0.01 }\n    alert: pager\n", StringComparison.Ordinal)
            .Replace("feature_views:\n", "  - name: clicks\n    kafka: { topic: clicks }\n    format: protobuf\n    framing: confluent\n    schema_registry: { url: 'http://other-registry:8081', basic_auth_env: OTHER_AUTH }\n    message: Click\n    timestamp_field: ts\n"
                + "    schema: |\n      syntax = \"proto3\";\n      message Click { string user_id = 1; int64 ts = 2; }\n    timestamp_format: epoch_ms\n    fields: { user_id: string, ts: timestamp }\nfeature_views:\n", StringComparison.Ordinal)
            .Replace("    ttl: 1d\n", "    ttl: 1d\n    description: d\n    freshness: 5m\n    alert: pager\n"
                + "    quality: { window: 1m, min_lookups: 10, max_not_found_rate: 0.1, max_outside_ttl_rate: 0.1, max_null_rate: 0.1, max_out_of_range_rate: 0.01, ranges: { order_count_1h: { min: 0, max: 100 } } }\n",
                StringComparison.Ordinal)
            .Replace("        hop: 10m\n", "        hop: 10m\n        description: d\n", StringComparison.Ordinal)
            .Replace("        description: d\n", "        description: d\n      - { name: p90, aggregation: percentile, p: 0.9, field: amount }\n"
                + "      - { name: last_notes, aggregation: last_n, n: 3, field: note }\n      - { name: top_notes, aggregation: top_k, k: 2, field: note }\n", StringComparison.Ordinal)
            .Replace("      topic: churn_predictions\n", "      topic: churn_predictions\n      dead_letter_topic: x.dlq\n      id_field: id\n      timestamp_field: ts\n"
                + "      format: protobuf\n      framing: confluent\n      schema_registry: { url: 'http://predictions-registry:8081', basic_auth_env: P_AUTH }\n      message: P\n"
                + "      schema: |\n        syntax = \"proto3\";\n        message P { double score = 1; string id = 2; string segment = 3; int64 ts = 4; }\n", StringComparison.Ordinal)
            .Replace("        score: double\n", "        score: double\n        id: string\n        segment: string\n", StringComparison.Ordinal)
            .Replace("        features: [user_orders:order_count_1h]\n", "        features: [user_orders:order_count_1h]\n        description: d\n", StringComparison.Ordinal)
            .Replace("        methods: [psi]\n", "        methods: [psi, { method: ks, threshold: 0.01 }]\n        bins: 12\n        min_samples: 200\n        segment_by: segment\n        segments: 5\n", StringComparison.Ordinal)
            .Replace("      secret_env: PAGER_SECRET", "      secret_env: PAGER_SECRET\n      cooldown: 1m", StringComparison.Ordinal)
            .Replace("        alert: pager\n", "        alert: pager\n      - column: user_orders:order_count_1h\n        methods: [js]\n        window: { size: 1h }\n", StringComparison.Ordinal)
            .Replace("    monitors:\n", "    description: d\n    monitors:\n", StringComparison.Ordinal)
            .Replace("    description: d\n    monitors:\n", "    description: d\n    gates: [\"roc_auc >= 0.8\"]\n    on_degradation: rollback\n    degradation_windows: 2\n    monitors:\n", StringComparison.Ordinal)
            .Replace("models:\n", "request_views:\n  - name: checkout\n    description: d\n    context: { amount: double }\n    features:\n      - { name: twice, type: double, expression: amount * 2, description: d }\nmodels:\n", StringComparison.Ordinal)
            .Replace("    versions:\n", """
                    labels: { topic: l, dead_letter_topic: l.dlq, id_field: id, label_field: y, timestamp_field: t, horizon: 1d, coverage: 0.9 }
                    performance:
                      - { task: binary_classification, score: score, threshold: 0.5, window: 1h, estimate: true, segment_by: segment, segments: 5, min_samples: 10, alert: pager,
                          metrics: [{ metric: roc_auc, min: 0.7, max: 1, max_drop: 0.05 }] }
                    versions:

                """, StringComparison.Ordinal);
        var result = FeatureRepositoryLoader.LoadFromText(everything, "all.yaml");
        Assert.Empty(result.Diagnostics);

        var stream = new YamlStream();
        stream.Load(new StringReader(everything));
        var missing = new List<string>();
        Walk(stream.Documents[0].RootNode, Schema, "", missing);
        Assert.Empty(missing);
        Assert.Equal(SchemaKeys(Schema, "").Order(), UsedKeys(stream.Documents[0].RootNode).Order());
    }

    private static void Walk(YamlNode node, JsonElement schema, string path, List<string> missing)
    {
        schema = Resolve(schema);
        switch (node)
        {
            case YamlMappingNode mapping when schema.TryGetProperty("properties", out var properties):
                foreach (var (key, value) in mapping.Children)
                {
                    var name = ((YamlScalarNode)key).Value!;
                    if (properties.TryGetProperty(name, out var child))
                    {
                        Walk(value, child, $"{path}.{name}", missing);
                    }
                    else
                    {
                        missing.Add($"{path}.{name}");
                    }
                }

                break;
            case YamlSequenceNode sequence when schema.TryGetProperty("items", out var items):
                foreach (var item in sequence.Children)
                {
                    Walk(item, items.TryGetProperty("oneOf", out var options) ? options[1] : items, path + "[]", missing);
                }

                break;
        }
    }

    // Every key path the schema describes, and the ones a document uses.
    private static IEnumerable<string> SchemaKeys(JsonElement schema, string path)
    {
        schema = Resolve(schema);
        if (schema.TryGetProperty("properties", out var properties))
        {
            foreach (var p in properties.EnumerateObject())
            {
                yield return $"{path}.{p.Name}";
                foreach (var nested in SchemaKeys(p.Value, $"{path}.{p.Name}"))
                {
                    yield return nested;
                }
            }
        }

        if (schema.TryGetProperty("items", out var items))
        {
            foreach (var nested in SchemaKeys(items.TryGetProperty("oneOf", out var options) ? options[1] : items, path + "[]"))
            {
                yield return nested;
            }
        }
    }

    private static HashSet<string> UsedKeys(YamlNode node)
    {
        var seen = new HashSet<string>();
        Collect(node, Schema, "", seen);
        return seen;
    }

    private static void Collect(YamlNode node, JsonElement schema, string path, HashSet<string> seen)
    {
        schema = Resolve(schema);
        if (node is YamlMappingNode mapping && schema.TryGetProperty("properties", out var properties))
        {
            foreach (var (key, value) in mapping.Children)
            {
                var name = ((YamlScalarNode)key).Value!;
                if (properties.TryGetProperty(name, out var child))
                {
                    seen.Add($"{path}.{name}");
                    Collect(value, child, $"{path}.{name}", seen);
                }
            }
        }
        else if (node is YamlSequenceNode sequence && schema.TryGetProperty("items", out var items))
        {
            foreach (var item in sequence.Children)
            {
                Collect(item, items.TryGetProperty("oneOf", out var options) ? options[1] : items, path + "[]", seen);
            }
        }
    }

    private static JsonElement Resolve(JsonElement schema) =>
        schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("$ref", out var reference)
            ? Schema.GetProperty("$defs").GetProperty(reference.GetString()!["#/$defs/".Length..])
            : schema;
}
