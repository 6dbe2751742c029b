using FeatureStore.Core.Definitions;

namespace FeatureStore.Parquet.Export;

/// <summary>The features of one view an export computes (indexes into the view's features).</summary>
/// <param name="View">The view.</param>
/// <param name="Features">Indexes of the selected features, in output order.</param>
public sealed record FeatureSelection(CompiledView View, IReadOnlyList<int> Features)
{
    /// <summary>The output column of a selected feature: <c>view__feature</c>.</summary>
    public string ColumnName(int feature) => View.Name + "__" + View.Definition.Features[feature].Name;

    /// <summary>
    /// Reads feature references: <c>view:feature</c> for one feature, <c>view</c> for all of a view's.
    /// Features of one view are grouped, in the order first named. Throws <see cref="ArgumentException"/>
    /// naming the unknown view or feature.
    /// </summary>
    public static IReadOnlyList<FeatureSelection> Parse(CompiledRepository repository, IEnumerable<string> references)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(references);
        var byView = new Dictionary<CompiledView, List<int>>();
        var order = new List<CompiledView>();
        foreach (var raw in references.SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var colon = raw.IndexOf(':', StringComparison.Ordinal);
            var viewName = colon < 0 ? raw : raw[..colon];
            var view = repository.FindView(viewName)
                ?? throw new ArgumentException($"unknown feature view '{viewName}' (views: {string.Join(", ", repository.Views.Select(v => v.Name))})");
            if (!byView.TryGetValue(view, out var list))
            {
                list = [];
                byView[view] = list;
                order.Add(view);
            }

            if (colon < 0)
            {
                list.AddRange(Enumerable.Range(0, view.Features.Count).Where(i => !list.Contains(i)));
                continue;
            }

            var featureName = raw[(colon + 1)..];
            var index = view.IndexOf(featureName);
            if (index < 0)
            {
                throw new ArgumentException($"view '{view.Name}' has no feature '{featureName}' (features: {string.Join(", ", view.Definition.Features.Select(f => f.Name))})");
            }

            if (!list.Contains(index))
            {
                list.Add(index);
            }
        }

        if (order.Count == 0)
        {
            throw new ArgumentException("no features requested: give --features view:feature,… or --model MODEL");
        }

        return [.. order.Select(v => new FeatureSelection(v, byView[v]))];
    }

    /// <summary>
    /// The feature references of a model version: <c>model</c> (its newest version) or <c>model@version</c>.
    /// Throws <see cref="ArgumentException"/> naming the unknown model or version.
    /// </summary>
    public static IReadOnlyList<string> ModelFeatures(CompiledRepository repository, string model)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        var at = model.IndexOf('@', StringComparison.Ordinal);
        var name = at < 0 ? model : model[..at];
        var definition = repository.Repository.FindModel(name)
            ?? throw new ArgumentException($"unknown model '{name}' (models: {string.Join(", ", repository.Repository.Models.Select(m => m.Name))})");
        if (definition.Versions.Count == 0)
        {
            throw new ArgumentException($"model '{name}' has no versions");
        }

        if (at < 0)
        {
            return definition.Versions[^1].Features;
        }

        var version = model[(at + 1)..];
        return (definition.Versions.FirstOrDefault(v => v.Version == version)
            ?? throw new ArgumentException($"model '{name}' has no version '{version}' (versions: {string.Join(", ", definition.Versions.Select(v => v.Version))})")).Features;
    }
}
