namespace FeatureStore.Redis;
/// <summary>Placeholder.</summary>
public static class AssemblyMarker;
