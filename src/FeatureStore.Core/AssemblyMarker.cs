namespace FeatureStore.Core;
/// <summary>Placeholder.</summary>
public static class AssemblyMarker;
