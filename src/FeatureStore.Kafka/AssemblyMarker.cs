namespace FeatureStore.Kafka;
/// <summary>Placeholder.</summary>
public static class AssemblyMarker;
