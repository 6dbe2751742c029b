using FeatureStore.Core.Events;
using FeatureStore.Core.Expressions;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Definitions;

/// <summary>
/// A feature view ready to run: its features' windows, where each reads its input, its key fields, and the
/// state groups its online state is stored in (<see cref="StateLayout"/>).
/// </summary>
public sealed class CompiledView(
    FeatureViewDefinition definition,
    CompiledSource source,
    IReadOnlyList<WindowedFeature> features,
    IReadOnlyList<int> inputSlots,
    IReadOnlyList<int> keySlots,
    string signature)
{
    private StateGroup[] _groups = [];
    private (int Group, int Slot)[] _places = [];

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

    /// <summary>
    /// Short hash of everything that shapes the whole view's state (<see cref="StateLayout.ClassicSignature"/>):
    /// offline snapshots are kept under it; online state is kept per <see cref="Groups">state group</see>.
    /// </summary>
    public string Signature { get; } = signature;

    /// <summary>The groups its online state is stored in: serving ones, then at most one building.</summary>
    public IReadOnlyList<StateGroup> Groups => _groups;

    /// <summary>The group being built beside the serving ones, or null.</summary>
    public StateGroup? BuildingGroup => Array.Find(_groups, g => g.Building);

    /// <summary>Where feature <paramref name="feature"/> (its index in the view) is stored: its group's index and its slot in that group.</summary>
    public (int Group, int Slot) PlaceOf(int feature) => _places[feature];

    /// <summary>The view's name.</summary>
    public string Name => Definition.Name;

    /// <summary>The view's ttl.</summary>
    public long TtlMs => Definition.TtlMs;

    /// <summary>The largest hop of the view's features (how long a tile may stay open).</summary>
    public long MaxHopMs { get; } = features.Count == 0 ? 0 : features.Max(f => f.Window.HopMs);

    internal void Place(StateGroup[] groups, (int Group, int Slot)[] places)
    {
        _groups = groups;
        _places = places;
    }

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

    /// <summary>The state groups of its views that ingest writes (serving and building), view by view.</summary>
    public List<StateGroup> Groups { get; } = [];
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

    /// <summary>
    /// Gives each source that reads its writer schemas from a Schema Registry the resolver <paramref name="resolvers"/>
    /// returns for that registry (a source's decoder keeps the first it is given).
    /// </summary>
    public void AttachWriterSchemas(Func<SchemaRegistryDefinition, Events.Payloads.IWriterSchemaResolver> resolvers)
    {
        ArgumentNullException.ThrowIfNull(resolvers);
        foreach (var source in Sources)
        {
            if (source.Schema.Decoder is Events.Payloads.RegistryDecoder { IsAttached: false } decoder)
            {
                decoder.Attach(resolvers(decoder.Registry));
            }
        }
    }

    /// <summary>The state layout its views' groups follow.</summary>
    public StateLayout Layout { get; private init; } = null!;

    /// <summary>Its request views, compiled (their expressions delegates), in declaration order.</summary>
    public IReadOnlyList<CompiledRequestView> RequestViews { get; private init; } = [];

    /// <summary>The request view named <paramref name="name"/>, or null.</summary>
    public CompiledRequestView? FindRequestView(string name) => RequestViews.FirstOrDefault(v => v.Name == name);

    /// <summary>
    /// Compiles a validated repository, its views' online state in the groups of <paramref name="layout"/> (the
    /// registry's for the applied version; null: each view in one group, as when it was never changed).
    /// </summary>
    public static CompiledRepository Compile(FeatureRepository repository, StateLayout? layout = null)
    {
        ArgumentNullException.ThrowIfNull(repository);
        layout ??= StateLayout.Default(repository);
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
            if (source.Payload is { Registry: { } registry } registered)
            {
                schema.UseDecoder(new Events.Payloads.RegistryDecoder(source.Format, registered.Text, schema, registry));
            }
            else if (source.Payload is { } payload)
            {
                schema.UseDecoder(source.Format == "avro"
                    ? Events.Payloads.AvroDecoder.Compile(payload.Text, schema, payload.Framing)
                    : Events.Payloads.ProtobufDecoder.Compile(payload.Text, payload.Message, schema, payload.Framing));
            }

            var compiled = new CompiledSource(source, schema);
            foreach (var view in viewsOfSource)
            {
                var features = view.Features.Select(f => new WindowedFeature(
                    f.Aggregation, f.Window, f.Field is not null && StateLayout.IsTextValued(f.Aggregation, source.FindField(f.Field)!.Kind), f.Parameter,
                    f.Field is not null && StateLayout.IsIntValued(f.Aggregation, source.FindField(f.Field)!.Kind))).ToList();
                var slots = view.Features.Select(f => f.Field is null ? -1 : schema.IndexOf(f.Field)).ToList();
                var keySlots = repository.FindEntity(view.Entity)!.JoinKeys.Select(schema.IndexOf).ToList();
                var compiledView = new CompiledView(view, compiled, features, slots, keySlots, StateLayout.ClassicSignature(view));
                var viewLayout = layout.Views.GetValueOrDefault(view.Name) ?? StateLayout.DefaultView(repository, view);
                PlaceGroups(compiledView, viewLayout, schema);
                compiled.Groups.AddRange(compiledView.Groups);
                compiled.Views.Add(compiledView);
                views.Add(compiledView);
            }

            sources.Add(compiled);
        }

        return new CompiledRepository(repository, sources, views) { Layout = layout, RequestViews = CompileRequestViews(repository) };
    }

    private static CompiledRequestView[] CompileRequestViews(FeatureRepository repository)
    {
        var names = repository.FeatureViews.Select(v => v.Name).ToList();
        var definitions = repository.RequestViews;
        return [.. CompiledRequestView.CompileAll(definitions, (v, f) => StoredKind(repository, v, f), names, (v, f, error) =>
            throw new InvalidOperationException($"request view '{definitions[v].Name}', feature '{definitions[v].Features[f].Name}': {error.Message}"))
            .Select(c => c!)];
    }

    /// <summary>What stored feature (view, feature) is in a request-time expression, or null when there is none.</summary>
    public static ExpressionKind? StoredKind(FeatureRepository repository, string view, string feature)
    {
        ArgumentNullException.ThrowIfNull(repository);
        var definition = repository.FindView(view);
        var found = definition?.FindFeature(feature);
        if (found is null)
        {
            return null;
        }

        return found.Aggregation is AggregationKind.LastN or AggregationKind.LastNDistinct or AggregationKind.TopK ? ExpressionKind.List
            : found.Aggregation == AggregationKind.Last && repository.FindSource(definition!.Source)?.FindField(found.Field!)?.Kind == FieldKind.String
            ? ExpressionKind.Text : ExpressionKind.Number;
    }

    private static void PlaceGroups(CompiledView view, ViewLayout layout, EventSchema schema)
    {
        var places = new (int Group, int Slot)[view.Features.Count];
        Array.Fill(places, (-1, -1));
        var groups = new StateGroup[layout.Groups.Count];
        for (var g = 0; g < groups.Length; g++)
        {
            var group = layout.Groups[g];
            var inputs = new int[group.Slots.Count];
            for (var s = 0; s < inputs.Length; s++)
            {
                var slot = group.Slots[s];
                inputs[s] = InputOf(slot, schema);
                if (slot.Feature is { } name && view.IndexOf(name) is var feature and >= 0)
                {
                    places[feature] = (g, s);
                }
            }

            groups[g] = new StateGroup(view, group.Signature, [.. group.Slots.Select(s => s.ToWindowedFeature() with { IntValued = IntValued(s, schema) })], inputs, group.Building);
        }

        var missing = view.Definition.Features.Where((_, i) => places[i].Group < 0).Select(f => f.Name).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"the state layout of view '{view.Name}' stores no state for {string.Join(", ", missing)}");
        }

        view.Place(groups, places);
    }

    // A list of an int field answers integers; the state is the same as over a double field, so this follows the field's kind today.
    private static bool IntValued(StateSlot slot, EventSchema schema) =>
        slot.Field is { } field && schema.IndexOf(field) is var at and >= 0 && StateLayout.IsIntValued(slot.Aggregation, schema.Fields[at].Kind);

    // A dead slot may outlive its field, or the field's kind (a text `last` over a field now numeric): it is then
    // fed nothing rather than values its state cannot hold.
    private static int InputOf(StateSlot slot, EventSchema schema)
    {
        if (slot.Field is null)
        {
            return -1;
        }

        var at = schema.IndexOf(slot.Field);
        if (at < 0 || (AggregationKinds.KeepsText(slot.Aggregation) && slot.TextValued != (schema.Fields[at].Kind == FieldKind.String)))
        {
            return StateGroup.NoInput;
        }

        return at;
    }
}

/// <summary>
/// One state group of a view ready to run (<see cref="StateGroupLayout"/>): the features stored together in one
/// hash per entity, <c>PREFIX:PROJECT:fv:VIEW:SIGNATURE:ENTITY</c>, with where each reads its input.
/// </summary>
public sealed class StateGroup
{
    /// <summary>The input slot of a dead feature whose field the source no longer has: it is fed nothing.</summary>
    public const int NoInput = -2;

    internal StateGroup(CompiledView view, string signature, IReadOnlyList<WindowedFeature> features, IReadOnlyList<int> inputSlots, bool building)
    {
        View = view;
        Signature = signature;
        Features = features;
        InputSlots = inputSlots;
        Building = building;
        MaxHopMs = features.Count == 0 ? 0 : features.Max(f => f.Window.HopMs);
    }

    /// <summary>The view it belongs to.</summary>
    public CompiledView View { get; }

    /// <summary>The view's name.</summary>
    public string Name => View.Name;

    /// <summary>Its key's signature.</summary>
    public string Signature { get; }

    /// <summary>Its features' states for <see cref="ViewWindowState"/>, in slot order (dead slots included).</summary>
    public IReadOnlyList<WindowedFeature> Features { get; }

    /// <summary>Per slot, the source field slot it reads (-1 for count, <see cref="NoInput"/> for none).</summary>
    public IReadOnlyList<int> InputSlots { get; }

    /// <summary>The source field slots of the entity's join keys, in order.</summary>
    public IReadOnlyList<int> KeySlots => View.KeySlots;

    /// <summary>The view's ttl.</summary>
    public long TtlMs => View.TtlMs;

    /// <summary>The largest hop of its features (how long a tile may stay open).</summary>
    public long MaxHopMs { get; }

    /// <summary>True while it is built beside the serving groups (its features are not served yet).</summary>
    public bool Building { get; }
}
