using System.Buffers;
using FeatureStore.Contracts.V1;

namespace FeatureStore.Client;

/// <summary>
/// The answer of an online lookup: one row per entity asked for (in order), one value per feature
/// reference, each with its status and event time; typed accessors return null unless the value is present.
/// </summary>
/// <remarks>
/// An answer received by <see cref="FeatureStoreClient"/> keeps the response's bytes and an index of its
/// values: the typed accessors read the index, and the protobuf messages (<see cref="Response"/>, the
/// indexer) are parsed from the bytes on first use, so reading values builds no message per value.
/// </remarks>
public sealed class OnlineFeatureSet
{
    private readonly Dictionary<string, int> _columns;
    private readonly IReadOnlyList<string> _names;
    private readonly WireIndex? _index;
    private GetOnlineFeaturesResponse? _response;

    /// <summary>Wraps a response.</summary>
    public OnlineFeatureSet(GetOnlineFeaturesResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        _response = response;
        _names = response.FeatureNames;
        _columns = Columns(_names);
    }

    private OnlineFeatureSet(WireIndex index)
    {
        _index = index;
        _names = index.Names;
        _columns = Columns(_names);
    }

    /// <summary>The response as received.</summary>
    public GetOnlineFeaturesResponse Response
    {
        get
        {
            if (_response is { } response)
            {
                return response;
            }

            Interlocked.CompareExchange(ref _response, GetOnlineFeaturesResponse.Parser.ParseFrom(_index!.Payload), null);
            return _response;
        }
    }

    /// <summary>The feature references (<c>view:feature</c>), in column order.</summary>
    public IReadOnlyList<string> FeatureNames => _names;

    /// <summary>Number of rows (entities).</summary>
    public int RowCount => _index?.RowCount ?? Response.Rows.Count;

    /// <summary>The instant the values were evaluated at.</summary>
    public DateTimeOffset EvaluatedAt => _index is { EvaluatedAt: { } at } ? at : Response.EvaluatedAt.ToDateTimeOffset();

    /// <summary>The value of <paramref name="feature"/> (<c>view:feature</c>) in row <paramref name="row"/>.</summary>
    public FeatureValue this[int row, string feature] => Response.Rows[row].Values[Column(feature)];

    /// <summary>The number, or null when not present (count and approx_distinct read as doubles too).</summary>
    public double? GetDouble(int row, string feature)
    {
        if (_index is { } index)
        {
            ref readonly var cell = ref index.Cell(row, Column(feature));
            return cell.Status != (int)FeatureStatus.Present ? null
                : cell.Case switch
                {
                    FeatureValue.ValueOneofCase.DoubleValue => BitConverter.Int64BitsToDouble(cell.Bits),
                    FeatureValue.ValueOneofCase.Int64Value => cell.Bits,
                    _ => null,
                };
        }

        var value = this[row, feature];
        return value.Status != FeatureStatus.Present ? null
            : value.ValueCase switch
            {
                FeatureValue.ValueOneofCase.DoubleValue => value.DoubleValue,
                FeatureValue.ValueOneofCase.Int64Value => value.Int64Value,
                _ => null,
            };
    }

    /// <summary>The integer (count, approx_distinct), or null when not present.</summary>
    public long? GetInt64(int row, string feature)
    {
        if (_index is { } index)
        {
            ref readonly var cell = ref index.Cell(row, Column(feature));
            return cell.Status == (int)FeatureStatus.Present && cell.Case == FeatureValue.ValueOneofCase.Int64Value ? cell.Bits : null;
        }

        var value = this[row, feature];
        return value.Status == FeatureStatus.Present && value.ValueCase == FeatureValue.ValueOneofCase.Int64Value ? value.Int64Value : null;
    }

    /// <summary>The text (last of a string field), or null when not present.</summary>
    public string? GetString(int row, string feature)
    {
        if (_index is { } index)
        {
            var column = Column(feature);
            ref readonly var cell = ref index.Cell(row, column);
            return cell.Status == (int)FeatureStatus.Present && cell.Case == FeatureValue.ValueOneofCase.StringValue ? index.Text(row, column) : null;
        }

        var value = this[row, feature];
        return value.Status == FeatureStatus.Present && value.ValueCase == FeatureValue.ValueOneofCase.StringValue ? value.StringValue : null;
    }

    /// <summary>The texts of last_n or last_n_distinct of a string field, newest first; null when not present.</summary>
    public IReadOnlyList<string>? GetStrings(int row, string feature) =>
        Collection(row, feature, FeatureValue.ValueOneofCase.StringListValue) is { } value ? value.StringListValue.Values : null;

    /// <summary>The numbers of last_n or last_n_distinct of a numeric field, newest first; null when not present.</summary>
    public IReadOnlyList<double>? GetDoubles(int row, string feature) =>
        Collection(row, feature, FeatureValue.ValueOneofCase.DoubleListValue) is { } value ? value.DoubleListValue.Values : null;

    /// <summary>The integers of last_n or last_n_distinct of an int field, newest first; null when not present.</summary>
    public IReadOnlyList<long>? GetInt64s(int row, string feature) =>
        Collection(row, feature, FeatureValue.ValueOneofCase.Int64ListValue) is { } value ? value.Int64ListValue.Values : null;

    /// <summary>The values and counts of top_k, most frequent first; null when not present.</summary>
    public IReadOnlyList<KeyValuePair<string, long>>? GetCounts(int row, string feature) =>
        Collection(row, feature, FeatureValue.ValueOneofCase.CountsValue) is { } value ? [.. value.CountsValue.Counts] : null;

    /// <summary>Reads a <c>GetOnlineFeaturesResponse</c> as received (gRPC's response deserializer).</summary>
    internal static OnlineFeatureSet FromWire(ReadOnlySequence<byte> payload) => new(WireIndex.Read(payload.ToArray()));

    /// <summary>Reads a <c>GetOnlineFeaturesResponse</c> as received in a lookup stream's answer.</summary>
    internal static OnlineFeatureSet FromWire(ReadOnlySpan<byte> payload) => new(WireIndex.Read(payload.ToArray()));

    // A list or counts: the index says whether it is there; the value itself comes from the parsed message.
    private FeatureValue? Collection(int row, string feature, FeatureValue.ValueOneofCase wanted)
    {
        if (_index is { } index)
        {
            ref readonly var cell = ref index.Cell(row, Column(feature));
            if (cell.Status != (int)FeatureStatus.Present || cell.Case != wanted)
            {
                return null;
            }
        }

        var value = this[row, feature];
        return value.Status == FeatureStatus.Present && value.ValueCase == wanted ? value : null;
    }

    private static Dictionary<string, int> Columns(IReadOnlyList<string> names)
    {
        var columns = new Dictionary<string, int>(names.Count, StringComparer.Ordinal);
        for (var i = 0; i < names.Count; i++)
        {
            columns.TryAdd(names[i], i);
        }

        return columns;
    }

    private int Column(string feature) =>
        _columns.TryGetValue(feature, out var index) ? index
        : throw new KeyNotFoundException($"'{feature}' was not asked for (columns: {string.Join(", ", _names)})");
}
