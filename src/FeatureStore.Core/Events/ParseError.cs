namespace FeatureStore.Core.Events;

/// <summary>Why an event was rejected; the dead-letter topic carries it as the <c>reason</c> header.</summary>
public enum ParseError
{
    /// <summary>Accepted.</summary>
    None,

    /// <summary>Not valid JSON, or not a JSON object.</summary>
    MalformedJson,

    /// <summary>Larger than the source's payload limit.</summary>
    PayloadTooLarge,

    /// <summary>An entity key field is missing, null or empty.</summary>
    MissingKey,

    /// <summary>The event-time field is missing or null.</summary>
    MissingTimestamp,

    /// <summary>The event-time field cannot be read as a time.</summary>
    InvalidTimestamp,

    /// <summary>A field holds a value of another type (or a non-finite number).</summary>
    WrongType,

    /// <summary>Older than the partition's watermark minus the allowed lateness.</summary>
    TooLate,

    /// <summary>Later than the processing time plus the allowed future skew.</summary>
    TooFarInFuture,

    /// <summary>A binary payload (Avro, Protobuf) that its schema cannot read: truncated, a bad length or tag, invalid UTF-8.</summary>
    UndecodablePayload,

    /// <summary>A Confluent-framed payload whose schema id the schema registry does not have, or a payload without the frame.</summary>
    UnknownSchema,
}

/// <summary>Names of <see cref="ParseError"/> as written in headers and metrics.</summary>
public static class ParseErrorNames
{
    /// <summary>The snake_case name, e.g. <c>missing_key</c>.</summary>
    public static string ToReason(this ParseError error) => error switch
    {
        ParseError.None => "none",
        ParseError.MalformedJson => "malformed_json",
        ParseError.PayloadTooLarge => "payload_too_large",
        ParseError.MissingKey => "missing_key",
        ParseError.MissingTimestamp => "missing_timestamp",
        ParseError.InvalidTimestamp => "invalid_timestamp",
        ParseError.WrongType => "wrong_type",
        ParseError.TooLate => "too_late",
        ParseError.TooFarInFuture => "too_far_in_future",
        ParseError.UndecodablePayload => "undecodable_payload",
        ParseError.UnknownSchema => "unknown_schema_id",
        _ => "unknown",
    };
}
