using System.Collections.Concurrent;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Redis.Drift;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Serving.Internal;

/// <summary>One feature a lookup can name: its view and its index in the view.</summary>
/// A request-time feature's column has a negative <see cref="ViewIndex"/>: -1 - its request view's index.
internal sealed record FeatureColumn(int ViewIndex, int FeatureIndex, string Reference)
{
    /// <summary>True for a request-time feature.</summary>
    public bool IsRequest => ViewIndex < 0;

    /// <summary>The index of a request-time feature's request view.</summary>
    public int RequestView => -1 - ViewIndex;
}

/// <summary>
/// One repository version compiled for serving and never changed afterwards: views, every reference a
/// lookup may use (<c>view:feature</c>, <c>view</c>, <c>model</c>, <c>model@version</c>) resolved up front,
/// and the registry answers built once.
/// </summary>
internal sealed partial class ServingRepository
{
    private readonly Dictionary<string, FeatureColumn[]> _references = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FeatureColumn[]> _models = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, FeatureColumn[]>> _modelVersions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FeatureColumn[]> _requestReferences;

    // Decoding reuses states (their tile and raw-entry buffers) across lookups instead of allocating per entity.
    private const int PooledStatesPerView = 32;
    private readonly ConcurrentBag<ViewWindowState>[][] _states;

    /// <summary>A version compiled with <paramref name="layout"/>, its views' state groups (null: each view in one group, a repository file's).</summary>
    public ServingRepository(FeatureRepository repository, StateLayout? layout, long version, DateTimeOffset? appliedAt)
    {
        Repository = repository;
        Version = version;
        Compiled = Kafka.SchemaRegistry.SchemaRegistryResolvers.Attach(CompiledRepository.Compile(repository, layout)); // push reads events as ingest does
        Views = [.. Compiled.Views];
        Reading = [.. Views.Select(v => new ViewReading(v))];
        JoinKeys = [.. Views.Select(v => repository.FindEntity(v.Definition.Entity)!.JoinKeys.ToArray())];
        _states = [.. Views.Select(v => v.Groups.Select(_ => new ConcurrentBag<ViewWindowState>()).ToArray())];
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

        _requestReferences = RequestReferences();
        foreach (var model in repository.Models)
        {
            var versions = _modelVersions[model.Name] = new Dictionary<string, FeatureColumn[]>(StringComparer.Ordinal);
            foreach (var version_ in model.Versions)
            {
                _models[model.Name + "@" + version_.Version] = versions[version_.Version] = [.. version_.Features.SelectMany(r => _references.GetValueOrDefault(r) ?? _requestReferences.GetValueOrDefault(r) ?? [])];
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
        Building = Views.Any(v => v.BuildingGroup is not null);
        Served = new ServedValueTally([.. Views.Select(v => v.Definition)]);
        Definitions = RegistryAnswers.Build(this);
    }

    public FeatureRepository Repository { get; }

    /// <summary>Counts of the values this version answered, by view, feature and status.</summary>
    public ServedValueTally Served { get; }

    public CompiledRepository Compiled { get; }

    public long Version { get; }

    /// <summary>Views by index (the index <see cref="FeatureColumn.ViewIndex"/> refers to).</summary>
    public CompiledView[] Views { get; }

    /// <summary>Per view, how a lookup reads its features from its state groups.</summary>
    public ViewReading[] Reading { get; }

    /// <summary>Per view, the join keys of its entity, in key order.</summary>
    public string[][] JoinKeys { get; }

    public RepositoryInfo Info { get; }

    /// <summary>True when a view has a state group building (its registry answers then carry the build's progress).</summary>
    public bool Building { get; }

    /// <summary>Every definition, as the registry service answers it (without build progress: <see cref="RegistryAnswers.WithProgress"/>).</summary>
    public ListDefinitionsResponse Definitions { get; }

    /// <summary>The columns of <c>view:feature</c> or of a whole <c>view</c>, or null.</summary>
    public FeatureColumn[]? Resolve(string reference) => _references.GetValueOrDefault(reference);

    /// <summary>
    /// The columns of <c>model@version</c>, or of <c>model</c>: its production version in the model registry when
    /// this repository declares that version, else its newest declared version. Null for an unknown name.
    /// </summary>
    public FeatureColumn[]? ResolveModel(string model, ModelStageCache? stages)
    {
        if (!_models.TryGetValue(model, out var columns))
        {
            return null;
        }

        return stages?.Production(model) is { } production && _modelVersions.TryGetValue(model, out var versions)
            && versions.TryGetValue(production, out var served) ? served : columns;
    }

    /// <summary>An empty state of group <paramref name="group"/> of view <paramref name="view"/> to decode into; give it back with <see cref="ReturnState"/>.</summary>
    public ViewWindowState RentState(int view, int group) =>
        _states[view][group].TryTake(out var state) ? state : new ViewWindowState(Views[view].Groups[group].Features, Views[view].TtlMs);

    /// <summary>Gives back a state from <see cref="RentState"/> (kept for reuse, up to a few per group).</summary>
    public void ReturnState(int view, int group, ViewWindowState state)
    {
        if (_states[view][group].Count < PooledStatesPerView)
        {
            _states[view][group].Add(state);
        }
    }

    /// <summary>The FeatureValue field a feature's values fill.</summary>
    public static string ValueType(WindowedFeature feature) => feature.Kind switch
    {
        AggregationKind.Count or AggregationKind.ApproxDistinct => "int64",
        AggregationKind.Last when feature.TextValued => "string",
        AggregationKind.LastN or AggregationKind.LastNDistinct when feature.TextValued => "string_list",
        AggregationKind.LastN or AggregationKind.LastNDistinct when feature.IntValued => "int64_list",
        AggregationKind.LastN or AggregationKind.LastNDistinct => "double_list",
        AggregationKind.TopK => "counts",
        _ => "double",
    };
}

/// <summary>
/// How a lookup reads one view's features from its state groups (<see cref="CompiledView.Groups"/>): which group
/// holds each feature, and which feature each slot of a group evaluates to.
/// </summary>
internal sealed class ViewReading
{
    /// <summary>The most groups a lookup tells apart in its mask of groups to read; groups from this index on are read together.</summary>
    public const int MaskBits = 64;

    private readonly bool[] _building;

    public ViewReading(CompiledView view)
    {
        var features = view.Features.Count;
        GroupOf = new int[features];
        FeatureOfSlot = [.. view.Groups.Select(g => Enumerable.Repeat(-1, g.Features.Count).ToArray())];
        for (var f = 0; f < features; f++)
        {
            var (group, slot) = view.PlaceOf(f);
            GroupOf[f] = view.Groups[group].Building ? -1 : group;
            FeatureOfSlot[group][slot] = f;
        }

        _building = [.. view.Groups.Select(g => g.Building)];
        Building = view.BuildingGroup is not null;
        MaxSlots = view.Groups.Count == 0 ? 0 : view.Groups.Max(g => g.Features.Count);
        // A view never changed: one group whose slots are its features in order, evaluated straight into the answer.
        Direct = view.Groups.Count == 1 && !view.Groups[0].Building && view.Groups[0].Features.Count == features
            && Enumerable.Range(0, features).All(f => FeatureOfSlot[0][f] == f);
    }

    /// <summary>Per feature, the index of the serving group holding it, or -1 while its group is building (it answers BUILDING).</summary>
    public int[] GroupOf { get; }

    /// <summary>Per group, per slot, the view feature it evaluates to, or -1 for a dead slot.</summary>
    public int[][] FeatureOfSlot { get; }

    /// <summary>True when one group holds every feature in view order (nothing to map).</summary>
    public bool Direct { get; }

    /// <summary>True when the view has a building group.</summary>
    public bool Building { get; }

    /// <summary>The most slots of any of its groups (the scratch a group's values are evaluated into).</summary>
    public int MaxSlots { get; }

    /// <summary>The bit of group <paramref name="group"/> in a mask of groups to read.</summary>
    public static long Bit(int group) => 1L << Math.Min(group, MaskBits - 1);

    /// <summary>Whether <paramref name="mask"/> reads group <paramref name="group"/> (never a building one).</summary>
    public bool Reads(long mask, int group) => (mask & Bit(group)) != 0 && !_building[group];
}
