using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Expressions;

/// <summary>
/// A request view compiled once per repository version: each feature's expression a delegate, and the stored
/// features they read (<see cref="Dependencies"/>). A feature may read another request-time feature, of its own
/// view or of another (<c>view.feature</c> either way): the view then evaluates the request views it reads first,
/// each once per row, in a dependency order (cycles are refused when compiling), so it takes the stored features
/// and the context of all of them (<see cref="Dependencies"/>, <see cref="Context"/>). The online lookup and the
/// export both evaluate it through <see cref="Evaluate"/>, so both give the same values for the same inputs.
/// </summary>
public sealed partial class CompiledRequestView
{
    private readonly Step[] _plan;
    private Scratch? _spare;

    private CompiledRequestView(Core core, Step[] plan, IReadOnlyList<(string View, string Feature)> dependencies, IReadOnlyList<FieldDefinition> context)
    {
        Definition = core.Definition;
        _plan = plan;
        Dependencies = dependencies;
        Context = context;
    }

    /// <summary>The view as declared.</summary>
    public RequestViewDefinition Definition { get; }

    /// <summary>The view's name.</summary>
    public string Name => Definition.Name;

    /// <summary>
    /// The stored features its expressions read, (view, feature), in the order <see cref="Evaluate"/> takes their
    /// values: its own, then those of the request views it reads.
    /// </summary>
    public IReadOnlyList<(string View, string Feature)> Dependencies { get; }

    /// <summary>
    /// The context fields <see cref="Evaluate"/> takes, in order: the view's own, then those of the request views it
    /// reads that it does not declare itself (a lookup sends them, an export reads them from its entity table).
    /// </summary>
    public IReadOnlyList<FieldDefinition> Context { get; }

    /// <summary>The request views it reads (besides itself), dependencies first.</summary>
    public IReadOnlyList<string> Reads => [.. _plan.Take(_plan.Length - 1).Select(s => s.Core.Definition.Name)];

    /// <summary>
    /// Compiles <paramref name="definition"/> alone (it may read its own features, not another request view's); see
    /// <see cref="CompileAll"/>.
    /// </summary>
    public static CompiledRequestView? Compile(
        RequestViewDefinition definition, Func<string, string, ExpressionKind?> resolve, IReadOnlyCollection<string> views, Action<int, ExpressionError> report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return CompileAll([definition], resolve, views, (_, f, error) => report(f, error))[0];
    }

    /// <summary>
    /// Compiles request views together, so each may read the others' features: <paramref name="resolve"/> gives the
    /// kind of a stored feature (view, feature) or null when there is none, <paramref name="views"/> are the feature
    /// views' names. Each problem goes to <paramref name="report"/> with the view's and the feature's index; a view
    /// with a problem, or reading one that has, is null.
    /// </summary>
    public static CompiledRequestView?[] CompileAll(
        IReadOnlyList<RequestViewDefinition> definitions, Func<string, string, ExpressionKind?> resolve, IReadOnlyCollection<string> views, Action<int, int, ExpressionError> report)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        ArgumentNullException.ThrowIfNull(resolve);
        ArgumentNullException.ThrowIfNull(report);
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var v = 0; v < definitions.Count; v++)
        {
            byName.TryAdd(definitions[v].Name, v);
        }

        ExpressionKind? Resolve(string view, string feature)
        {
            if (!byName.TryGetValue(view, out var r))
            {
                return resolve(view, feature);
            }

            var at = definitions[r].IndexOf(feature);
            return at < 0 ? null : definitions[r].Features[at].Type == FieldKind.String ? ExpressionKind.Text : ExpressionKind.Number;
        }

        var names = views.Concat(byName.Keys).ToHashSet(StringComparer.Ordinal);
        var cores = new Core?[definitions.Count];
        for (var v = 0; v < cores.Length; v++)
        {
            var view = v;
            cores[v] = Core.Compile(definitions[v], Resolve, names, (f, error) => report(view, f, Named(error, byName)));
        }

        var failed = cores.Select(c => c is null).ToArray();
        RequestGraph.Check(cores, byName, failed, report);
        var result = new CompiledRequestView?[definitions.Count];
        for (var v = 0; v < result.Length; v++)
        {
            if (!failed[v])
            {
                result[v] = Link(v, cores!, byName, report);
            }
        }

        return result;
    }

    // The compiler knows views by name only: a request view's unknown feature is said to be of a request view.
    private static ExpressionError Named(ExpressionError error, Dictionary<string, int> byName)
    {
        const string Prefix = "feature view '";
        if (error.Code != ExpressionCompiler.Codes.UnknownFeature || !error.Message.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return error;
        }

        var end = error.Message.IndexOf('\'', Prefix.Length);
        return end > 0 && byName.ContainsKey(error.Message[Prefix.Length..end]) ? error with { Message = "request view '" + error.Message[Prefix.Length..] } : error;
    }

    // The plan of view v: the views it reads, dependencies first, then itself; stored features and context merged.
    private static CompiledRequestView? Link(int v, Core[] cores, Dictionary<string, int> byName, Action<int, int, ExpressionError> report)
    {
        var order = new List<int>();
        Visit(v, cores, byName, order, new HashSet<int>());
        var dependencies = new List<(string View, string Feature)>();
        var context = new List<FieldDefinition>(cores[v].Definition.Context);
        var stepOf = new Dictionary<int, int>();
        var plan = new Step[order.Count];
        for (var s = 0; s < order.Count; s++)
        {
            var core = cores[order[s]];
            stepOf[order[s]] = s;
            var contextMap = new int[core.Definition.Context.Count];
            for (var i = 0; i < contextMap.Length; i++)
            {
                var field = core.Definition.Context[i];
                var at = context.FindIndex(c => c.Name == field.Name);
                if (at < 0)
                {
                    context.Add(field);
                    at = context.Count - 1;
                }
                else if (context[at].Kind != field.Kind)
                {
                    const int reader = 0;
                    report(v, reader, new ExpressionError(0, Codes.Conflict,
                        $"request view '{cores[v].Definition.Name}' reads request view '{core.Definition.Name}', whose context field '{field.Name}' is {Kind(field.Kind)} where '{cores[v].Definition.Name}' reads it as {Kind(context[at].Kind)}",
                        "a lookup sends one value per context field name: give the field one type in both views, or another name"));
                    return null;
                }

                contextMap[i] = at;
            }

            var dependencyMap = new (int Step, int Index)[core.Layout.Dependencies.Count];
            for (var d = 0; d < dependencyMap.Length; d++)
            {
                var name = core.Layout.Dependencies[d].Name;
                var dot = name.IndexOf('.', StringComparison.Ordinal);
                var (view, feature) = (name[..dot], name[(dot + 1)..]);
                if (byName.TryGetValue(view, out var r))
                {
                    dependencyMap[d] = (stepOf[r], cores[r].Definition.IndexOf(feature));
                    continue;
                }

                var at = dependencies.IndexOf((view, feature));
                if (at < 0)
                {
                    dependencies.Add((view, feature));
                    at = dependencies.Count - 1;
                }

                dependencyMap[d] = (-1, at);
            }

            plan[s] = new Step(core, contextMap, dependencyMap);
        }

        return new CompiledRequestView(cores[v], plan, dependencies, context);
    }

    private static void Visit(int v, Core[] cores, Dictionary<string, int> byName, List<int> order, HashSet<int> seen)
    {
        if (!seen.Add(v))
        {
            return;
        }

        foreach (var read in cores[v].ReadViews(byName).Where(r => r != v))
        {
            Visit(read, cores, byName, order, seen);
        }

        order.Add(v);
    }

    private static string Kind(FieldKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>What a context field of kind <paramref name="kind"/> is in an expression.</summary>
    public static ExpressionKind KindOf(FieldKind kind) => kind switch
    {
        FieldKind.Int or FieldKind.Double => ExpressionKind.Number,
        FieldKind.String => ExpressionKind.Text,
        FieldKind.Bool => ExpressionKind.Flag,
        _ => ExpressionKind.Time,
    };

    /// <summary>
    /// Evaluates every feature for one entity row: <paramref name="dependencies"/> holds the values of
    /// <see cref="Dependencies"/> in order, <paramref name="context"/> the row's context in the order of
    /// <see cref="Context"/>; the results go to <paramref name="results"/>, one per feature. A stored value (or a
    /// request-time value read by another) counts as null in the expression unless it is PRESENT. A feature that
    /// reads a value that is BUILDING or INEXACT takes that status, without a value; a null (or non-finite) result
    /// carries the status of the first value it reads that is not PRESENT (NULL_VALUE when all are); a value carries
    /// the newest event time among the values it reads.
    /// </summary>
    public void Evaluate(ReadOnlySpan<FeatureValue> dependencies, ReadOnlySpan<ContextValue> context, Span<FeatureValue> results)
    {
        var own = _plan[^1].Core;
        if (dependencies.Length != Dependencies.Count || context.Length != Context.Count || results.Length < own.Features.Length)
        {
            throw new ArgumentException($"request view '{Name}' takes {Dependencies.Count} stored values, {Context.Count} context values and {own.Features.Length} results");
        }

        var scratch = Interlocked.Exchange(ref _spare, null) ?? new Scratch(_plan);
        for (var s = 0; s < _plan.Length; s++)
        {
            var step = _plan[s];
            var core = step.Core;
            var slots = scratch.Slots[s];
            var inputs = scratch.Inputs[s];
            Span<FeatureValue> outputs = s == _plan.Length - 1 ? results : scratch.Results[s];
            for (var i = 0; i < step.ContextMap.Length; i++)
            {
                Set(slots, core.ContextKinds[i].Kind, core.ContextKinds[i].Slot, context[step.ContextMap[i]]);
            }

            for (var d = 0; d < step.DependencyMap.Length; d++)
            {
                var (from, index) = step.DependencyMap[d];
                if (from < 0)
                {
                    inputs[d] = dependencies[index];
                }
                else if (from < s)
                {
                    inputs[d] = scratch.Results[from][index];
                }
                else
                {
                    continue; // a feature of this view: set once computed, before any feature reading it
                }

                SetDependency(slots, core.Layout.Dependencies[d].Kind, core.Layout.Dependencies[d].Slot, inputs[d]);
            }

            foreach (var f in core.Order)
            {
                outputs[f] = One(core.Features[f], core.Definition.Features[f].Type, slots, inputs);
                foreach (var d in core.ReadersOf[f])
                {
                    inputs[d] = outputs[f];
                    SetDependency(slots, core.Layout.Dependencies[d].Kind, core.Layout.Dependencies[d].Slot, inputs[d]);
                }
            }
        }

        _spare = scratch;
    }

    private static void SetDependency(ExpressionSlots slots, ExpressionKind kind, int slot, in FeatureValue value)
    {
        var present = value.Status == ValueStatus.Present && value.Kind != ValueKind.None;
        if (kind == ExpressionKind.Text)
        {
            slots.Texts[slot] = present ? value.Text : null;
        }
        else
        {
            slots.Numbers[slot] = !present ? null : value.Kind switch
            {
                ValueKind.Int64 => value.Int64,
                ValueKind.Double => value.Double,
                _ => null, // a list or counts has no number: read as null (validation refuses them in expressions)
            };
        }
    }

    private static FeatureValue One(CompiledExpression feature, FieldKind type, ExpressionSlots slots, ReadOnlySpan<FeatureValue> dependencies)
    {
        long? newest = null;
        var missing = ValueStatus.Present;
        foreach (var d in feature.Dependencies)
        {
            var status = dependencies[d].Status;
            if (status is ValueStatus.Building or ValueStatus.Inexact)
            {
                return FeatureValue.Null(status);
            }

            if (missing == ValueStatus.Present && (status != ValueStatus.Present || dependencies[d].Kind == ValueKind.None))
            {
                missing = status == ValueStatus.Present ? ValueStatus.NullValue : status;
            }

            if (dependencies[d].EventTimeMs is { } t && (newest is null || t > newest))
            {
                newest = t;
            }
        }

        var empty = missing == ValueStatus.Present ? ValueStatus.NullValue : missing;
        if (feature.Text is { } text)
        {
            return text(slots) is { } s ? FeatureValue.Of(s, newest) : FeatureValue.Null(empty, newest);
        }

        var number = feature.Number!(slots);
        if (number is not { } n || !double.IsFinite(n))
        {
            return FeatureValue.Null(empty, newest);
        }

        if (type != FieldKind.Int)
        {
            return FeatureValue.Of(n, newest);
        }

        var truncated = Math.Truncate(n);
        return truncated is >= long.MinValue and < 9.2233720368547758E+18 ? FeatureValue.Of((long)truncated, newest) : FeatureValue.Null(empty, newest);
    }

    private static void Set(ExpressionSlots slots, ExpressionKind kind, int slot, in ContextValue value)
    {
        switch (kind)
        {
            case ExpressionKind.Number:
                slots.Numbers[slot] = value.Present ? value.Number : null;
                break;
            case ExpressionKind.Text:
                slots.Texts[slot] = value.Present ? value.Text : null;
                break;
            case ExpressionKind.Flag:
                slots.Flags[slot] = value.Present ? value.Number != 0 : null;
                break;
            default:
                slots.Times[slot] = value.Present ? DateTime.UnixEpoch.AddTicks((long)value.Number * TimeSpan.TicksPerMillisecond) : null;
                break;
        }
    }

    private static bool Fits(ExpressionKind result, FieldKind declared) => (result, declared) switch
    {
        (ExpressionKind.Number, FieldKind.Double or FieldKind.Int) => true,
        (ExpressionKind.Text, FieldKind.String) => true,
        _ => false,
    };

    private static string Describe(ExpressionKind kind) => kind switch
    {
        ExpressionKind.Number => "a number",
        ExpressionKind.Text => "text",
        ExpressionKind.Flag => "true or false",
        _ => "a timestamp",
    };
}
