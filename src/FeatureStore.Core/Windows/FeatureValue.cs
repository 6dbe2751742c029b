namespace FeatureStore.Core.Windows;

/// <summary>The status of a feature value (DESIGN.md §4, §8).</summary>
public enum ValueStatus
{
    /// <summary>A value is present.</summary>
    Present,

    /// <summary>The entity is known but the aggregation has no value over its window.</summary>
    NullValue,

    /// <summary>The entity has no event at or before the evaluation time.</summary>
    NotFound,

    /// <summary>The entity's newest event is older than the view's ttl.</summary>
    OutsideTtl,

    /// <summary>
    /// The instant lies before the state's retained span and a tile that would have to be cut at it also holds
    /// later events: no exact value can be given, so none is (never a value that counts later events).
    /// </summary>
    Inexact,

    /// <summary>
    /// The feature is new or changed in the newest repository version and its state is still being built
    /// beside the serving one: no value is given (never the zeros of an empty state).
    /// </summary>
    Building,
}

/// <summary>What kind of value a <see cref="FeatureValue"/> holds.</summary>
public enum ValueKind
{
    /// <summary>No value.</summary>
    None,

    /// <summary>A double.</summary>
    Double,

    /// <summary>A 64-bit integer (count, approx_distinct).</summary>
    Int64,

    /// <summary>Text (last of a string field).</summary>
    String,
}

/// <summary>A feature's value at an instant, with its status and the time of the newest event it aggregates.</summary>
public readonly record struct FeatureValue(ValueStatus Status, ValueKind Kind, double Double, long Int64, string? Text, long? EventTimeMs)
{
    /// <summary>A null value with a status.</summary>
    public static FeatureValue Null(ValueStatus status, long? eventTime = null) => new(status, ValueKind.None, 0, 0, null, eventTime);

    /// <summary>A present double.</summary>
    public static FeatureValue Of(double value, long? eventTime) => new(ValueStatus.Present, ValueKind.Double, value, 0, null, eventTime);

    /// <summary>A present integer.</summary>
    public static FeatureValue Of(long value, long? eventTime) => new(ValueStatus.Present, ValueKind.Int64, value, value, null, eventTime);

    /// <summary>A present string.</summary>
    public static FeatureValue Of(string value, long? eventTime) => new(ValueStatus.Present, ValueKind.String, 0, 0, value, eventTime);

    /// <summary>The value as an object (null when none), for display and JSON.</summary>
    public object? Boxed => Kind switch
    {
        ValueKind.Double => Double,
        ValueKind.Int64 => Int64,
        ValueKind.String => Text,
        _ => null,
    };
}

/// <summary>One event's input to one feature: the field's value (absent when the field was null or missing).</summary>
/// <param name="Present">False when the field was missing or null (count still counts the event).</param>
/// <param name="Number">The numeric value (or the value to keep for last).</param>
/// <param name="Hash">The value's hash for approx_distinct.</param>
/// <param name="Text">The text for last of a string field.</param>
public readonly record struct FeatureInput(bool Present, double Number, ulong Hash, string? Text)
{
    /// <summary>No value for the field.</summary>
    public static FeatureInput Absent => default;

    /// <summary>A number (its hash is that of the number).</summary>
    public static FeatureInput OfNumber(double value) => new(true, value, HyperLogLog.HashValue(value), null);

    /// <summary>A text value.</summary>
    public static FeatureInput OfText(string value) =>
        new(true, 0, HyperLogLog.HashValue(System.Text.Encoding.UTF8.GetBytes(value)), value);
}
