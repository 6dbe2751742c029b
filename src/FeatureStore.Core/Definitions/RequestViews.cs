namespace FeatureStore.Core.Definitions;

/// <summary>
/// A request view: features computed at lookup time from values sent with the lookup (its request context)
/// and the stored features of the same lookup (docs/request-features.md). Its features are asked for as
/// <c>view:feature</c> like stored ones.
/// </summary>
/// <param name="Name">The view's name, unique among feature views and request views.</param>
/// <param name="Context">The typed values each entity row of a lookup carries (the export's entity table columns of the same names).</param>
/// <param name="Features">Its features, in declaration order.</param>
/// <param name="Description">What it is, or null.</param>
public sealed record RequestViewDefinition(string Name, IReadOnlyList<FieldDefinition> Context, IReadOnlyList<RequestFeatureDefinition> Features, string? Description = null)
{
    /// <summary>The index of the feature named <paramref name="name"/>, or -1.</summary>
    public int IndexOf(string name)
    {
        for (var i = 0; i < Features.Count; i++)
        {
            if (Features[i].Name == name)
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>A request-time feature: its name, the type of its value, and the expression that computes it.</summary>
/// <param name="Name">The feature's name within its request view.</param>
/// <param name="Type">Its value's type: <c>double</c>, <c>int</c> or <c>string</c>.</param>
/// <param name="Expression">The expression over the view's context fields and <c>view.feature</c> references.</param>
public sealed record RequestFeatureDefinition(string Name, Events.FieldKind Type, string Expression);
