using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Redis.Drift;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Monitor.Job;

/// <summary>
/// The baselines the evaluator compares windows with, read once at start and, for a version without one,
/// looked for again every 30 s so <c>featurestore baseline</c> takes effect without a restart. With the model
/// registry, a version without a baseline of its own is compared with the production version's.
/// </summary>
internal sealed class BaselineCache(DriftStore store, ModelStageCache stages, MonitorOptions options, ILogger logger)
{
    private readonly Dictionary<(string Model, string Version), ModelBaseline?> _baselines = [];
    private readonly Dictionary<(string Model, string Version), long> _checkedMs = [];
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

    /// <summary>Reads the baselines of every version of <paramref name="models"/>; returns how many exist.</summary>
    public async Task<int> LoadAsync(IEnumerable<ModelDefinition> models)
    {
        foreach (var model in models)
        {
            foreach (var version in model.Versions)
            {
                _baselines[(model.Name, version.Version)] = await store.LoadBaselineAsync(model.Name, version.Version).ConfigureAwait(false);
            }
        }

        return _baselines.Values.Count(b => b is not null);
    }

    /// <summary>The version's own baseline, else the production version's (null when neither exists).</summary>
    public async Task<ModelBaseline?> EffectiveAsync(string model, string version)
    {
        var own = await BaselineAsync(model, version).ConfigureAwait(false);
        if (own is not null)
        {
            return own;
        }

        var production = stages.Production(model);
        var fallback = production is null || production == version ? null : await BaselineAsync(model, production).ConfigureAwait(false);
        if (fallback is null && _warned.Add($"{model}@{version}"))
        {
            MonitorLog.NoBaseline(logger, model, version);
        }

        return fallback;
    }

    private async Task<ModelBaseline?> BaselineAsync(string model, string version)
    {
        var key = (model, version);
        var baseline = _baselines.GetValueOrDefault(key);
        if (baseline is not null)
        {
            return baseline;
        }

        // Not computed yet: look again every 30 s.
        var now = options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        if (now - _checkedMs.GetValueOrDefault(key, long.MinValue / 2) >= 30_000)
        {
            _checkedMs[key] = now;
            _baselines[key] = baseline = await store.LoadBaselineAsync(model, version).ConfigureAwait(false);
        }

        return baseline;
    }
}
