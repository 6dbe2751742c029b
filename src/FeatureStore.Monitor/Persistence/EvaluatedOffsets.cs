using FeatureStore.Monitor.Job;

namespace FeatureStore.Monitor.Persistence;

/// <summary>
/// What one closed window of a monitor covered: per partition the highest offset it counted, and for a time
/// window its end. Persisted with the window's history entry (<see cref="DriftStore.SaveEvaluated"/>). A segment
/// window's (<paramref name="Segment"/>) go to a hash of their own; <paramref name="Routing"/>, the segment routing
/// of a segmented monitor (<see cref="SegmentRouter"/>), goes with the whole column's.
/// </summary>
internal sealed record EvaluatedOffsets(string Model, string Version, string Column, (PartitionKey Partition, long Last)[] Offsets, long? ClosedEndMs, string? Segment = null, string? Routing = null);

/// <summary>What a monitor's persisted windows left: the end of its last closed time window, and its segment routing.</summary>
/// <param name="ClosedEndMs">End of the last closed time window (<see cref="long.MinValue"/> when none).</param>
/// <param name="Routing">The segment routing as JSON (whole-column windows of a segmented monitor), or null.</param>
internal readonly record struct EvaluatedState(long ClosedEndMs, string? Routing);

/// <summary>Reads what a monitor's persisted windows covered (the online store; a test may give its own).</summary>
internal interface IEvaluatedSource
{
    /// <summary>
    /// Fills <paramref name="evaluated"/> with the highest evaluated offset per partition of the monitor's windows
    /// (of one <paramref name="segment"/>, or the whole column when null) and returns the rest of their state.
    /// </summary>
    Task<EvaluatedState> LoadEvaluatedAsync(string model, string version, string column, string? segment, Dictionary<PartitionKey, long> evaluated, CancellationToken cancellationToken);
}
