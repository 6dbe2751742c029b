using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Baselines;
using StackExchange.Redis;

namespace FeatureStore.Cli.Commands.Demo;

/// <summary>
/// Registering a trained model version: its drift baseline, computed from the training set with the
/// monitor's baseline code and stored where the monitor reads it, and the model itself written beside
/// the training data. One method, so a model registry (versions, stages) can take its place.
/// </summary>
internal static class ModelRegistration
{
    /// <summary>Registers <paramref name="version"/> of <paramref name="model"/>; returns the stored baseline.</summary>
    public static async Task<ModelBaseline> RegisterAsync(
        IDatabase database, string keyPrefix, FeatureRepository repository, ModelDefinition model, string version,
        FraudModel trained, string trainingSet, string directory, CancellationToken cancellationToken)
    {
        var baseline = await BaselineComputer.ComputeAsync(model, version, trainingSet, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), cancellationToken);
        await new DriftStore(database, keyPrefix, repository.Project).SaveBaselineAsync(baseline);
        await File.WriteAllTextAsync(Path.Combine(directory, $"{model.Name}-{version}.json"), trained.ToJson(), cancellationToken);
        return baseline;
    }
}
