using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Performance;

/// <summary>
/// A model version's reference performance, stored at registration: its validation metrics (given as a file,
/// or computed from a labelled validation set), and for a classifier with a labelled validation set the
/// confidence-based estimation's calibration and band (<see cref="CbpeReference"/>).
/// </summary>
/// <param name="Model">The model.</param>
/// <param name="Version">The model version.</param>
/// <param name="Task">What the model predicts.</param>
/// <param name="Metrics">Metric name (<see cref="PerformanceMetrics"/>) → reference value.</param>
/// <param name="Count">Labelled rows the metrics were computed from, or null when they were given.</param>
/// <param name="Source">Where they came from: the metrics file or the validation file, as given.</param>
/// <param name="Cbpe">The estimation's reference, or null when there are no labelled validation scores.</param>
public sealed record ReferencePerformance(
    string Model,
    string Version,
    PerformanceTask Task,
    IReadOnlyDictionary<string, double> Metrics,
    long? Count,
    string Source,
    CbpeReference? Cbpe);
