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

    /// <summary>The p-quantile of the field (a <see cref="QuantileSketch"/>); null over an empty window.</summary>
    Percentile,

    /// <summary>The values of the n latest events, newest first (ties: later in the source log first).</summary>
    LastN,

    /// <summary>The n latest distinct values, newest first, each placed at its latest event.</summary>
    LastNDistinct,

    /// <summary>The k most frequent values with their counts (<see cref="FrequentValues"/>).</summary>
    TopK,
}

/// <summary>What each aggregation takes and keeps (DESIGN.md §4).</summary>
public static class AggregationKinds
{
    /// <summary>The largest n of last_n and last_n_distinct and k of top_k.</summary>
    public const int MaxItems = 1000;

    /// <summary>Whether the aggregation takes a parameter: p for percentile, n for last_n(_distinct), k for top_k.</summary>
    public static bool HasParameter(AggregationKind kind) => kind is AggregationKind.Percentile or AggregationKind.LastN or AggregationKind.LastNDistinct or AggregationKind.TopK;

    /// <summary>Whether the aggregation keeps the text of a string field (otherwise a string field is hashed or refused).</summary>
    public static bool KeepsText(AggregationKind kind) => kind is AggregationKind.Last or AggregationKind.LastN or AggregationKind.LastNDistinct or AggregationKind.TopK;

    /// <summary>Whether the aggregation's value is a list or a map (last_n, last_n_distinct, top_k).</summary>
    public static bool IsCollection(AggregationKind kind) => kind is AggregationKind.LastN or AggregationKind.LastNDistinct or AggregationKind.TopK;
}
