using Prometheus;

namespace FeatureStore.Serving.Internal.Push;

/// <summary>The push API's Prometheus metrics (documented in docs/sources.md and docs/serving.md), process-wide as the serving ones.</summary>
internal static class PushMetrics
{
    private static readonly Counter Pushed = Metrics.CreateCounter(
        "featurestore_push_events_total", "Events produced to their source's topic by the push API, by source.", "source");

    private static readonly Counter Rejected = Metrics.CreateCounter(
        "featurestore_push_rejected_total", "Pushed events rejected, by source and reason (the dead-letter reasons: missing_key, wrong_type, too_far_in_future, …).",
        "source", "reason");

    private static readonly Histogram WaitOnline = Metrics.CreateHistogram(
        "featurestore_push_wait_online_seconds", "Time to answer a push with wait=online, from the request read to the answer, by source and outcome (applied, deadline_exceeded).",
        new HistogramConfiguration
        {
            LabelNames = ["source", "outcome"],
            Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        });

    public static void Produced(string source, int count) => Pushed.WithLabels(source).Inc(count);

    public static void Rejection(string source, string reason) => Rejected.WithLabels(source, reason).Inc();

    public static void Waited(string source, bool applied, TimeSpan elapsed) =>
        WaitOnline.WithLabels(source, applied ? "applied" : "deadline_exceeded").Observe(elapsed.TotalSeconds);
}
