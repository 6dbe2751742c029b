using FeatureStore.Monitor.Job;

namespace FeatureStore.Monitor.Persistence;

/// <summary>
/// What one closed window of a monitor covered: per partition the highest offset it counted, and for a time
/// window its end. Persisted with the window's history entry (<see cref="DriftStore.SaveEvaluated"/>).
/// </summary>
internal sealed record EvaluatedOffsets(string Model, string Version, string Column, (PartitionKey Partition, long Last)[] Offsets, long? ClosedEndMs);
