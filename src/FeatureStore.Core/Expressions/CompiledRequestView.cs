using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Expressions;

/// <summary>
/// A request view compiled once per repository version: each feature's expression a delegate, and the stored
/// features they read (<see cref="Dependencies"/>). The online lookup and the export both evaluate it through
/// <see cref="Evaluate"/>, so both give the same values for the same inputs.
/// </summary>
public sealed class CompiledRequestView
{
    private readonly CompiledExpression[] _features;
    private readonly (ExpressionKind Kind, int Slot)[] _context;
    private readonly SlotLayout _layout;
    private ExpressionSlots? _spare;

    private CompiledRequestView(RequestViewDefinition definition, SlotLayout layout, (ExpressionKind, int)[] context, CompiledExpression[] features)
    {
        Definition = definition;
        _layout = layout;
        _context = context;
        _features = features;
        Dependencies = [.. layout.Dependencies.Select(d => (d.Name[..d.Name.IndexOf('.', StringComparison.Ordinal)], d.Name[(d.Name.IndexOf('.', StringComparison.Ordinal) + 1)..]))];
    }

    /// <summary>The view as declared.</summary>
    public RequestViewDefinition Definition { get; }

    /// <summary>The view's name.</summary>
    public string Name => Definition.Name;

    /// <summary>The stored features its expressions read, (view, feature), in the order <see cref="Evaluate"/> takes their values.</summary>
    public IReadOnlyList<(string View, string Feature)> Dependencies { get; }

    /// <summary>
    /// Compiles <paramref name="definition"/>; <paramref name="resolve"/> gives the kind of a stored feature
    /// (view, feature) or null when there is none, <paramref name="views"/> are the feature views' names. Each
    /// expression's error goes to <paramref name="report"/> with the feature's index; null when there was any.
    /// </summary>
    public static CompiledRequestView? Compile(
        RequestViewDefinition definition, Func<string, string, ExpressionKind?> resolve, IReadOnlyCollection<string> views, Action<int, ExpressionError> report)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(resolve);
        ArgumentNullException.ThrowIfNull(report);
        var layout = new SlotLayout();
        var context = new (ExpressionKind, int)[definition.Context.Count];
        for (var i = 0; i < context.Length; i++)
        {
            var place = layout.Add(definition.Context[i].Name, KindOf(definition.Context[i].Kind), dependency: false);
            context[i] = (place.Kind, place.Slot);
        }

        var features = new CompiledExpression[definition.Features.Count];
        var failed = false;
        for (var f = 0; f < features.Length; f++)
        {
            var feature = definition.Features[f];
            var compiled = ExpressionCompiler.Compile(feature.Expression, layout, resolve, views, out var error);
            if (compiled is not null && !Fits(compiled.Result, feature.Type))
            {
                error = new ExpressionError(0, ExpressionCompiler.Codes.TypeOrSyntax,
                    $"the expression gives {Describe(compiled.Result)} but feature '{feature.Name}' is declared {feature.Type.ToString().ToLowerInvariant()}",
                    compiled.Result switch
                    {
                        ExpressionKind.Number => "declare type: double (or int)",
                        ExpressionKind.Text => "declare type: string",
                        ExpressionKind.Flag => "a feature's value is a number or text: write (condition) ? 1 : 0 with type: int",
                        _ => "read a part of it: hour(t), day_of_week(t), epoch_ms(t), ...",
                    });
                compiled = null;
            }

            if (compiled is null)
            {
                report(f, error!);
                failed = true;
                continue;
            }

            features[f] = compiled;
        }

        return failed ? null : new CompiledRequestView(definition, layout, context, features);
    }

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
    /// <see cref="Dependencies"/> in order, <paramref name="context"/> the row's context in the order of the
    /// view's context fields; the results go to <paramref name="results"/>, one per feature. A stored value
    /// counts as null in the expression unless it is PRESENT. A feature that reads a value that is BUILDING or
    /// INEXACT takes that status, without a value; a null (or non-finite) result carries the status of the
    /// first value it reads that is not PRESENT (NULL_VALUE when all are); a value carries the newest event
    /// time among the values it reads.
    /// </summary>
    public void Evaluate(ReadOnlySpan<FeatureValue> dependencies, ReadOnlySpan<ContextValue> context, Span<FeatureValue> results)
    {
        if (dependencies.Length != Dependencies.Count || context.Length != _context.Length || results.Length < _features.Length)
        {
            throw new ArgumentException($"request view '{Name}' takes {Dependencies.Count} stored values, {_context.Length} context values and {_features.Length} results");
        }

        var slots = Interlocked.Exchange(ref _spare, null)
            ?? new ExpressionSlots(_layout.Count(ExpressionKind.Number), _layout.Count(ExpressionKind.Text), _layout.Count(ExpressionKind.Flag), _layout.Count(ExpressionKind.Time));
        for (var i = 0; i < _context.Length; i++)
        {
            Set(slots, _context[i].Kind, _context[i].Slot, context[i]);
        }

        for (var d = 0; d < dependencies.Length; d++)
        {
            var (_, kind, slot) = _layout.Dependencies[d];
            ref readonly var value = ref dependencies[d];
            var present = value.Status == ValueStatus.Present && value.Kind != ValueKind.None;
            if (kind == ExpressionKind.Text)
            {
                slots.Texts[slot] = present ? value.Text : null;
            }
            else
            {
                slots.Numbers[slot] = !present ? null : value.Kind == ValueKind.Int64 ? value.Int64 : value.Double;
            }
        }

        for (var f = 0; f < _features.Length; f++)
        {
            results[f] = One(_features[f], Definition.Features[f].Type, slots, dependencies);
        }

        _spare = slots;
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
