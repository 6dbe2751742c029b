using FeatureStore.Core.Events.Payloads;

namespace FeatureStore.Core.Events;

// Binary payloads (Avro, Protobuf): a decoder walks the payload with its compiled plan and writes each mapped
// field into the same slots the JSON reader fills, so everything after parsing is one code path.
public sealed partial class EventParser
{
    private ParseError ParseBinary(ReadOnlySpan<byte> payload, PayloadDecoder decoder)
    {
        _eventTimeSeen = false;
        _binaryError = ParseError.None;
        var result = decoder.Decode(payload, this);
        if (result != ParseError.None)
        {
            return result;
        }

        if (_binaryError != ParseError.None)
        {
            return _binaryError;
        }

        if (!_eventTimeSeen)
        {
            ErrorField = _schema.TimestampField;
            return ParseError.MissingTimestamp;
        }

        return CheckKey();
    }

    private bool _eventTimeSeen;
    private ParseError _binaryError;

    /// <summary>A decoded integer for <paramref name="target"/>.</summary>
    internal void SetInteger(in SlotTarget target, long value)
    {
        switch (target.Conversion)
        {
            case Conversion.Integer:
                Set(target.Slot, value, value);
                break;
            case Conversion.Double:
                Set(target.Slot, value, value);
                break;
            case Conversion.Bool:
                Set(target.Slot, value != 0 ? 1 : 0, value != 0 ? 1 : 0);
                break;
            case Conversion.TimeMillis:
                SetTime(target, value);
                break;
            case Conversion.TimeMicros:
                SetTime(target, Math.DivRem(value, 1000, out var rest) - (rest < 0 ? 1 : 0));
                break;
            case Conversion.Skip:
                break;
            default:
                Fail(ParseError.WrongType, target);
                break;
        }
    }

    /// <summary>A decoded floating-point number for <paramref name="target"/>.</summary>
    internal void SetDouble(in SlotTarget target, double value)
    {
        if (target.Conversion == Conversion.Double && double.IsFinite(value))
        {
            Set(target.Slot, (long)value, value);
        }
        else if (target.Conversion != Conversion.Skip)
        {
            Fail(ParseError.WrongType, target);
        }
    }

    /// <summary>Decoded UTF-8 text for <paramref name="target"/>.</summary>
    internal void SetText(in SlotTarget target, ReadOnlySpan<byte> utf8)
    {
        switch (target.Conversion)
        {
            case Conversion.Text:
                if (_textLength + utf8.Length > _text.Length)
                {
                    Array.Resize(ref _text, Math.Max(_text.Length * 2, _textLength + utf8.Length));
                }

                utf8.CopyTo(_text.AsSpan(_textLength));
                _slots[target.Slot] = new SlotValue { Present = true, TextStart = _textLength, TextLength = utf8.Length };
                _textLength += utf8.Length;
                break;
            case Conversion.TimeText:
                if (ParseTimeText(utf8, _schema.TimestampFormat, out var ms))
                {
                    SetTime(target, ms);
                }
                else
                {
                    Fail(ParseError.InvalidTimestamp, target);
                }

                break;
            case Conversion.Skip:
                break;
            default:
                Fail(ParseError.WrongType, target);
                break;
        }
    }

    /// <summary>A time already in epoch milliseconds (a protobuf Timestamp) for <paramref name="target"/>.</summary>
    internal void SetEpochMillis(in SlotTarget target, long ms)
    {
        if (target.Conversion is Conversion.TimeMillis or Conversion.TimeMicros or Conversion.TimeText)
        {
            SetTime(target, ms);
        }
        else if (target.Conversion != Conversion.Skip)
        {
            Fail(ParseError.WrongType, target);
        }
    }

    private void SetTime(in SlotTarget target, long ms)
    {
        if (ms is < MinEpochMs or > MaxEpochMs)
        {
            Fail(ParseError.InvalidTimestamp, target);
            return;
        }

        if (target.Slot >= 0)
        {
            Set(target.Slot, ms, ms);
        }

        if (target.IsEventTime)
        {
            EventTimeMs = ms;
            _eventTimeSeen = true;
        }
    }

    private void Set(int slot, long integer, double number)
    {
        if (slot >= 0)
        {
            _slots[slot] = new SlotValue { Present = true, Integer = integer, Number = number };
        }
    }

    private void Fail(ParseError error, in SlotTarget target)
    {
        if (_binaryError == ParseError.None)
        {
            _binaryError = error;
            ErrorField = target.IsEventTime ? _schema.TimestampField : target.Slot >= 0 ? _schema.Fields[target.Slot].Name : null;
        }
    }

    private static bool ParseTimeText(ReadOnlySpan<byte> text, TimestampFormat format, out long epochMs)
    {
        epochMs = 0;
        if (text.Length > 64)
        {
            return false;
        }

        if (format == TimestampFormat.Rfc3339)
        {
            return Rfc3339.TryParse(text, out epochMs);
        }

        return System.Buffers.Text.Utf8Parser.TryParse(text, out epochMs, out var consumed) && consumed == text.Length
            && epochMs is >= MinEpochMs and <= MaxEpochMs;
    }
}
