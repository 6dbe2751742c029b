using System.Text.Json;

namespace FeatureStore.Core.Events;

/// <summary>
/// Reads JSON events of one source into typed slots with <see cref="Utf8JsonReader"/>, allocating nothing
/// per event: string values are unescaped into an internal buffer that the next <see cref="Parse"/> reuses.
/// One instance per consuming thread; not thread-safe.
/// </summary>
public sealed partial class EventParser
{
    /// <summary>Separator between the values of a composite entity key.</summary>
    public const byte KeySeparator = (byte)'|';

    private const int MaxDepth = 64;
    private readonly EventSchema _schema;
    private readonly SlotValue[] _slots;
    private byte[] _text = new byte[256];
    private int _textLength;
    private byte[] _key = new byte[64];

    /// <summary>Creates a parser for <paramref name="schema"/>.</summary>
    public EventParser(EventSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        _schema = schema;
        _slots = new SlotValue[schema.Fields.Count];
    }

    /// <summary>The schema events are read against.</summary>
    public EventSchema Schema => _schema;

    /// <summary>Event time of the last accepted event, epoch ms UTC.</summary>
    public long EventTimeMs { get; private set; }

    /// <summary>The entity key of the last accepted event: key values in UTF-8 joined by <see cref="KeySeparator"/>.</summary>
    public ReadOnlySpan<byte> KeyUtf8
    {
        get
        {
            int written;
            while (!TryWriteKeyUtf8(_schema.KeySlots, _key, out written))
            {
                _key = new byte[_key.Length * 2];
            }

            return _key.AsSpan(0, written);
        }
    }

    /// <summary>After a rejection: the field concerned, or null.</summary>
    public string? ErrorField { get; private set; }

    /// <summary>
    /// The entity key for a subset of the key fields (one view's join keys), as a string:
    /// values joined by <see cref="KeySeparator"/>. Valid after an accepted parse.
    /// </summary>
    public string KeyFor(IReadOnlyList<int> slots)
    {
        ArgumentNullException.ThrowIfNull(slots);
        if (slots.Count == 1 && _schema.Fields[slots[0]].Kind == FieldKind.String)
        {
            return System.Text.Encoding.UTF8.GetString(GetUtf8(slots[0]));
        }

        // One definition of the key's bytes (TryWriteKeyUtf8), in a buffer grown until they fit.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(256);
        try
        {
            int written;
            while (!TryWriteKeyUtf8(slots, buffer, out written))
            {
                var larger = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                buffer = larger;
            }

            return System.Text.Encoding.UTF8.GetString(buffer, 0, written);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Writes the UTF-8 bytes of <see cref="KeyFor"/>'s key into <paramref name="destination"/> without
    /// building a string; false (nothing usable written) when it does not fit.
    /// </summary>
    public bool TryWriteKeyUtf8(IReadOnlyList<int> slots, Span<byte> destination, out int written)
    {
        ArgumentNullException.ThrowIfNull(slots);
        written = 0;
        for (var i = 0; i < slots.Count; i++)
        {
            if (i > 0)
            {
                if (written == destination.Length)
                {
                    return false;
                }

                destination[written++] = KeySeparator;
            }

            var slot = slots[i];
            if (_schema.Fields[slot].Kind == FieldKind.String)
            {
                var utf8 = GetUtf8(slot);
                if (!utf8.TryCopyTo(destination[written..]))
                {
                    return false;
                }

                written += utf8.Length;
            }
            else
            {
                if (!_slots[slot].Integer.TryFormat(destination[written..], out var digits, default, System.Globalization.CultureInfo.InvariantCulture))
                {
                    return false;
                }

                written += digits;
            }
        }

        return true;
    }

    /// <summary>True when the field in <paramref name="slot"/> was present and not null.</summary>
    public bool HasValue(int slot) => _slots[slot].Present;

    /// <summary>The numeric value of a slot: ints and doubles as they are, bools as 0/1, timestamps as epoch ms.</summary>
    public double GetDouble(int slot) => _slots[slot].Number;

    /// <summary>The integer value of an int, bool or timestamp slot.</summary>
    public long GetInt64(int slot) => _slots[slot].Integer;

    /// <summary>The unescaped UTF-8 bytes of a string slot (valid until the next parse).</summary>
    public ReadOnlySpan<byte> GetUtf8(int slot) => _text.AsSpan(_slots[slot].TextStart, _slots[slot].TextLength);

    /// <summary>The raw 64-bit pattern of any slot's value, for distinct counting (strings: see <see cref="GetUtf8"/>).</summary>
    public long GetBits(int slot) => _schema.Fields[slot].Kind switch
    {
        FieldKind.Double => BitConverter.DoubleToInt64Bits(_slots[slot].Number),
        _ => _slots[slot].Integer,
    };

    /// <summary>
    /// Parses one payload. On <see cref="ParseError.None"/> the slots, key and time hold the event;
    /// otherwise <see cref="ErrorField"/> names the field at fault when there is one.
    /// </summary>
    public ParseError Parse(ReadOnlySpan<byte> payload)
    {
        ErrorField = null;
        _textLength = 0;
        Array.Clear(_slots);
        if (payload.Length > _schema.MaxPayloadBytes)
        {
            return ParseError.PayloadTooLarge;
        }

        if (_schema.Decoder is { } decoder)
        {
            return ParseBinary(payload, decoder);
        }

        var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = MaxDepth, CommentHandling = JsonCommentHandling.Disallow });
        var timestampSeen = false;
        var previousSlot = -1;
        long eventTime = 0;
        var error = ParseError.None;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return ParseError.MalformedJson;
            }

            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject)
                {
                    break;
                }

                var slot = FindSlot(ref reader, previousSlot);
                if (slot >= 0)
                {
                    previousSlot = slot;
                }

                var isTimestamp = IsTimestampProperty(ref reader, slot);
                if (!reader.Read())
                {
                    return ParseError.MalformedJson;
                }

                if (isTimestamp && error == ParseError.None)
                {
                    switch (ReadTimestamp(ref reader, _schema.TimestampFormat, out eventTime))
                    {
                        case TimestampResult.Ok:
                            timestampSeen = true;
                            break;
                        case TimestampResult.Null:
                            timestampSeen = false;
                            break;
                        default:
                            error = ParseError.InvalidTimestamp;
                            ErrorField = _schema.TimestampField;
                            break;
                    }
                }

                if (slot >= 0)
                {
                    if (!ReadSlot(ref reader, slot) && error == ParseError.None)
                    {
                        error = ParseError.WrongType;
                        ErrorField = _schema.Fields[slot].Name;
                    }
                }
                else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !reader.TrySkip())
                {
                    return ParseError.MalformedJson;
                }
            }

            // Trailing content after the object is malformed too.
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return ParseError.MalformedJson;
            }
        }
        catch (JsonException)
        {
            return ParseError.MalformedJson;
        }
        catch (InvalidOperationException)
        {
            // The reader does not check a string's UTF-8 until it is decoded: invalid bytes are malformed
            // JSON too, not a reason to stop the job.
            return ParseError.MalformedJson;
        }

        if (error != ParseError.None)
        {
            return error;
        }

        if (!timestampSeen)
        {
            ErrorField = _schema.TimestampField;
            return ParseError.MissingTimestamp;
        }

        EventTimeMs = eventTime;
        return CheckKey();
    }

    // Every key field must be present (a string one not empty); the key's bytes are joined only when asked for
    // (KeyUtf8): the online writer reads each view's key fields itself.
    private ParseError CheckKey()
    {
        var keySlots = _schema.KeySlots;
        for (var k = 0; k < keySlots.Count; k++)
        {
            var slot = keySlots[k];
            ref var value = ref _slots[slot];
            if (!value.Present || (_schema.Fields[slot].Kind == FieldKind.String && value.TextLength == 0))
            {
                ErrorField = _schema.Fields[slot].Name;
                return ParseError.MissingKey;
            }
        }

        return ParseError.None;
    }

    // Producers mostly write fields in one order: the field after the previous one is tried first.
    private int FindSlot(ref Utf8JsonReader reader, int previous)
    {
        var names = _schema.Utf8Names;
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            var name = reader.ValueSpan;
            var expected = previous + 1;
            if ((uint)expected < (uint)names.Length && name.SequenceEqual(names[expected]))
            {
                return expected;
            }

            for (var i = 0; i < names.Length; i++)
            {
                if (name.SequenceEqual(names[i]))
                {
                    return i;
                }
            }

            return -1;
        }

        for (var i = 0; i < names.Length; i++)
        {
            if (reader.ValueTextEquals(names[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private bool IsTimestampProperty(ref Utf8JsonReader reader, int slot) =>
        slot >= 0 ? slot == _schema.TimestampSlot : _schema.TimestampSlot < 0 && reader.ValueTextEquals(_schema.TimestampField);

    private bool ReadSlot(ref Utf8JsonReader reader, int slot)
    {
        ref var value = ref _slots[slot];
        value = default;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }

        switch (_schema.Fields[slot].Kind)
        {
            case FieldKind.String when reader.TokenType == JsonTokenType.String:
                return CopyText(ref reader, ref value);
            case FieldKind.Int when reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var integer):
                value = new SlotValue { Present = true, Integer = integer, Number = integer };
                return true;
            case FieldKind.Double when reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out var number) && double.IsFinite(number):
                value = new SlotValue { Present = true, Number = number, Integer = (long)number };
                return true;
            case FieldKind.Bool when reader.TokenType is JsonTokenType.True or JsonTokenType.False:
                var flag = reader.TokenType == JsonTokenType.True;
                value = new SlotValue { Present = true, Integer = flag ? 1 : 0, Number = flag ? 1 : 0 };
                return true;
            case FieldKind.Timestamp:
                var result = ReadTimestamp(ref reader, _schema.TimestampFormat, out var ms);
                if (result == TimestampResult.Ok)
                {
                    value = new SlotValue { Present = true, Integer = ms, Number = ms };
                }

                return result == TimestampResult.Ok;
            default:
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }

                return false;
        }
    }

    private bool CopyText(ref Utf8JsonReader reader, ref SlotValue value)
    {
        var needed = reader.HasValueSequence ? checked((int)reader.ValueSequence.Length) : reader.ValueSpan.Length;
        if (_textLength + needed > _text.Length)
        {
            Array.Resize(ref _text, Math.Max(_text.Length * 2, _textLength + needed));
        }

        var written = reader.CopyString(_text.AsSpan(_textLength));
        value = new SlotValue { Present = true, TextStart = _textLength, TextLength = written };
        _textLength += written;
        return true;
    }

    /// <summary>Epoch-ms bounds: years 0001 to 9999, what every supported format can express.</summary>
    private const long MinEpochMs = -62_135_596_800_000;
    private const long MaxEpochMs = 253_402_300_799_999;

    private static TimestampResult ReadTimestamp(ref Utf8JsonReader reader, TimestampFormat format, out long epochMs)
    {
        epochMs = 0;
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return TimestampResult.Null;
            case JsonTokenType.Number when format == TimestampFormat.EpochMillis:
                if (reader.TryGetInt64(out epochMs) || (reader.TryGetDouble(out var d) && double.IsFinite(d) && Math.Floor(d) == d && Math.Abs(d) < 1e17 && (epochMs = (long)d) == epochMs))
                {
                    return epochMs is >= MinEpochMs and <= MaxEpochMs ? TimestampResult.Ok : TimestampResult.Invalid;
                }

                return TimestampResult.Invalid;
            case JsonTokenType.String:
                Span<byte> buffer = stackalloc byte[64];
                var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
                if (length > buffer.Length)
                {
                    return TimestampResult.Invalid;
                }

                var text = buffer[..reader.CopyString(buffer)];
                if (format == TimestampFormat.Rfc3339)
                {
                    return Rfc3339.TryParse(text, out epochMs) ? TimestampResult.Ok : TimestampResult.Invalid;
                }

                return System.Buffers.Text.Utf8Parser.TryParse(text, out epochMs, out var consumed) && consumed == text.Length
                    && epochMs is >= MinEpochMs and <= MaxEpochMs ? TimestampResult.Ok : TimestampResult.Invalid;
            default:
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }

                return TimestampResult.Invalid;
        }
    }

    private enum TimestampResult
    {
        Ok,
        Null,
        Invalid,
    }

    private struct SlotValue
    {
        public bool Present;
        public double Number;
        public long Integer;
        public int TextStart;
        public int TextLength;
    }
}
