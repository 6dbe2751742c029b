using FeatureStore.Core.Events;

namespace FeatureStore.Parquet.EventLog;

/// <summary>
/// Rows of accepted events of one source partition and one event date, kept column by column until the
/// batch is written. Values are copied out of the parser (whose buffers the next parse reuses).
/// </summary>
internal sealed class EventRowBuffer
{
    private readonly EventSchema _schema;
    private readonly List<string?>[] _strings;
    private readonly List<long?>[] _integers;
    private readonly List<double?>[] _doubles;
    private readonly List<bool?>[] _bools;

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

    public List<long> EventTimes { get; } = [];

    public List<long> Offsets { get; } = [];

    public int Count => EventTimes.Count;

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

    public List<string?> Strings(int field) => _strings[field];

    public List<long?> Integers(int field) => _integers[field];

    public List<double?> Doubles(int field) => _doubles[field];

    public List<bool?> Bools(int field) => _bools[field];
}
