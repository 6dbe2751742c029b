using System.Globalization;
using System.Text;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Expressions;

namespace FeatureStore.Serving.Internal;

/// <summary>The request views of a served version: their references and the stored features each reads.</summary>
internal sealed partial class ServingRepository
{
    /// <summary>Request views by index (a request column's <see cref="FeatureColumn.RequestView"/>).</summary>
    public CompiledRequestView[] RequestViews { get; private set; } = [];

    /// <summary>Per request view, the stored columns of its <see cref="CompiledRequestView.Dependencies"/>, in order.</summary>
    public FeatureColumn[][] RequestDependencies { get; private set; } = [];

    /// <summary>The columns of <c>request_view:feature</c> or of a whole request view, or null.</summary>
    public FeatureColumn[]? ResolveRequest(string reference) => _requestReferences.GetValueOrDefault(reference);

    private Dictionary<string, FeatureColumn[]> RequestReferences()
    {
        var references = new Dictionary<string, FeatureColumn[]>(StringComparer.Ordinal);
        var views = Compiled.RequestViews;
        RequestViews = [.. views];
        RequestDependencies = new FeatureColumn[views.Count][];
        for (var r = 0; r < views.Count; r++)
        {
            var view = views[r];
            var all = new FeatureColumn[view.Definition.Features.Count];
            for (var f = 0; f < all.Length; f++)
            {
                var reference = view.Name + ":" + view.Definition.Features[f].Name;
                all[f] = new FeatureColumn(-1 - r, f, reference);
                references[reference] = [all[f]];
            }

            references[view.Name] = all;
            RequestDependencies[r] = [.. view.Dependencies.Select(d => _references[d.View + ":" + d.Feature][0])];
        }

        return references;
    }

    /// <summary>
    /// Row <paramref name="row"/>'s value of context field <paramref name="field"/> of request view <paramref name="view"/>,
    /// checked against the field's type; a missing field or a value of another type is INVALID_ARGUMENT naming it.
    /// </summary>
    public static ContextValue ContextOf(LookupRequest request, int row, FieldDefinition field, string view)
    {
        if (!request.TryGetContext(row, field.Name, out var entry))
        {
            return ThrowHelper.ThrowInvalid<ContextValue>(
                $"entity row {row + 1} has no request context field '{field.Name}' (request view '{view}' reads it; send it in request_context)");
        }

        switch (field.Kind, entry.Kind)
        {
            case (_, ContextEntryKind.Null):
                return ContextValue.Null;
            case (FieldKind.Double, ContextEntryKind.Number):
                return ContextValue.Of(entry.Number);
            case (FieldKind.Int, ContextEntryKind.Number) when entry.Number == Math.Truncate(entry.Number) && Math.Abs(entry.Number) <= 9_007_199_254_740_992:
                return ContextValue.Of(entry.Number);
            case (FieldKind.String, ContextEntryKind.Text):
                return ContextValue.Of(entry.Text!);
            case (FieldKind.Bool, ContextEntryKind.Flag):
                return ContextValue.Of(entry.Number != 0);
            case (FieldKind.Timestamp, ContextEntryKind.Number) when entry.Number == Math.Truncate(entry.Number) && Math.Abs(entry.Number) < 253_402_300_800_000:
                return ContextValue.Instant((long)entry.Number);
            case (FieldKind.Timestamp, ContextEntryKind.Text) when Rfc3339.TryParse(Encoding.UTF8.GetBytes(entry.Text!), out var ms):
                return ContextValue.Instant(ms);
            default:
                var expected = field.Kind switch
                {
                    FieldKind.Double => "a number",
                    FieldKind.Int => "a whole number",
                    FieldKind.String => "a string",
                    FieldKind.Bool => "true or false",
                    _ => "an RFC 3339 time or epoch milliseconds",
                };
                var got = entry.Kind switch
                {
                    ContextEntryKind.Number => "the number " + entry.Number.ToString("R", CultureInfo.InvariantCulture),
                    ContextEntryKind.Text => $"the string '{ThrowHelper.Shown(entry.Text!)}'",
                    ContextEntryKind.Flag => entry.Number != 0 ? "true" : "false",
                    _ => "a list or a structure",
                };
                return ThrowHelper.ThrowInvalid<ContextValue>(
                    $"entity row {row + 1}: request context field '{field.Name}' (request view '{view}') is {field.Kind.ToString().ToLowerInvariant()}: it must be {expected}, not {got}");
        }
    }
}
