using System.Diagnostics.Metrics;

namespace FeatureStore.Monitor.Job;

/// <summary>
/// Counters of the monitor job (meter <c>FeatureStore.Monitor</c>): <c>featurestore_monitor_predictions</c>,
/// <c>featurestore_monitor_dead_lettered</c> (by reason), <c>featurestore_monitor_skipped</c> (by reason:
/// <c>no_baseline</c>, <c>missing_feature</c>, <c>too_late</c>, <c>wrong_type</c>, <c>redelivered</c>,
/// <c>evaluated</c>), <c>featurestore_monitor_windows</c>,
/// <c>featurestore_monitor_alerts_raised</c>, <c>featurestore_monitor_alerts_delivered</c>,
/// <c>featurestore_monitor_delivery_failures</c>.
/// </summary>
public sealed class MonitorMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly Counter<long> _predictions;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _skipped;
    private readonly Counter<long> _windows;
    private readonly Counter<long> _raised;
    private readonly Counter<long> _delivered;
    private readonly Counter<long> _failures;
    private long _predictionsTotal;
    private long _deadLetteredTotal;
    private long _skippedTotal;
    private long _windowsTotal;
    private long _raisedTotal;
    private long _deliveredTotal;
    private long _failuresTotal;

    /// <summary>Creates the meter and its counters.</summary>
    public MonitorMetrics()
        : this("FeatureStore.Monitor")
    {
    }

    private MonitorMetrics(string meterName)
    {
        _meter = new Meter(meterName);
        // Exporters prefix the meter's name (prometheus-net: featurestore_monitor_), so instruments carry only their own.
        _predictions = _meter.CreateCounter<long>("predictions", "{prediction}", "Predictions read.");
        _deadLettered = _meter.CreateCounter<long>("dead_lettered", "{prediction}", "Predictions sent to the dead-letter topic.");
        _skipped = _meter.CreateCounter<long>("skipped", "{value}", "Column values not counted in a window.");
        _windows = _meter.CreateCounter<long>("windows", "{window}", "Windows evaluated.");
        _raised = _meter.CreateCounter<long>("alerts_raised", "{alert}", "Alerts written to the outbox.");
        _delivered = _meter.CreateCounter<long>("alerts_delivered", "{alert}", "Alerts delivered.");
        _failures = _meter.CreateCounter<long>("delivery_failures", "{attempt}", "Failed alert deliveries.");
    }

    /// <summary>
    /// The performance job's counters (meter <c>FeatureStore.Monitor.Performance</c>, same instruments): predictions
    /// and labels read, dead letters, records skipped (by reason: <c>too_late</c>, <c>duplicate_prediction</c>),
    /// windows evaluated, alerts.
    /// </summary>
    public static MonitorMetrics ForPerformance() => new("FeatureStore.Monitor.Performance");

    /// <summary>
    /// The freshness and quality evaluator's counters (meter <c>FeatureStore.Monitor.Quality</c>, same instruments):
    /// evaluations as windows, alerts raised and delivered (docs/quality.md).
    /// </summary>
    public static MonitorMetrics ForQuality() => new("FeatureStore.Monitor.Quality");

    /// <summary>Predictions read.</summary>
    public long Predictions => Interlocked.Read(ref _predictionsTotal);

    /// <summary>Predictions sent to the dead-letter topic.</summary>
    public long DeadLettered => Interlocked.Read(ref _deadLetteredTotal);

    /// <summary>Column values not counted (no baseline, feature missing from the event, too late).</summary>
    public long Skipped => Interlocked.Read(ref _skippedTotal);

    /// <summary>Windows evaluated.</summary>
    public long Windows => Interlocked.Read(ref _windowsTotal);

    /// <summary>Alerts written to the outbox.</summary>
    public long AlertsRaised => Interlocked.Read(ref _raisedTotal);

    /// <summary>Alerts delivered.</summary>
    public long AlertsDelivered => Interlocked.Read(ref _deliveredTotal);

    /// <summary>Failed delivery attempts.</summary>
    public long DeliveryFailures => Interlocked.Read(ref _failuresTotal);

    internal void Prediction() => Add(_predictions, ref _predictionsTotal, null);

    internal void DeadLetter(string reason) => Add(_deadLettered, ref _deadLetteredTotal, reason);

    internal void Skip(string reason) => Add(_skipped, ref _skippedTotal, reason);

    internal void Window() => Add(_windows, ref _windowsTotal, null);

    internal void Raised() => Add(_raised, ref _raisedTotal, null);

    internal void Delivered() => Add(_delivered, ref _deliveredTotal, null);

    internal void DeliveryFailure() => Add(_failures, ref _failuresTotal, null);

    private static void Add(Counter<long> counter, ref long total, string? reason)
    {
        Interlocked.Increment(ref total);
        if (reason is null)
        {
            counter.Add(1);
        }
        else
        {
            counter.Add(1, new KeyValuePair<string, object?>("reason", reason));
        }
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
