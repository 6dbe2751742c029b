// A view's freshness objective and quality monitor, a source's dead-letter rate monitor, and the webhook they alert.
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using YamlDotNet.RepresentationModel;

namespace FeatureStore.Core.Definitions;

internal sealed partial class RepositoryReader
{
    /// <summary>Shortest quality window: the served and dead-letter counts are kept in buckets of this size.</summary>
    internal const long MinQualityWindowMs = 10_000;

    /// <summary>Longest quality window: the counts' buckets live this long.</summary>
    internal const long MaxQualityWindowMs = 24 * 3_600_000;

    // The alert: of each view and source, checked once the webhooks (declared after them) are read.
    private readonly List<(string Alert, YamlNode Node)> _qualityAlerts = [];

    private string? QualityAlert(YamlMap map)
    {
        var alert = map.String("alert", false, out var node);
        if (alert is not null)
        {
            _qualityAlerts.Add((alert, node!));
        }

        return alert;
    }

    private void CheckQualityAlerts(List<WebhookDefinition> webhooks)
    {
        foreach (var (alert, node) in _qualityAlerts.Where(a => !_webhookNames.Contains(a.Alert)))
        {
            bag.Error(node, "FS0160", $"freshness and quality incidents alert unknown webhook '{alert}'", Known("webhooks", webhooks.Select(w => w.Name), alert) + "; declare it under alerts: webhooks:");
        }
    }

    private ViewQualityDefinition? ReadViewQuality(YamlMap view, string viewName, List<FeatureDefinition> features, SourceDefinition? source)
    {
        var map = YamlMap.Read(view.Value("quality", required: false), bag, "quality", "window", "min_lookups",
            "max_not_found_rate", "max_outside_ttl_rate", "max_null_rate", "max_out_of_range_rate", "ranges");
        if (map is null)
        {
            return null;
        }

        var window = QualityWindow(map);
        var minLookups = map.Integer("min_lookups", 1, out _) ?? ViewQualityDefinition.DefaultMinLookups;
        var notFound = Rate(map, "max_not_found_rate");
        var outsideTtl = Rate(map, "max_outside_ttl_rate");
        var nulls = Rate(map, "max_null_rate");
        var outOfRange = Rate(map, "max_out_of_range_rate");
        var ranges = ReadRanges(map, viewName, features, source);
        if (notFound is null && outsideTtl is null && nulls is null && ranges.Count == 0 && !map.Has("ranges") && !map.Has("max_out_of_range_rate"))
        {
            bag.Error(map.Node, "FS0161", $"the quality block of feature view '{viewName}' checks nothing",
                "write at least one of max_not_found_rate, max_outside_ttl_rate, max_null_rate or ranges");
        }

        if (outOfRange is not null && ranges.Count == 0 && !map.Has("ranges"))
        {
            bag.Error(map.Value("max_out_of_range_rate", false)!, "FS0164", "max_out_of_range_rate needs ranges to check values against",
                "declare ranges: { FEATURE: { min: 0, max: 100 } }");
        }

        return window is null ? null : new ViewQualityDefinition(window.Value, minLookups, notFound, outsideTtl, nulls, ranges.Count > 0 ? outOfRange ?? 0 : null, ranges);
    }

    private SourceQualityDefinition? ReadSourceQuality(YamlMap source)
    {
        var map = YamlMap.Read(source.Value("quality", required: false), bag, "quality", "window", "min_events", "max_dead_letter_rate");
        if (map is null)
        {
            return null;
        }

        var window = QualityWindow(map);
        var minEvents = map.Integer("min_events", 1, out _) ?? SourceQualityDefinition.DefaultMinEvents;
        if (!map.Has("max_dead_letter_rate"))
        {
            bag.Error(map.Node, "FS0161", "a source's quality block needs max_dead_letter_rate", "write max_dead_letter_rate: 0.01 (alert when over 1 % of the window's events are dead-lettered for one reason)");
        }

        var rate = Rate(map, "max_dead_letter_rate");
        return window is null || rate is null ? null : new SourceQualityDefinition(window.Value, minEvents, rate.Value);
    }

    private long? QualityWindow(YamlMap map)
    {
        var window = map.Duration("window", false, out var node);
        if (window is < MinQualityWindowMs or > MaxQualityWindowMs)
        {
            bag.Error(node!, "FS0162", $"quality window {Duration.Format(window.Value)} is outside {Duration.Format(MinQualityWindowMs)}..{Duration.Format(MaxQualityWindowMs)}",
                "the rates are counted in 10s buckets kept a day: write a window such as 5m");
            return null;
        }

        return node is not null && window is null ? null : window ?? ViewQualityDefinition.DefaultWindowMs;
    }

    private double? Rate(YamlMap map, string key)
    {
        var rate = map.Number(key, out var node);
        if (rate is not (null or (>= 0 and <= 1)))
        {
            bag.Error(node!, "FS0163", $"{key} {((YamlScalarNode)node!).Value} is not a share in [0, 1]", $"write {key}: 0.05 (5 % of the window's values)");
            return null;
        }

        return rate;
    }

    private List<FeatureRange> ReadRanges(YamlMap quality, string viewName, List<FeatureDefinition> features, SourceDefinition? source)
    {
        var result = new List<FeatureRange>();
        var node = quality.Value("ranges", required: false);
        if (node is null)
        {
            return result;
        }

        if (node is not YamlMappingNode ranges)
        {
            bag.Error(node, "FS0002", "ranges must be a mapping of feature names to { min, max }", "write ranges: { amount_sum: { min: 0, max: 10000 } }");
            return result;
        }

        foreach (var (keyNode, value) in ranges.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { Length: > 0 } key })
            {
                bag.Error(keyNode, "FS0002", "keys of ranges must be feature names");
                continue;
            }

            var feature = features.FirstOrDefault(f => f.Name == key);
            if (feature is null)
            {
                if (!_viewFeatures.TryGetValue(viewName, out var declared) || !declared.Contains(key))
                {
                    bag.Error(keyNode, "FS0164", $"feature view '{viewName}' has no feature '{key}' to give a range", Known("features", features.Select(f => f.Name), key));
                }

                continue;
            }

            if (!IsNumeric(feature, source))
            {
                bag.Error(keyNode, "FS0164", $"feature '{key}' of view '{viewName}' is not numeric: a range cannot hold its values", "give ranges to numeric features only");
                continue;
            }

            var map = YamlMap.Read(value, bag, $"the range of '{key}'", "min", "max");
            if (map is null)
            {
                continue;
            }

            var min = map.Number("min", out _);
            var max = map.Number("max", out _);
            if (!map.Has("min") && !map.Has("max"))
            {
                bag.Error(map.Node, "FS0165", $"the range of '{key}' has neither min nor max", "write { min: 0, max: 100 }");
            }
            else if (min > max)
            {
                bag.Error(map.Node, "FS0165", $"the range of '{key}' is empty: min {min} is above max {max}", $"write {{ min: {max}, max: {min} }}");
            }
            else if (map.Has("min") == min.HasValue && map.Has("max") == max.HasValue)
            {
                result.Add(new FeatureRange(key, min, max));
            }
        }

        return result;
    }

    private static bool IsNumeric(FeatureDefinition feature, SourceDefinition? source) =>
        !AggregationKinds.IsCollection(feature.Aggregation) && (feature.Aggregation != AggregationKind.Last
        || source?.FindField(feature.Field ?? "") is not { Kind: FieldKind.String or FieldKind.Bool or FieldKind.Timestamp });
}
