using System.Security.Cryptography;
using System.Text;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Definitions;

/// <summary>A feature view ready to run: its features' windows, where each reads its input, its key fields.</summary>
public sealed class CompiledView(
    FeatureViewDefinition definition,
    CompiledSource source,
    IReadOnlyList<WindowedFeature> features,
    IReadOnlyList<int> inputSlots,
    IReadOnlyList<int> keySlots,
    string signature)
{
    // A class, not a record: compiled views are compared by identity (they key hot dictionaries).

    /// <summary>The view as declared.</summary>
    public FeatureViewDefinition Definition { get; } = definition;

    /// <summary>Its source, compiled.</summary>
    public CompiledSource Source { get; } = source;

    /// <summary>The features for <see cref="ViewWindowState"/>, in declaration order.</summary>
    public IReadOnlyList<WindowedFeature> Features { get; } = features;

    /// <summary>Per feature, the source field slot it reads (-1 for count).</summary>
    public IReadOnlyList<int> InputSlots { get; } = inputSlots;

    /// <summary>The source field slots of the entity's join keys, in order.</summary>
    public IReadOnlyList<int> KeySlots { get; } = keySlots;

    /// <summary>Short hash of everything that shapes the stored state; a change starts fresh state.</summary>
    public string Signature { get; } = signature;

    /// <summary>The view's name.</summary>
    public string Name => Definition.Name;

    /// <summary>The view's ttl.</summary>
    public long TtlMs => Definition.TtlMs;

    /// <summary>The largest hop of the view's features (how long a tile may stay open).</summary>
    public long MaxHopMs { get; } = features.Count == 0 ? 0 : features.Max(f => f.Window.HopMs);

    /// <summary>The index of a feature by name, or -1.</summary>
    public int IndexOf(string feature)
    {
        for (var i = 0; i < Definition.Features.Count; i++)
        {
            if (Definition.Features[i].Name == feature)
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>A source ready to run: its parser schema and the views it feeds.</summary>
public sealed class CompiledSource(SourceDefinition definition, EventSchema schema)
{
    /// <summary>The source as declared.</summary>
    public SourceDefinition Definition { get; } = definition;

    /// <summary>How its events are parsed.</summary>
    public EventSchema Schema { get; } = schema;

    /// <summary>The views computed from this source.</summary>
    public List<CompiledView> Views { get; } = [];
}

/// <summary>
/// A repository compiled for the jobs: sources with their event schemas (every join key of every view
/// on a source is required in its events), views with input slots. Built once per applied version.
/// </summary>
public sealed class CompiledRepository
{
    private CompiledRepository(FeatureRepository repository, IReadOnlyList<CompiledSource> sources, IReadOnlyList<CompiledView> views)
    {
        Repository = repository;
        Sources = sources;
        Views = views;
    }

    /// <summary>The repository compiled.</summary>
    public FeatureRepository Repository { get; }

    /// <summary>Sources that feed at least one view.</summary>
    public IReadOnlyList<CompiledSource> Sources { get; }

    /// <summary>Every view.</summary>
    public IReadOnlyList<CompiledView> Views { get; }

    /// <summary>The view named <paramref name="name"/>, or null.</summary>
    public CompiledView? FindView(string name) => Views.FirstOrDefault(v => v.Name == name);

    /// <summary>Compiles a validated repository.</summary>
    public static CompiledRepository Compile(FeatureRepository repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        var sources = new List<CompiledSource>();
        var views = new List<CompiledView>();
        foreach (var source in repository.Sources)
        {
            var viewsOfSource = repository.FeatureViews.Where(v => v.Source == source.Name).ToList();
            if (viewsOfSource.Count == 0)
            {
                continue;
            }

            var keyFields = viewsOfSource.SelectMany(v => repository.FindEntity(v.Entity)!.JoinKeys).Distinct().ToList();
            var schema = new EventSchema(source.TimestampField, source.TimestampFormat, keyFields,
                [.. source.Fields.Select(f => new FieldSpec(f.Name, f.Kind))]);
            var compiled = new CompiledSource(source, schema);
            foreach (var view in viewsOfSource)
            {
                var features = view.Features.Select(f => new WindowedFeature(
                    f.Aggregation, f.Window, f.Aggregation == AggregationKind.Last && source.FindField(f.Field!)!.Kind == FieldKind.String)).ToList();
                var slots = view.Features.Select(f => f.Field is null ? -1 : schema.IndexOf(f.Field)).ToList();
                var keySlots = repository.FindEntity(view.Entity)!.JoinKeys.Select(schema.IndexOf).ToList();
                var compiledView = new CompiledView(view, compiled, features, slots, keySlots, Signature(view));
                compiled.Views.Add(compiledView);
                views.Add(compiledView);
            }

            sources.Add(compiled);
        }

        return new CompiledRepository(repository, sources, views);
    }

    private static string Signature(FeatureViewDefinition view)
    {
        var text = string.Join('|', view.Features.Select(f => $"{f.Aggregation}:{f.Field}:{f.Window.WindowMs}:{f.Window.HopMs}"));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..8];
    }
}
