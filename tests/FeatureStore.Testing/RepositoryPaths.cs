namespace FeatureStore.Testing;

/// <summary>Files of this repository that tests and benchmarks read (the example feature repository).</summary>
public static class RepositoryPaths
{
    /// <summary>The folder holding FeatureStore.sln, found upwards from the running assembly.</summary>
    public static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "FeatureStore.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }

    /// <summary>examples/fraud/featurestore.yaml.</summary>
    public static string FraudExample => Path.Combine(Root(), "examples", "fraud", "featurestore.yaml");
}
