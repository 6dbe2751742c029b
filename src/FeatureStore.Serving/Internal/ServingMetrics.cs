using FeatureStore.Core.Quality;
using Prometheus;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// The serving host's Prometheus metrics (documented in docs/serving.md). They are process-wide, as
/// Prometheus metrics are; <c>/metrics</c> also exports every .NET meter of the process (ingest's, the
/// runtime's, ASP.NET Core's) through prometheus-net's meter adapter.
/// </summary>
internal sealed class ServingMetrics
{
    private static readonly Counter Lookups = Metrics.CreateCounter(
        "featurestore_serving_lookups_total", "Online lookups answered, by transport (grpc, http) and gRPC status (OK, INVALID_ARGUMENT, …).",
        "transport", "status");

    private static readonly Counter Values = Metrics.CreateCounter(
        "featurestore_serving_lookup_values_total", "Feature values returned by online lookups.", "transport");

    private static readonly Histogram Duration = Metrics.CreateHistogram(
        "featurestore_serving_lookup_duration_seconds", "Time to answer an online lookup, from request parsed to response built.",
        new HistogramConfiguration
        {
            LabelNames = ["transport"],
            Buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
        });

    private static readonly Gauge Version = Metrics.CreateGauge(
        "featurestore_serving_registry_version", "The registry version served (0 for a repository file).");

    private static readonly Counter Reloads = Metrics.CreateCounter(
        "featurestore_serving_registry_reloads_total", "Repository versions loaded into the serving cache.");

    private static readonly Gauge BuildProgress = Metrics.CreateGauge(
        "featurestore_serving_build_progress", "Share of the event log read (0 to 1) by the rebuild of each building state group, by view and group signature.",
        "view", "group");

    private static readonly Gauge BuildingGroups = Metrics.CreateGauge(
        "featurestore_serving_building_groups", "State groups being built beside the serving ones, over the served views.");

    private static readonly Counter ServedStatuses = Metrics.CreateCounter(
        "featurestore_serving_served_values_total",
        "Feature values answered by lookups, by view, feature and status (total, not_found, outside_ttl, null_value, out_of_range: a present value outside the feature's declared range).",
        "view", "feature", "status");

    private static readonly Gauge FreshnessAge = Metrics.CreateGauge(
        "featurestore_quality_freshness_age_seconds", "Age of each view's newest applied event at the quality evaluator's latest evaluation, for the views with a freshness objective.",
        "view");

    private static readonly Gauge FreshnessObjective = Metrics.CreateGauge(
        "featurestore_quality_freshness_objective_seconds", "Each view's freshness objective.", "view");

    private static readonly Gauge QualityRate = Metrics.CreateGauge(
        "featurestore_quality_rate",
        "Rates at the quality evaluator's latest evaluation: per view and feature (not_found_rate, outside_ttl_rate, null_rate, out_of_range_rate) and per source and reason (dead_letter_rate), over each one's window.",
        "scope", "name", "key", "metric");

    private static readonly Gauge QualityThreshold = Metrics.CreateGauge(
        "featurestore_quality_threshold", "The threshold each featurestore_quality_rate series is held to.", "scope", "name", "key", "metric");

    // The quality series this server published, to remove those the latest report no longer holds.
    private readonly HashSet<string[]> _qualitySeries = new(LabelsComparer.Instance);
    private readonly Lock _quality = new();

    // The progress series this server published, to remove those whose group is no longer building.
    private readonly HashSet<(string View, string Group)> _building = [];
    private readonly Lock _builds = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, AnsweredSeries> _answered = new(StringComparer.Ordinal);

    /// <summary>The transports lookups come by, as the metrics label them.</summary>
    private static readonly string[] Transports = ["grpc", "grpc-stream", "http"];

    /// <summary>Publishes each transport's answered-lookup series at zero, so they exist from start rather than from the first lookup.</summary>
    public ServingMetrics()
    {
        foreach (var transport in Transports)
        {
            Lookups.WithLabels(transport, "OK");
            Values.WithLabels(transport);
            Duration.WithLabels(transport);
        }
    }

    public long RegistryVersion
    {
        set => Version.Set(value);
    }

    public void Lookup(string transport, string status, double seconds, long values)
    {
        // The series of a transport's answered lookups, resolved once: a label lookup per call costs more than the count.
        var series = _answered.GetOrAdd(transport, static t => new(Lookups.WithLabels(t, "OK"), Duration.WithLabels(t), Values.WithLabels(t)));
        (status == "OK" ? series.Lookups : Lookups.WithLabels(transport, status)).Inc();
        series.Duration.Observe(seconds);
        if (values > 0)
        {
            series.Values.Inc(values);
        }
    }

    private sealed record AnsweredSeries(Counter.Child Lookups, Histogram.Child Duration, Counter.Child Values);

    public void RegistryLoaded() => Reloads.Inc();

    public void ServedValues(string view, string feature, string status, long count) => ServedStatuses.WithLabels(view, feature, status).Inc(count);

    /// <summary>Publishes the quality evaluator's latest report as gauges; drops the series it no longer holds.</summary>
    public void Quality(QualityReport report)
    {
        lock (_quality)
        {
            var now = new HashSet<string[]>(LabelsComparer.Instance);
            foreach (var check in report.Checks.Where(c => c.Value is not null))
            {
                if (check.Kind == QualityRules.Freshness)
                {
                    now.Add([check.View!]);
                    FreshnessAge.WithLabels(check.View!).Set(check.Value!.Value);
                    FreshnessObjective.WithLabels(check.View!).Set(check.Threshold);
                }
                else
                {
                    string[] labels = check.View is not null ? ["view", check.View, check.Feature!, check.Metric] : ["source", check.Source!, check.Reason!, check.Metric];
                    now.Add(labels);
                    QualityRate.WithLabels(labels).Set(check.Value!.Value);
                    QualityThreshold.WithLabels(labels).Set(check.Threshold);
                }
            }

            foreach (var gone in _qualitySeries.Except(now, LabelsComparer.Instance))
            {
                if (gone.Length == 1)
                {
                    FreshnessAge.RemoveLabelled(gone);
                    FreshnessObjective.RemoveLabelled(gone);
                }
                else
                {
                    QualityRate.RemoveLabelled(gone);
                    QualityThreshold.RemoveLabelled(gone);
                }
            }

            _qualitySeries.Clear();
            _qualitySeries.UnionWith(now);
        }
    }

    /// <summary>Publishes each building group's progress (0 while unknown) and their number; drops the series of groups no longer building.</summary>
    public void Builds(IReadOnlyList<GroupStatus> groups)
    {
        lock (_builds)
        {
            var now = new HashSet<(string View, string Group)>();
            foreach (var group in groups.Where(g => g.Building))
            {
                now.Add((group.View, group.Signature));
                BuildProgress.WithLabels(group.View, group.Signature).Set(group.Progress ?? 0);
            }

            foreach (var gone in _building.Except(now))
            {
                BuildProgress.RemoveLabelled(gone.View, gone.Group);
            }

            _building.Clear();
            _building.UnionWith(now);
            BuildingGroups.Set(now.Count);
        }
    }
}
