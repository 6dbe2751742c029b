namespace FeatureStore.Serving.Internal;

/// <summary>Label values compared by content, as series are.</summary>
internal sealed class LabelsComparer : IEqualityComparer<string[]>
{
    public static readonly LabelsComparer Instance = new();

    public bool Equals(string[]? x, string[]? y) => x is not null && y is not null && x.AsSpan().SequenceEqual(y);

    public int GetHashCode(string[] obj)
    {
        var hash = default(HashCode);
        foreach (var label in obj)
        {
            hash.Add(label, StringComparer.Ordinal);
        }

        return hash.ToHashCode();
    }
}
