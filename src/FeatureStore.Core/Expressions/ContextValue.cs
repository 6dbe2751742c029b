using FeatureStore.Core.Events;

namespace FeatureStore.Core.Expressions;

/// <summary>
/// One value of a lookup's request context (or of the export's entity-table column of that name), as the
/// request-time expressions read it: a number (int and double fields), text, a flag, or an instant in epoch
/// milliseconds; or null.
/// </summary>
public readonly record struct ContextValue(FieldKind Kind, bool Present, double Number, string? Text)
{
    /// <summary>Null of any kind.</summary>
    public static ContextValue Null => default;

    /// <summary>A number (an int or double field).</summary>
    public static ContextValue Of(double value) => new(FieldKind.Double, true, value, null);

    /// <summary>Text.</summary>
    public static ContextValue Of(string value) => new(FieldKind.String, true, 0, value);

    /// <summary>A flag.</summary>
    public static ContextValue Of(bool value) => new(FieldKind.Bool, true, value ? 1 : 0, null);

    /// <summary>An instant, in ms since the epoch.</summary>
    public static ContextValue Instant(long epochMs) => new(FieldKind.Timestamp, true, epochMs, null);
}
