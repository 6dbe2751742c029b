using FeatureStore.Core.Definitions;
using FeatureStore.Core.Models;
using FeatureStore.Core.Performance;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Performance;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Redis;
using FeatureStore.Redis.Drift;
using FeatureStore.Redis.Models;

namespace FeatureStore.Cli.Commands.Demo;

/// <summary>
/// Registering a trained model version: its drift baseline, computed from the training set with the
/// monitor's baseline code and stored where the monitor reads it; its reference performance, computed from
/// scored validation rows as <c>model register --validation</c> does; the version in the model registry with
/// its features, training export and baseline, promoted to production unless it is a candidate; the model itself written beside
/// the training data.
/// </summary>
internal static class ModelRegistration
{
    /// <summary>
    /// Registers <paramref name="version"/> of <paramref name="model"/> (its first performance monitor's score and threshold,
    /// its labels' label field, read from <paramref name="validation"/>); returns the stored baseline and reference.
    /// </summary>
    public static async Task<(ModelBaseline Baseline, ReferencePerformance Reference)> RegisterAsync(
        OnlineStoreConnection store, string keyPrefix, FeatureRepository repository, ModelDefinition model, string version,
        FraudModel trained, string trainingSet, string validation, string directory, CancellationToken cancellationToken, bool promote = true)
    {
        var baseline = await BaselineComputer.ComputeAsync(model, version, trainingSet, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), repository, cancellationToken);
        var drift = new DriftStore(store.Database, keyPrefix, repository.Project);
        await drift.UpgradeLayoutAsync(cancellationToken);
        await drift.SaveBaselineAsync(baseline);
        var monitor = model.PerformanceMonitors[0];
        var reference = await ReferenceComputer.FromValidationAsync(
            model.Name, version, monitor.Task, validation, monitor.ScoreField, model.Labels!.LabelField, monitor.DecisionThreshold, null, cancellationToken);
        await new PerformanceStore(store.Database, new DriftKeys(keyPrefix, repository.Project)).SaveReferenceAsync(reference);
        var registry = new ModelRegistryStore(store.Database, keyPrefix, repository.Project);
        var features = model.Versions.First(v => v.Version == version).Features;
        await registry.RegisterAsync(model.Name, version, features, trainingSet, baseline.Id);
        if (promote)
        {
            await registry.PromoteAsync(model.Name, version, ModelStage.Production);
        }

        await File.WriteAllTextAsync(Path.Combine(directory, $"{model.Name}-{version}.json"), trained.ToJson(), cancellationToken);
        return (baseline, reference);
    }
}
