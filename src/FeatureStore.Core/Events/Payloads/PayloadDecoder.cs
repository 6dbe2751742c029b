namespace FeatureStore.Core.Events.Payloads;

/// <summary>How a decoded value reaches its slot: checked once, when the plan is compiled, not per event.</summary>
internal enum Conversion : byte
{
    /// <summary>Not a declared field: read past.</summary>
    Skip,

    /// <summary>An integer slot.</summary>
    Integer,

    /// <summary>A double slot (integers widen).</summary>
    Double,

    /// <summary>A bool slot.</summary>
    Bool,

    /// <summary>A string slot.</summary>
    Text,

    /// <summary>A time in epoch milliseconds.</summary>
    TimeMillis,

    /// <summary>A time in epoch microseconds (Avro <c>timestamp-micros</c>).</summary>
    TimeMicros,

    /// <summary>A time written as text, read as the source's <c>timestamp_format</c> says.</summary>
    TimeText,

    /// <summary>The payload's type cannot fill the declared field: every event with a value there is rejected as <c>wrong_type</c>.</summary>
    Mismatch,
}

/// <summary>Where one decoded field goes: its slot (or -1), whether it is the event time, and how it converts.</summary>
internal readonly record struct SlotTarget(int Slot, bool IsEventTime, Conversion Conversion)
{
    public static SlotTarget None { get; } = new(-1, false, Conversion.Skip);

    public bool Wanted => Conversion != Conversion.Skip;
}

/// <summary>How a binary payload is framed.</summary>
public enum PayloadFraming
{
    /// <summary>The bare encoding.</summary>
    None,

    /// <summary>
    /// Confluent Schema Registry's wire format: a zero magic byte, the schema id as a 4-byte big-endian integer, for
    /// Protobuf the message-index path (zig-zag varints), then the encoding.
    /// </summary>
    Confluent,
}

/// <summary>
/// Decodes one binary encoding (Avro, Protobuf) of a source's events into the event parser's slots with a plan compiled
/// from the writer's schema, allocating nothing per event.
/// </summary>
public abstract class PayloadDecoder
{
    /// <summary>Decodes <paramref name="payload"/> into <paramref name="sink"/>'s slots; an error when it cannot be read at all.</summary>
    internal abstract ParseError Decode(ReadOnlySpan<byte> payload, EventParser sink);

    /// <summary>
    /// Reads a Confluent header: the magic byte and the schema id; false when <paramref name="payload"/> does not start
    /// with one.
    /// </summary>
    internal static bool TryReadConfluentHeader(ref ReadOnlySpan<byte> payload, out int schemaId)
    {
        schemaId = 0;
        if (payload.Length < 5 || payload[0] != 0)
        {
            return false;
        }

        schemaId = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(payload[1..5]);
        payload = payload[5..];
        return true;
    }
}
