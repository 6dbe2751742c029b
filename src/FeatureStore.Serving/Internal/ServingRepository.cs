using System.Collections.Concurrent;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Serving.Internal;

/// <summary>One feature a lookup can name: its view and its index in the view.</summary>
internal sealed record FeatureColumn(int ViewIndex, int FeatureIndex, string Reference);

/// <summary>
/// One repository version compiled for serving and never changed afterwards: views, every reference a
/// lookup may use (<c>view:feature</c>, <c>view</c>, <c>model</c>, <c>model@version</c>) resolved up front,
/// and the registry answers built once.
/// </summary>
internal sealed class ServingRepository
{
    private readonly Dictionary<string, FeatureColumn[]> _references = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FeatureColumn[]> _models = new(StringComparer.Ordinal);

    // Decoding reuses states (their tile and raw-entry buffers) across lookups instead of allocating per entity.
    private const int PooledStatesPerView = 32;
    private readonly ConcurrentBag<ViewWindowState>[] _states;

    public ServingRepository(FeatureRepository repository, long version, DateTimeOffset? appliedAt)
    {
        Repository = repository;
        Version = version;
        Compiled = CompiledRepository.Compile(repository);
        Views = [.. Compiled.Views];
        JoinKeys = [.. Views.Select(v => repository.FindEntity(v.Definition.Entity)!.JoinKeys.ToArray())];
        _states = [.. Views.Select(_ => new ConcurrentBag<ViewWindowState>())];
        for (var v = 0; v < Views.Length; v++)
        {
            var view = Views[v];
            var all = new FeatureColumn[view.Definition.Features.Count];
            for (var f = 0; f < all.Length; f++)
            {
                var reference = view.Name + ":" + view.Definition.Features[f].Name;
                all[f] = new FeatureColumn(v, f, reference);
                _references[reference] = [all[f]];
            }

            _references[view.Name] = all;
        }

        foreach (var model in repository.Models)
        {
            foreach (var version_ in model.Versions)
            {
                _models[model.Name + "@" + version_.Version] = [.. version_.Features.SelectMany(r => _references.GetValueOrDefault(r) ?? [])];
            }

            if (model.Versions.Count > 0)
            {
                _models[model.Name] = _models[model.Name + "@" + model.Versions[^1].Version];
            }
        }

        Info = new RepositoryInfo
        {
            Project = repository.Project,
            Version = version,
            ContentHash = repository.ContentHash(),
            AppliedAt = appliedAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
        };
        Definitions = RegistryAnswers.Build(this);
    }

    public FeatureRepository Repository { get; }

    public CompiledRepository Compiled { get; }

    public long Version { get; }

    /// <summary>Views by index (the index <see cref="FeatureColumn.ViewIndex"/> refers to).</summary>
    public CompiledView[] Views { get; }

    /// <summary>Per view, the join keys of its entity, in key order.</summary>
    public string[][] JoinKeys { get; }

    public RepositoryInfo Info { get; }

    /// <summary>Every definition, as the registry service answers it.</summary>
    public ListDefinitionsResponse Definitions { get; }

    /// <summary>The columns of <c>view:feature</c> or of a whole <c>view</c>, or null.</summary>
    public FeatureColumn[]? Resolve(string reference) => _references.GetValueOrDefault(reference);

    /// <summary>The columns of <c>model</c> (newest version) or <c>model@version</c>, or null.</summary>
    public FeatureColumn[]? ResolveModel(string model) => _models.GetValueOrDefault(model);

    /// <summary>An empty state of view <paramref name="view"/> to decode into; give it back with <see cref="ReturnState"/>.</summary>
    public ViewWindowState RentState(int view) =>
        _states[view].TryTake(out var state) ? state : new ViewWindowState(Views[view].Features, Views[view].TtlMs);

    /// <summary>Gives back a state from <see cref="RentState"/> (kept for reuse, up to a few per view).</summary>
    public void ReturnState(int view, ViewWindowState state)
    {
        if (_states[view].Count < PooledStatesPerView)
        {
            _states[view].Add(state);
        }
    }

    /// <summary>The FeatureValue field a feature's values fill.</summary>
    public static string ValueType(WindowedFeature feature) => feature.Kind switch
    {
        AggregationKind.Count or AggregationKind.ApproxDistinct => "int64",
        AggregationKind.Last when feature.TextValued => "string",
        _ => "double",
    };
}
