// A model's ground truth and quality: labels:, performance: and the segments shared with the drift monitors.
using FeatureStore.Core.Events;
using FeatureStore.Core.Performance;
using YamlDotNet.RepresentationModel;

namespace FeatureStore.Core.Definitions;

internal sealed partial class RepositoryReader
{
    /// <summary>The most values <c>segments</c> may keep apart: each is a window, a history and alerts of its own.</summary>
    internal const int MaxSegments = 1000;

    private static readonly string[] Tasks = ["binary_classification", "regression"];

    private LabelsDefinition? ReadLabels(YamlMap model, PredictionDefinition? prediction)
    {
        var map = YamlMap.Read(model.Value("labels", required: false), bag, "labels", "topic", "dead_letter_topic", "id_field", "label_field", "timestamp_field", "horizon", "coverage");
        if (map is null)
        {
            return null;
        }

        var topic = map.String("topic", true, out var topicNode);
        if (topic is not null && topic == prediction?.Topic)
        {
            // One topic for both would make the monitor read each prediction as a label and each label as a prediction.
            bag.Error(topicNode!, "FS0133", $"the labels' topic '{topic}' is the prediction topic", $"give labels a topic of their own, e.g. topic: {topic}.labels");
        }

        var dlq = map.String("dead_letter_topic", false) ?? (topic is null ? null : topic + ".dlq");
        var idField = map.String("id_field", true);
        var labelField = map.String("label_field", true);
        var timestampField = map.String("timestamp_field", false);
        var horizon = map.Duration("horizon", true, out _);
        var coverage = map.Number("coverage", out var coverageNode);
        if (coverage is not (null or (> 0 and <= 1)))
        {
            bag.Error(coverageNode!, "FS0134", $"coverage {((YamlScalarNode)coverageNode!).Value} is not a share in (0, 1]", "write coverage: 0.95 (a window closes once 95 % of its predictions are labelled), or leave it out to wait for the horizon");
            coverage = null;
        }

        if (prediction is not null && prediction.IdField is null)
        {
            bag.Error(map.Node, "FS0130", "labels need the prediction's id_field, the field each label names its prediction by", "add id_field: prediction_id under prediction: and declare it in its fields");
        }

        return topic is null || idField is null || labelField is null || horizon is null
            ? null
            : new LabelsDefinition(topic, dlq!, idField, labelField, timestampField, horizon.Value, coverage);
    }

    private List<PerformanceMonitorDefinition>? ReadPerformance(YamlMap model, PredictionDefinition? prediction, List<WebhookDefinition> webhooks)
    {
        if (!model.Has("performance"))
        {
            return null; // as before performance monitors existed
        }

        var items = model.List("performance", required: false);
        if (items.Count > 0 && !model.Has("labels"))
        {
            bag.Error(model.Value("performance", false)!, "FS0131", "performance monitors need labels: the model declares none",
                "declare labels: { topic: …, id_field: …, label_field: …, horizon: 7d } under the model");
        }

        var result = new List<PerformanceMonitorDefinition>();
        foreach (var item in items)
        {
            var map = YamlMap.Read(item, bag, "a performance monitor", "task", "score", "threshold", "window", "metrics", "estimate", "segment_by", "segments", "min_samples", "alert");
            if (map is null)
            {
                continue;
            }

            var task = ReadTask(map);
            var score = map.String("score", true, out var scoreNode);
            if (score is not null && prediction is not null && !_invalidFields.Contains(score))
            {
                var field = prediction.Fields.FirstOrDefault(f => f.Name == score);
                if (field is null)
                {
                    bag.Error(scoreNode!, "FS0135", $"score '{score}' is not a prediction field", Known("numeric fields", NumericFields(prediction), score));
                }
                else if (field.Kind is not (FieldKind.Double or FieldKind.Int))
                {
                    bag.Error(scoreNode!, "FS0135", $"score '{score}' must be a number; it is {Lower(field.Kind)}", Known("numeric fields", NumericFields(prediction), null));
                }
            }

            var threshold = map.Number("threshold", out var thresholdNode);
            if (threshold is not null && task == PerformanceTask.Regression)
            {
                bag.Error(thresholdNode!, "FS0141", "threshold is a classifier's decision threshold; a regression has none", "remove threshold");
            }
            else if (threshold is not (null or (>= 0 and <= 1)))
            {
                bag.Error(thresholdNode!, "FS0142", $"decision threshold {threshold} is outside [0, 1]", "write the score at or above which the model predicts the positive class, e.g. threshold: 0.5");
            }

            var window = map.Duration("window", true, out _);
            var thresholds = ReadMetricThresholds(map, task);
            var estimate = ReadBool(map, "estimate", out var estimateNode);
            if (estimate is true && task == PerformanceTask.Regression)
            {
                bag.Error(estimateNode!, "FS0141", "estimate is for classifiers: a regression's performance is not estimated before its labels", "remove estimate, or write estimate: false");
            }

            var (segmentBy, segments) = ReadSegments(map, prediction);
            var minSamples = map.Integer("min_samples", 1, out _);
            var alert = map.String("alert", false, out var alertNode);
            CheckWebhook(alert, alertNode, webhooks);
            if (task is not null && score is not null && window is not null)
            {
                result.Add(new PerformanceMonitorDefinition(
                    task.Value,
                    score,
                    threshold ?? BinaryClassificationWindow.DefaultThreshold,
                    window.Value,
                    thresholds,
                    estimate ?? task == PerformanceTask.BinaryClassification,
                    segmentBy,
                    segments,
                    (int)Math.Min(minSamples ?? PerformanceMonitorDefinition.DefaultMinSamples, int.MaxValue),
                    alert));
            }
        }

        return result;
    }

    private PerformanceTask? ReadTask(YamlMap map)
    {
        var text = map.String("task", true, out var node);
        switch (text)
        {
            case null:
                return null;
            case "binary_classification":
                return PerformanceTask.BinaryClassification;
            case "regression":
                return PerformanceTask.Regression;
            default:
                var closest = YamlMap.Closest(text, Tasks);
                bag.Error(node!, "FS0138", $"unknown task '{text}'", closest is null ? $"write {string.Join(" or ", Tasks)}" : $"did you mean '{closest}'?");
                return null;
        }
    }

    private List<MetricThreshold> ReadMetricThresholds(YamlMap monitor, PerformanceTask? task)
    {
        var result = new List<MetricThreshold>();
        foreach (var item in monitor.List("metrics", required: false))
        {
            var map = YamlMap.Read(item, bag, "a metric threshold", "metric", "min", "max", "max_drop");
            if (map is null)
            {
                continue;
            }

            var metric = map.String("metric", true, out var metricNode);
            var written = metric;
            if (metric is not null && task is not null && !PerformanceMetrics.Of(task.Value).Contains(metric))
            {
                var known = PerformanceMetrics.Of(task.Value);
                var other = task == PerformanceTask.Regression ? PerformanceMetrics.Classification : PerformanceMetrics.Regression;
                var closest = other.Contains(metric) ? null : YamlMap.Closest(metric, known); // f1 is no misspelling of r2
                bag.Error(metricNode!, "FS0139", other.Contains(metric) ? $"'{metric}' is not a metric of {TaskName(task.Value)}" : $"unknown metric '{metric}'",
                    closest is null ? $"the metrics of {TaskName(task.Value)}: {string.Join(", ", known)}" : $"did you mean '{closest}'?");
                metric = null;
            }

            var min = map.Number("min", out _);
            var max = map.Number("max", out var maxNode);
            var maxDrop = map.Number("max_drop", out var dropNode);
            // A misspelt bound is reported as an unknown key already (one mistake, one diagnostic).
            if (!map.Has("min") && !map.Has("max") && !map.Has("max_drop") && ((YamlMappingNode)map.Node).Children.Count <= 1)
            {
                bag.Error(map.Node, "FS0140", $"the threshold on '{written}' has no bound", "add min: …, max: … or max_drop: … (how far below the version's reference it may fall)");
                continue;
            }

            if (maxDrop < 0)
            {
                bag.Error(dropNode!, "FS0140", $"max_drop {maxDrop} is negative", "write how much worse than the reference the metric may get, a positive number such as max_drop: 0.05");
                continue;
            }

            if (min > max)
            {
                bag.Error(maxNode!, "FS0140", $"max {max} is below min {min}: every value would alert", "swap them, or drop one");
                continue;
            }

            if (metric is not null)
            {
                result.Add(new MetricThreshold(metric, min, max, maxDrop));
            }
        }

        return result;
    }

    /// <summary><c>segment_by</c> and <c>segments</c> of a drift or performance monitor: a string or bool prediction field, 1 to <see cref="MaxSegments"/> values.</summary>
    private (string? SegmentBy, int Segments) ReadSegments(YamlMap map, PredictionDefinition? prediction)
    {
        var segmentBy = map.String("segment_by", false, out var node);
        if (segmentBy is not null && prediction is not null && !_invalidFields.Contains(segmentBy))
        {
            var field = prediction.Fields.FirstOrDefault(f => f.Name == segmentBy);
            var categorical = prediction.Fields.Where(f => f.Kind is FieldKind.String or FieldKind.Bool).Select(f => f.Name);
            if (field is null)
            {
                bag.Error(node!, "FS0136", $"segment_by '{segmentBy}' is not a prediction field", Known("string or bool prediction fields", categorical, segmentBy));
            }
            else if (field.Kind is not (FieldKind.String or FieldKind.Bool))
            {
                // A number has no categories: every distinct value would be a segment of its own.
                bag.Error(node!, "FS0136", $"segment_by '{segmentBy}' must be a string or bool field; it is {Lower(field.Kind)}",
                    Known("string or bool prediction fields", categorical, null) + ", or log a bucket of it as a string field");
            }
        }

        var segments = map.Integer("segments", 1, out var segmentsNode);
        if (segments > MaxSegments)
        {
            bag.Error(segmentsNode!, "FS0137", $"segments {segments} is more than {MaxSegments}", $"write segments: {MaxSegments} or fewer; the rest of the values share the segment 'other'");
        }
        else if (segments is not null && segmentBy is null && !map.Has("segment_by"))
        {
            bag.Error(segmentsNode!, "FS0137", "segments without segment_by", "add segment_by: <a string or bool prediction field>, or remove segments");
        }

        return (segmentBy, (int)Math.Min(segments ?? PerformanceMonitorDefinition.DefaultSegments, MaxSegments));
    }

    private bool? ReadBool(YamlMap map, string key, out YamlNode? node)
    {
        switch (map.String(key, false, out node))
        {
            case null:
                return null;
            case "true" or "True" or "TRUE":
                return true;
            case "false" or "False" or "FALSE":
                return false;
            case var text:
                bag.Error(node!, "FS0143", $"'{text}' is not true or false for {key}", $"write {key}: true or {key}: false");
                return null;
        }
    }

    private void CheckWebhook(string? alert, YamlNode? node, List<WebhookDefinition> webhooks)
    {
        if (alert is not null && !_webhookNames.Contains(alert))
        {
            bag.Error(node!, "FS0123", $"monitor alerts unknown webhook '{alert}'", Known("webhooks", webhooks.Select(w => w.Name), alert) + "; declare it under alerts: webhooks:");
        }
    }

    private static IEnumerable<string> NumericFields(PredictionDefinition prediction) =>
        prediction.Fields.Where(f => f.Kind is FieldKind.Double or FieldKind.Int).Select(f => f.Name);

    private static string TaskName(PerformanceTask task) => task == PerformanceTask.Regression ? "regression" : "binary_classification";
}
