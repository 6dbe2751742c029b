using FeatureStore.Core.Events;

namespace FeatureStore.Parquet.EventLog;

/// <summary>
/// Rows of accepted events of one source partition and one event date, kept column by column until the
/// batch is written. Values are copied out of the parser (whose buffers the next parse reuses).
/// </summary>
public sealed class EventRowBuffer
{
    private readonly EventSchema _schema;
    private readonly List<string?>[] _strings;
    private readonly List<long?>[] _integers;
    private readonly List<double?>[] _doubles;
    private readonly List<bool?>[] _bools;

    /// <summary>An empty buffer for events of <paramref name="schema"/>.</summary>
    public EventRowBuffer(EventSchema schema)
    {
        _schema = schema;
        var n = schema.Fields.Count;
        _strings = new List<string?>[n];
        _integers = new List<long?>[n];
        _doubles = new List<double?>[n];
        _bools = new List<bool?>[n];
        for (var i = 0; i < n; i++)
        {
            switch (schema.Fields[i].Kind)
            {
                case FieldKind.String:
                    _strings[i] = [];
                    break;
                case FieldKind.Double:
                    _doubles[i] = [];
                    break;
                case FieldKind.Bool:
                    _bools[i] = [];
                    break;
                default:
                    _integers[i] = [];
                    break;
            }
        }
    }

    /// <summary>Each row's event time (epoch ms).</summary>
    public List<long> EventTimes { get; } = [];

    /// <summary>Each row's offset in the log.</summary>
    public List<long> Offsets { get; } = [];

    /// <summary>Rows buffered.</summary>
    public int Count => EventTimes.Count;

    /// <summary>Copies the event <paramref name="parser"/> holds as a row at <paramref name="offset"/>.</summary>
    public void Add(EventParser parser, long offset)
    {
        for (var i = 0; i < _schema.Fields.Count; i++)
        {
            var present = parser.HasValue(i);
            switch (_schema.Fields[i].Kind)
            {
                case FieldKind.String:
                    _strings[i].Add(present ? System.Text.Encoding.UTF8.GetString(parser.GetUtf8(i)) : null);
                    break;
                case FieldKind.Double:
                    _doubles[i].Add(present ? parser.GetDouble(i) : null);
                    break;
                case FieldKind.Bool:
                    _bools[i].Add(present ? parser.GetInt64(i) != 0 : null);
                    break;
                default:
                    _integers[i].Add(present ? parser.GetInt64(i) : null);
                    break;
            }
        }

        EventTimes.Add(parser.EventTimeMs);
        Offsets.Add(offset);
    }

    /// <summary>The values of a text field, one per row.</summary>
    public List<string?> Strings(int field) => _strings[field];

    /// <summary>The values of an integer or timestamp field, one per row.</summary>
    public List<long?> Integers(int field) => _integers[field];

    /// <summary>The values of a number field, one per row.</summary>
    public List<double?> Doubles(int field) => _doubles[field];

    /// <summary>The values of a boolean field, one per row.</summary>
    public List<bool?> Bools(int field) => _bools[field];
}
