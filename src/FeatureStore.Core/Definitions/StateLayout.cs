using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Definitions;

/// <summary>
/// One slot of a state group: the shape of one feature's stored state (what its codec needs) and the view
/// feature it serves, or null when the feature was removed or changed since the group was built (a dead slot:
/// still carried in the group's state, never read).
/// </summary>
/// <param name="Feature">The view feature it serves, or null.</param>
/// <param name="Aggregation">Its aggregation.</param>
/// <param name="Field">Its field; null for count.</param>
/// <param name="WindowMs">Its window (0: lifetime).</param>
/// <param name="HopMs">Its hop.</param>
/// <param name="TextValued">Whether it keeps text values (<c>last</c>, <c>last_n</c>, <c>last_n_distinct</c>, <c>top_k</c> of a string field).</param>
/// <param name="Parameter">p, n or k of percentile, last_n(_distinct) and top_k; 0 for the others.</param>
public sealed record StateSlot(string? Feature, AggregationKind Aggregation, string? Field, long WindowMs, long HopMs, bool TextValued, double Parameter = 0)
{
    /// <summary>Whether this slot has the shape <paramref name="other"/> has (the feature's name aside).</summary>
    public bool SameShape(StateSlot other) =>
        Aggregation == other.Aggregation && Field == other.Field && WindowMs == other.WindowMs && HopMs == other.HopMs && TextValued == other.TextValued
        && Parameter == other.Parameter;

    /// <summary>The slot's state as <see cref="ViewWindowState"/> takes it.</summary>
    public WindowedFeature ToWindowedFeature() => new(Aggregation, new WindowSpec(WindowMs, HopMs), TextValued, Parameter);

    internal string ShapeText => StateLayout.ShapeText(Aggregation, Field, WindowMs, HopMs, Parameter);
}

/// <summary>
/// A set of a view's features stored together: one hash per entity, <c>PREFIX:PROJECT:fv:VIEW:SIGNATURE:ENTITY</c>.
/// </summary>
/// <param name="Signature">Its key's signature.</param>
/// <param name="Slots">Its features' states, in the order they are encoded.</param>
/// <param name="Building">True while it is built beside the serving groups (its features answer BUILDING).</param>
public sealed record StateGroupLayout(string Signature, IReadOnlyList<StateSlot> Slots, bool Building)
{
    /// <summary>Whether any slot still serves a feature.</summary>
    [JsonIgnore]
    public bool Live => Slots.Any(s => s.Feature is not null);
}

/// <summary>A view's state groups: those serving, and at most one building.</summary>
/// <param name="Groups">The groups, serving ones first.</param>
public sealed record ViewLayout(IReadOnlyList<StateGroupLayout> Groups)
{
    /// <summary>The group being built, or null.</summary>
    [JsonIgnore]
    public StateGroupLayout? BuildingGroup => Groups.FirstOrDefault(g => g.Building);
}

/// <summary>
/// How each view's online state is split into state groups (docs/evolution.md): the registry keeps one per
/// applied version. A view never changed has one group whose signature is the classic hash of all its
/// features, so its keys stay where they always were. A change keeps each unchanged feature in its group and
/// puts every added or changed feature into one new group that is built beside the serving ones, from the
/// event log and the stream, and then switched in.
/// </summary>
/// <param name="Views">Per view name, its groups.</param>
public sealed record StateLayout(IReadOnlyDictionary<string, ViewLayout> Views)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>Every view's groups and their building state, one line per group (for logs and messages).</summary>
    public override string ToString() => string.Join("; ", Views.Select(v =>
        v.Key + ": " + string.Join(", ", v.Value.Groups.Select(g => g.Signature + (g.Building ? " (building)" : "")))));

    /// <summary>The layout in JSON, as the registry stores it.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a layout stored by <see cref="ToJson"/>.</summary>
    public static StateLayout FromJson(string json) =>
        JsonSerializer.Deserialize<StateLayout>(json, Json) ?? throw new JsonException("empty state layout");

    /// <summary>Each view in one group with its classic signature: the layout of a repository never changed.</summary>
    public static StateLayout Default(FeatureRepository repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        return new StateLayout(repository.FeatureViews.ToDictionary(v => v.Name, v => DefaultView(repository, v), StringComparer.Ordinal));
    }

    /// <summary>The one group of a view never changed.</summary>
    public static ViewLayout DefaultView(FeatureRepository repository, FeatureViewDefinition view)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(view);
        var slots = Slots(repository, view, view.Features);
        return new ViewLayout([new StateGroupLayout(ClassicSignature(view), slots, Building: false)]);
    }

    /// <summary>
    /// The short hash of a whole view's features (aggregation, field, window and hop; not names nor ttl): the
    /// signature of a view's only group when it was never changed, and of its offline snapshots.
    /// </summary>
    public static string ClassicSignature(FeatureViewDefinition view)
    {
        ArgumentNullException.ThrowIfNull(view);
        return Hash(string.Join('|', view.Features.Select(f => ShapeText(f.Aggregation, f.Field, f.Window.WindowMs, f.Window.HopMs, f.Parameter))));
    }

    /// <summary>Whether a feature of <paramref name="aggregation"/> over a field of <paramref name="fieldKind"/> keeps text values.</summary>
    public static bool IsTextValued(AggregationKind aggregation, FieldKind? fieldKind) => AggregationKinds.KeepsText(aggregation) && fieldKind == FieldKind.String;

    /// <summary>
    /// Whether a feature's value is a list of integers: <c>last_n</c> and <c>last_n_distinct</c> of an int field.
    /// Its state is the same as over a double field (values held as doubles), so this is no part of a slot's shape.
    /// </summary>
    public static bool IsIntValued(AggregationKind aggregation, FieldKind? fieldKind) =>
        aggregation is AggregationKind.LastN or AggregationKind.LastNDistinct && fieldKind == FieldKind.Int;

    // The parameter only for the aggregations that take one, so that older views keep their signatures.
    internal static string ShapeText(AggregationKind aggregation, string? field, long windowMs, long hopMs, double parameter) =>
        AggregationKinds.HasParameter(aggregation)
            ? $"{aggregation}:{field}:{windowMs}:{hopMs}:{parameter.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}"
            : $"{aggregation}:{field}:{windowMs}:{hopMs}";

    /// <summary>
    /// The layout of <paramref name="next"/>, applied as version <paramref name="version"/> over
    /// <paramref name="previous"/> (null: nothing applied) whose layout was <paramref name="previousLayout"/>
    /// (null: the default one). Per view: an unchanged feature (same aggregation, field, window, hop) stays in its
    /// serving group; an added or changed feature goes to a group built beside them (the same one as before when
    /// the features to build are the same as the building group's; otherwise a new one, which replaces it); a
    /// removed or changed feature's slot is dead, and a serving group with no live slot is dropped. A new view has
    /// its default layout (it has no state to keep); a view whose source or entity changed keeps none of its state
    /// (it is fed by another stream or keyed by another entity): all its features are built anew.
    /// </summary>
    public static StateLayout Next(FeatureRepository? previous, StateLayout? previousLayout, FeatureRepository next, long version)
    {
        ArgumentNullException.ThrowIfNull(next);
        var views = new Dictionary<string, ViewLayout>(StringComparer.Ordinal);
        foreach (var view in next.FeatureViews)
        {
            var before = previous?.FindView(view.Name);
            if (previous is null || before is null)
            {
                views[view.Name] = DefaultView(next, view);
                continue;
            }

            var old = before.Source != view.Source || before.Entity != view.Entity ? new ViewLayout([])
                : previousLayout?.Views.GetValueOrDefault(view.Name) ?? DefaultView(previous, before);
            views[view.Name] = NextView(next, view, old, version);
        }

        return new StateLayout(views);
    }

    /// <summary>This layout with the building group <paramref name="signature"/> of <paramref name="view"/> serving; null when there is no such group.</summary>
    public StateLayout? Switched(string view, string signature)
    {
        if (!Views.TryGetValue(view, out var layout) || layout.BuildingGroup is not { } building || building.Signature != signature)
        {
            return null;
        }

        var views = new Dictionary<string, ViewLayout>(Views, StringComparer.Ordinal)
        {
            [view] = new ViewLayout([.. layout.Groups.Select(g => g == building ? g with { Building = false } : g)]),
        };
        return new StateLayout(views);
    }

    private static ViewLayout NextView(FeatureRepository next, FeatureViewDefinition view, ViewLayout old, long version)
    {
        var wanted = Slots(next, view, view.Features).ToDictionary(s => s.Feature!, StringComparer.Ordinal);
        var groups = new List<StateGroupLayout>();
        var served = new HashSet<string>(StringComparer.Ordinal);
        foreach (var group in old.Groups.Where(g => !g.Building))
        {
            var slots = group.Slots.Select(s =>
                s.Feature is { } name && wanted.TryGetValue(name, out var want) && want.SameShape(s) && served.Add(name) ? s : s with { Feature = null }).ToList();
            var kept = group with { Slots = slots };
            if (kept.Live)
            {
                groups.Add(kept);
            }
        }

        var toBuild = view.Features.Where(f => !served.Contains(f.Name)).Select(f => wanted[f.Name]).ToList();
        if (toBuild.Count == 0)
        {
            return new ViewLayout(groups);
        }

        // The group already building goes on when it builds exactly these features: a version that changes
        // something else of the view, or nothing of it, does not start its build over.
        if (old.BuildingGroup is { } building && building.Slots.Count == toBuild.Count
            && building.Slots.All(s => s.Feature is { } name && wanted.TryGetValue(name, out var want) && want.SameShape(s)))
        {
            groups.Add(building);
        }
        else
        {
            var signature = Hash($"v{version}|" + string.Join('|', toBuild.Select(s => s.ShapeText)));
            groups.Add(new StateGroupLayout(signature, toBuild, Building: true));
        }

        return new ViewLayout(groups);
    }

    private static List<StateSlot> Slots(FeatureRepository repository, FeatureViewDefinition view, IEnumerable<FeatureDefinition> features)
    {
        var source = repository.FindSource(view.Source);
        return [.. features.Select(f => new StateSlot(f.Name, f.Aggregation, f.Field, f.Window.WindowMs, f.Window.HopMs,
            f.Field is not null && IsTextValued(f.Aggregation, source?.FindField(f.Field)?.Kind), f.Parameter))];
    }

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..8];
}
