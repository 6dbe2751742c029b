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

    /// <summary>A list of texts, newest first (last_n, last_n_distinct of a string field): <see cref="FeatureValue.Strings"/>.</summary>
    StringList,

    /// <summary>A list of numbers, newest first (last_n, last_n_distinct of a numeric field): <see cref="FeatureValue.Doubles"/>.</summary>
    DoubleList,

    /// <summary>Values with their counts, most frequent first (top_k): <see cref="FeatureValue.Counts"/>.</summary>
    Counts,

    /// <summary>A list of integers, newest first (last_n, last_n_distinct of an int field): <see cref="FeatureValue.Int64s"/>.</summary>
    Int64List,
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

    /// <summary>The texts of a <see cref="ValueKind.StringList"/>, newest first.</summary>
    public IReadOnlyList<string>? Strings { get; init; }

    /// <summary>The numbers of a <see cref="ValueKind.DoubleList"/>, newest first.</summary>
    public IReadOnlyList<double>? Doubles { get; init; }

    /// <summary>The integers of a <see cref="ValueKind.Int64List"/>, newest first.</summary>
    public IReadOnlyList<long>? Int64s { get; init; }

    /// <summary>The values and counts of <see cref="ValueKind.Counts"/>, most frequent first (ties: smaller value first).</summary>
    public IReadOnlyList<ValueCount>? Counts { get; init; }

    /// <summary>A present list of texts.</summary>
    public static FeatureValue OfStrings(IReadOnlyList<string> values, long? eventTime) => new(ValueStatus.Present, ValueKind.StringList, 0, 0, null, eventTime) { Strings = values };

    /// <summary>A present list of numbers.</summary>
    public static FeatureValue OfDoubles(IReadOnlyList<double> values, long? eventTime) => new(ValueStatus.Present, ValueKind.DoubleList, 0, 0, null, eventTime) { Doubles = values };

    /// <summary>A present list of integers.</summary>
    public static FeatureValue OfInt64s(IReadOnlyList<long> values, long? eventTime) => new(ValueStatus.Present, ValueKind.Int64List, 0, 0, null, eventTime) { Int64s = values };

    /// <summary>Present values with counts.</summary>
    public static FeatureValue OfCounts(IReadOnlyList<ValueCount> counts, long? eventTime) => new(ValueStatus.Present, ValueKind.Counts, 0, 0, null, eventTime) { Counts = counts };

    /// <summary>
    /// The value as an object (null when none), for display and JSON: a list as a list, counts as an ordered
    /// map of value to count.
    /// </summary>
    public object? Boxed => Kind switch
    {
        ValueKind.Double => Double,
        ValueKind.Int64 => Int64,
        ValueKind.String => Text,
        ValueKind.StringList => Strings,
        ValueKind.DoubleList => Doubles,
        ValueKind.Int64List => Int64s,
        ValueKind.Counts => CountsAsMap(),
        _ => null,
    };

    /// <summary>The value as JSON text (a list as an array, counts as an object of value to count), or null when none.</summary>
    public string? ToJson() => Boxed is { } boxed ? System.Text.Json.JsonSerializer.Serialize(boxed, boxed.GetType()) : null;

    /// <summary>Equal status, kind, scalars, time, and list and count contents (not list references).</summary>
    public bool Equals(FeatureValue other) =>
        Status == other.Status && Kind == other.Kind && Double.Equals(other.Double) && Int64 == other.Int64 && Text == other.Text
        && EventTimeMs == other.EventTimeMs && SameItems(Strings, other.Strings) && SameItems(Doubles, other.Doubles) && SameItems(Int64s, other.Int64s) && SameItems(Counts, other.Counts);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Status, Kind, Double, Int64, Text, EventTimeMs, Strings?.Count ?? Doubles?.Count ?? Int64s?.Count ?? Counts?.Count ?? -1);

    private static bool SameItems<T>(IReadOnlyList<T>? a, IReadOnlyList<T>? b) => a is null || b is null ? a is null && b is null : a.SequenceEqual(b);

    private Dictionary<string, long>? CountsAsMap()
    {
        if (Counts is null)
        {
            return null;
        }

        var map = new Dictionary<string, long>(Counts.Count, StringComparer.Ordinal);
        foreach (var (value, count) in Counts)
        {
            map[value] = count;
        }

        return map;
    }
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
