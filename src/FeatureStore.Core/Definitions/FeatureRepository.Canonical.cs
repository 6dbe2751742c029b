using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Definitions;

public sealed partial record FeatureRepository
{
    /// <summary>
    /// The repository as canonical JSON: defaults resolved, named items sorted by name, keys in a fixed
    /// order. Two files that mean the same thing give the same bytes, whatever their layout or comments.
    /// </summary>
    public string ToCanonicalJson() => ToCanonicalNode().ToJsonString(new JsonSerializerOptions { WriteIndented = false });

    /// <summary>SHA-256 of <see cref="ToCanonicalJson"/>, lower-case hex: the registry's identity of a version.</summary>
    public string ContentHash() => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ToCanonicalJson())));

    private static JsonObject Monitor(MonitorDefinition x)
    {
        var node = new JsonObject
        {
            ["column"] = x.Column,
            ["methods"] = Sorted(x.Methods, y => y.Name, y => new JsonObject { ["method"] = y.Name, ["threshold"] = y.Learned ? "learned" : y.Threshold }),
            ["window_size_ms"] = x.WindowSizeMs,
            ["window_count"] = x.WindowCount,
            ["bins"] = x.Bins,
            ["alert"] = x.Alert,
        };

        // Only when it is not the default, so the versions stored before min_samples existed keep their hash.
        if (x.MinSamples != MonitorDefinition.DefaultMinSamples(x.WindowCount))
        {
            node["min_samples"] = x.MinSamples;
        }

        // Only when segmented, so the versions stored before segments existed keep their hash.
        if (x.SegmentBy is not null)
        {
            node["segment_by"] = x.SegmentBy;
            node["segments"] = x.Segments;
        }

        return node;
    }

    private static JsonObject Model(ModelDefinition m)
    {
        var prediction = new JsonObject
        {
            ["topic"] = m.Prediction.Topic,
            ["dead_letter_topic"] = m.Prediction.DeadLetterTopic,
            ["timestamp_field"] = m.Prediction.TimestampField,
            ["fields"] = Fields(m.Prediction.Fields),
        };

        // id_field, labels and performance only when declared, so the versions stored before they existed keep their hash.
        if (m.Prediction.IdField is not null)
        {
            prediction["id_field"] = m.Prediction.IdField;
        }

        if (m.Prediction.Payload is { } payload)
        {
            prediction["format"] = m.Prediction.Format;
            prediction["schema"] = payload.Text;
            prediction["message"] = payload.Message;
            prediction["framing"] = payload.Framing == Events.Payloads.PayloadFraming.Confluent ? "confluent" : "none";
            prediction["schema_registry"] = payload.Registry?.Identity;
        }

        var node = new JsonObject
        {
            ["name"] = m.Name,
            ["prediction"] = prediction,
            ["versions"] = Sorted(m.Versions, v => v.Version, v => new JsonObject
            {
                ["version"] = v.Version,
                ["features"] = new JsonArray([.. v.Features.Select(f => (JsonNode)f)]),
                ["description"] = v.Description,
            }),
            ["monitors"] = Sorted(m.Monitors, x => x.Column, Monitor),
        };

        if (m.Labels is { } labels)
        {
            node["labels"] = new JsonObject
            {
                ["topic"] = labels.Topic,
                ["dead_letter_topic"] = labels.DeadLetterTopic,
                ["id_field"] = labels.IdField,
                ["label_field"] = labels.LabelField,
                ["timestamp_field"] = labels.TimestampField,
                ["horizon_ms"] = labels.HorizonMs,
                ["coverage"] = labels.Coverage,
            };
        }

        if (m.Performance is { } performance)
        {
            // In declaration order: two monitors may share a score field, and nothing else names them.
            node["performance"] = new JsonArray([.. performance.Select(p => (JsonNode)new JsonObject
            {
                ["task"] = p.Task == PerformanceTask.Regression ? "regression" : "binary_classification",
                ["score"] = p.ScoreField,
                ["threshold"] = p.DecisionThreshold,
                ["window_ms"] = p.WindowMs,
                ["metrics"] = new JsonArray([.. p.Thresholds.Select(t => (JsonNode)new JsonObject { ["metric"] = t.Metric, ["min"] = t.Min, ["max"] = t.Max, ["max_drop"] = t.MaxDrop })]),
                ["estimate"] = p.Estimate,
                ["segment_by"] = p.SegmentBy,
                ["segments"] = p.Segments,
                ["min_samples"] = p.MinSamples,
                ["alert"] = p.Alert,
            })]);
        }

        // Only when declared, so the versions stored before lifecycles existed keep their hash.
        if (m.Lifecycle is { } lifecycle)
        {
            node["gates"] = new JsonArray([.. lifecycle.Gates.Select(g => (JsonNode)g.Text)]);
            node["on_degradation"] = ModelLifecycle.Name(lifecycle.OnDegradation);
            node["degradation_windows"] = lifecycle.DegradationWindows;
        }

        return node;
    }

    private static JsonObject View(FeatureViewDefinition v)
    {
        var node = new JsonObject
        {
            ["name"] = v.Name,
            ["entity"] = v.Entity,
            ["source"] = v.Source,
            ["ttl_ms"] = v.TtlMs,
            ["features"] = Sorted(v.Features, f => f.Name, f => WithParameter(f, new JsonObject
            {
                ["name"] = f.Name,
                ["aggregation"] = FeatureRepositoryLoader.Aggregations.First(a => a.Value == f.Aggregation).Key,
                ["field"] = f.Field,
                ["window_ms"] = f.Window.WindowMs,
                ["hop_ms"] = f.Window.HopMs,
            })),
        };

        // Freshness, quality and alert only when declared, so the versions stored before they existed keep their hash.
        if (v.FreshnessMs is { } freshness)
        {
            node["freshness_ms"] = freshness;
        }

        if (v.Quality is { } q)
        {
            node["quality"] = new JsonObject
            {
                ["window_ms"] = q.WindowMs,
                ["min_lookups"] = q.MinLookups,
                ["max_not_found_rate"] = q.MaxNotFoundRate,
                ["max_outside_ttl_rate"] = q.MaxOutsideTtlRate,
                ["max_null_rate"] = q.MaxNullRate,
                ["max_out_of_range_rate"] = q.MaxOutOfRangeRate,
                ["ranges"] = Sorted(q.Ranges, r => r.Feature, r => new JsonObject { ["feature"] = r.Feature, ["min"] = r.Min, ["max"] = r.Max }),
            };
        }

        if (v.Alert is not null)
        {
            node["alert"] = v.Alert;
        }

        return node;
    }

    private static JsonObject Source(SourceDefinition s)
    {
        var node = new JsonObject
        {
            ["name"] = s.Name,
            ["topic"] = s.Topic,
            ["dead_letter_topic"] = s.DeadLetterTopic,
            ["format"] = s.Format,
            ["timestamp_field"] = s.TimestampField,
            ["timestamp_format"] = s.TimestampFormat == Events.TimestampFormat.Rfc3339 ? "rfc3339" : "epoch_ms",
            ["fields"] = Fields(s.Fields),
        };

        // Only when declared, so the versions stored before binary payloads could be declared keep their hash.
        if (s.Payload is { } payload)
        {
            node["schema"] = payload.Text;
            if (payload.Message is not null)
            {
                node["message"] = payload.Message;
            }

            node["framing"] = payload.Framing == Events.Payloads.PayloadFraming.Confluent ? "confluent" : "none";
            if (payload.Registry is { } registry)
            {
                node["schema_registry"] = registry.Identity; // where the writer schemas come from, never the credentials
            }
        }

        // Only when declared, so the versions stored before history could be declared keep their hash.
        if (s.History is { } history)
        {
            node["history"] = new JsonObject
            {
                ["path"] = history.Path,
                ["format"] = history.Format,
                ["cutover_ms"] = history.CutoverMs,
            };
        }

        if (s.Quality is { } quality)
        {
            node["quality"] = new JsonObject
            {
                ["window_ms"] = quality.WindowMs,
                ["min_events"] = quality.MinEvents,
                ["max_dead_letter_rate"] = quality.MaxDeadLetterRate,
            };
        }

        if (s.Alert is not null)
        {
            node["alert"] = s.Alert;
        }

        return node;
    }

    internal JsonObject ToCanonicalNode()
    {
        var node = ToCanonicalNodeWithoutRequestViews();

        // Only when there are any, so the versions stored before request views existed keep their hash.
        if (RequestViews.Count > 0)
        {
            node["request_views"] = Sorted(RequestViews, v => v.Name, v => new JsonObject
            {
                ["name"] = v.Name,
                ["context"] = Fields(v.Context),
                ["features"] = new JsonArray([.. v.Features.Select(f => (JsonNode)new JsonObject
                {
                    ["name"] = f.Name,
                    ["type"] = f.Type.ToString().ToLowerInvariant(),
                    ["expression"] = f.Expression,
                })]),
                ["description"] = v.Description,
            });
        }

        return node;
    }

    private JsonObject ToCanonicalNodeWithoutRequestViews() => new()
    {
        ["project"] = Project,
        ["settings"] = new JsonObject
        {
            ["allowed_lateness_ms"] = Settings.AllowedLatenessMs,
            ["max_future_skew_ms"] = Settings.MaxFutureSkewMs,
        },
        ["entities"] = Sorted(Entities, e => e.Name, e => new JsonObject
        {
            ["name"] = e.Name,
            ["join_keys"] = new JsonArray([.. e.JoinKeys.Select(k => (JsonNode)k)]),
            ["description"] = e.Description,
        }),
        ["sources"] = Sorted(Sources, s => s.Name, Source),
        ["feature_views"] = Sorted(FeatureViews, v => v.Name, View),
        ["models"] = Sorted(Models, m => m.Name, Model),
        ["webhooks"] = Sorted(Webhooks, w => w.Name, w => new JsonObject
        {
            ["name"] = w.Name,
            ["url"] = w.Url,
            ["secret_env"] = w.SecretEnv,
            ["cooldown_ms"] = w.CooldownMs,
        }),
    };

    private static JsonArray Sorted<T>(IEnumerable<T> items, Func<T, string> key, Func<T, JsonObject> map) =>
        new([.. items.OrderBy(key, StringComparer.Ordinal).Select(i => (JsonNode)map(i))]);

    private static JsonArray Fields(IEnumerable<FieldDefinition> fields) =>
        Sorted(fields, f => f.Name, f => new JsonObject { ["name"] = f.Name, ["type"] = f.Kind.ToString().ToLowerInvariant() });

    // The parameter of percentile, last_n(_distinct) and top_k only, so that the versions stored before them keep their hash.
    private static JsonObject WithParameter(FeatureDefinition feature, JsonObject node)
    {
        if (AggregationKinds.HasParameter(feature.Aggregation))
        {
            node[feature.Aggregation == AggregationKind.Percentile ? "p" : feature.Aggregation == AggregationKind.TopK ? "k" : "n"] = feature.Parameter;
        }

        return node;
    }
}
