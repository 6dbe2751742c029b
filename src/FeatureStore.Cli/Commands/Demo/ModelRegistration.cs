using FeatureStore.Core.Definitions;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Redis;
using FeatureStore.Redis.Models;

namespace FeatureStore.Cli.Commands.Demo;

/// <summary>
/// Registering a trained model version: its drift baseline, computed from the training set with the
/// monitor's baseline code and stored where the monitor reads it; the version in the model registry with
/// its features, training export and baseline, promoted to production; the model itself written beside
/// the training data.
/// </summary>
internal static class ModelRegistration
{
    /// <summary>Registers <paramref name="version"/> of <paramref name="model"/>; returns the stored baseline.</summary>
    public static async Task<ModelBaseline> RegisterAsync(
        OnlineStoreConnection store, string keyPrefix, FeatureRepository repository, ModelDefinition model, string version,
        FraudModel trained, string trainingSet, string directory, CancellationToken cancellationToken)
    {
        var baseline = await BaselineComputer.ComputeAsync(model, version, trainingSet, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), repository, cancellationToken);
        var drift = new DriftStore(store.Database, keyPrefix, repository.Project);
        await drift.UpgradeLayoutAsync(cancellationToken);
        await drift.SaveBaselineAsync(baseline);
        var registry = new ModelRegistryStore(store.Database, keyPrefix, repository.Project);
        var features = model.Versions.First(v => v.Version == version).Features;
        await registry.RegisterAsync(model.Name, version, features, trainingSet, baseline.Id);
        await registry.PromoteAsync(model.Name, version, ModelStage.Production);
        await File.WriteAllTextAsync(Path.Combine(directory, $"{model.Name}-{version}.json"), trained.ToJson(), cancellationToken);
        return baseline;
    }
}
