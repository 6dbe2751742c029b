namespace FeatureStore.Core.Windows;

/// <summary>The aggregations a feature can compute over its window (DESIGN.md §4).</summary>
public enum AggregationKind
{
    /// <summary>Number of events; 0 over an empty window.</summary>
    Count,

    /// <summary>Sum of the field; 0 over an empty window.</summary>
    Sum,

    /// <summary>Arithmetic mean of the field; null over an empty window.</summary>
    Mean,

    /// <summary>Smallest value; null over an empty window.</summary>
    Min,

    /// <summary>Largest value; null over an empty window.</summary>
    Max,

    /// <summary>Value of the event with the greatest event time (ties: later in the source log).</summary>
    Last,

    /// <summary>Sample standard deviation (n − 1); null with fewer than two events.</summary>
    StdDev,

    /// <summary>Approximate number of distinct values (HyperLogLog).</summary>
    ApproxDistinct,
}
