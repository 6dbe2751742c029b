namespace FeatureStore.Core.Events;

/// <summary>The type of a field in a source's events.</summary>
public enum FieldKind
{
    /// <summary>UTF-8 text.</summary>
    String,

    /// <summary>64-bit integer (JSON number without fraction, or a value that fits exactly).</summary>
    Int,

    /// <summary>Finite double.</summary>
    Double,

    /// <summary>true / false.</summary>
    Bool,

    /// <summary>A time: RFC 3339 text or epoch milliseconds.</summary>
    Timestamp,
}

/// <summary>How a source writes its event time.</summary>
public enum TimestampFormat
{
    /// <summary>RFC 3339 text, e.g. <c>2026-11-28T15:18:10.123Z</c>; an offset is required.</summary>
    Rfc3339,

    /// <summary>Milliseconds since the Unix epoch, as a JSON number (or a string of digits).</summary>
    EpochMillis,
}

/// <summary>One typed field of a source.</summary>
/// <param name="Name">The JSON property name.</param>
/// <param name="Kind">Its type.</param>
public readonly record struct FieldSpec(string Name, FieldKind Kind);

/// <summary>
/// What the event parser needs to know of a source: which properties hold the event time and the
/// entity keys, and the typed fields to extract (each gets a slot, in order).
/// </summary>
public sealed class EventSchema
{
    /// <summary>Creates a schema. Key fields and the time field must be among <paramref name="fields"/>.</summary>
    public EventSchema(string timestampField, TimestampFormat timestampFormat, IReadOnlyList<string> keyFields, IReadOnlyList<FieldSpec> fields, int maxPayloadBytes = 256 * 1024)
    {
        ArgumentException.ThrowIfNullOrEmpty(timestampField);
        ArgumentNullException.ThrowIfNull(keyFields);
        ArgumentNullException.ThrowIfNull(fields);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPayloadBytes);
        TimestampField = timestampField;
        TimestampFormat = timestampFormat;
        Fields = fields;
        MaxPayloadBytes = maxPayloadBytes;
        KeySlots = [.. keyFields.Select(k => IndexOf(k) is var i and >= 0 ? i : throw new ArgumentException($"key field '{k}' is not a field", nameof(keyFields)))];
        TimestampSlot = IndexOf(timestampField);
        Utf8Names = [.. fields.Select(f => System.Text.Encoding.UTF8.GetBytes(f.Name))];
    }

    /// <summary>The property holding the event time.</summary>
    public string TimestampField { get; }

    /// <summary>How the event time is written.</summary>
    public TimestampFormat TimestampFormat { get; }

    /// <summary>The typed fields, in slot order.</summary>
    public IReadOnlyList<FieldSpec> Fields { get; }

    /// <summary>Slots of the entity key fields, in join-key order.</summary>
    public IReadOnlyList<int> KeySlots { get; }

    /// <summary>Slot of the event-time field when it is also a declared field, else -1.</summary>
    public int TimestampSlot { get; }

    /// <summary>Payloads larger than this are rejected without parsing.</summary>
    public int MaxPayloadBytes { get; }

    internal byte[][] Utf8Names { get; }

    /// <summary>The binary decoder of an Avro or Protobuf source, or null for JSON.</summary>
    public Payloads.PayloadDecoder? Decoder { get; private set; }

    /// <summary>Reads this source's payloads with <paramref name="decoder"/> (compiled for this schema) instead of as JSON; set once.</summary>
    public void UseDecoder(Payloads.PayloadDecoder decoder)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        if (Decoder is not null)
        {
            throw new InvalidOperationException("the schema already has a decoder");
        }

        Decoder = decoder;
    }

    /// <summary>The slot of a field, or -1.</summary>
    public int IndexOf(string field)
    {
        for (var i = 0; i < Fields.Count; i++)
        {
            if (string.Equals(Fields[i].Name, field, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
