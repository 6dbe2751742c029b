using FeatureStore.Core.Events;

namespace FeatureStore.Ingest;

/// <summary>A source topic as the ingest job consumes it: its schema and where its rejects go.</summary>
/// <param name="Name">The source's name in the repository.</param>
/// <param name="Topic">The Kafka topic.</param>
/// <param name="DeadLetterTopic">Where rejected events go.</param>
/// <param name="Schema">How its JSON events are read.</param>
/// <param name="Tag">What the event applier needs of the source (its compiled views).</param>
public sealed record SourceBinding(string Name, string Topic, string DeadLetterTopic, EventSchema Schema, object? Tag = null);
