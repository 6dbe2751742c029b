using System.Diagnostics.Metrics;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// The serving host's metrics (meter <c>FeatureStore.Serving</c>, exported on <c>/metrics</c> with every
/// other .NET meter of the process): documented in docs/serving.md.
/// </summary>
internal sealed class ServingMetrics : IDisposable
{
    public const string MeterName = "FeatureStore.Serving";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _lookups;
    private readonly Counter<long> _values;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _reloads;

    public ServingMetrics()
    {
        _lookups = _meter.CreateCounter<long>("featurestore_serving_lookups", description: "Online lookups answered, by transport and gRPC status code.");
        _values = _meter.CreateCounter<long>("featurestore_serving_lookup_values", description: "Feature values returned by online lookups.");
        _duration = _meter.CreateHistogram<double>("featurestore_serving_lookup_duration", unit: "s", description: "Time to answer an online lookup, from request parsed to response built.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });
        _reloads = _meter.CreateCounter<long>("featurestore_serving_registry_reloads", description: "Repository versions loaded into the serving cache.");
        _meter.CreateObservableGauge("featurestore_serving_registry_version", () => RegistryVersion, description: "The registry version served (0 for a repository file).");
    }

    public long RegistryVersion { get; set; }

    public void Lookup(string transport, string status, double seconds, long values)
    {
        var transportTag = new KeyValuePair<string, object?>("transport", transport);
        _lookups.Add(1, transportTag, new KeyValuePair<string, object?>("status", status));
        _duration.Record(seconds, transportTag);
        if (values > 0)
        {
            _values.Add(values, transportTag);
        }
    }

    public void RegistryLoaded() => _reloads.Add(1);

    public void Dispose() => _meter.Dispose();
}
