using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;

namespace FeatureStore.Ingest;

/// <summary>A source topic as the ingest job consumes it: its schema, where its rejects go, and the views it feeds.</summary>
/// <param name="Name">The source's name in the repository.</param>
/// <param name="Topic">The Kafka topic.</param>
/// <param name="DeadLetterTopic">Where rejected events go.</param>
/// <param name="Schema">How its JSON events are read.</param>
/// <param name="Compiled">The compiled source: the views its events are applied to.</param>
public sealed record SourceBinding(string Name, string Topic, string DeadLetterTopic, EventSchema Schema, CompiledSource Compiled)
{
    /// <summary>
    /// The cut-over of the source's imported history: events before it are the history's, skipped (counted as
    /// history-owned, not dead-lettered); <see cref="long.MinValue"/> without an import.
    /// </summary>
    public long HistoryBeforeMs { get; init; } = long.MinValue;
}
