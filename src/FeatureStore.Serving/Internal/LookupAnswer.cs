using System.Buffers;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Windows;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;
using WireValue = FeatureStore.Contracts.V1.FeatureValue;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// The answer of one lookup as evaluated: every value in one pooled array, not yet in a wire form. The
/// HTTP mirror turns it into a <see cref="GetOnlineFeaturesResponse"/> (<see cref="ToResponse"/>); gRPC
/// writes it straight into the response's protobuf encoding (<see cref="LookupAnswerEncoding"/>), without
/// the thousand messages a large answer would otherwise build and drop.
/// <see cref="Release"/> returns the array; an answer never released only leaves it to the collector.
/// </summary>
internal sealed class LookupAnswer
{
    private readonly int[] _offsets;
    private readonly int _stride;
    private CoreValue[]? _values;

    public LookupAnswer(IReadOnlyList<string> names, int[] offsets, CoreValue[] values, int rows, int stride, long atMs, long registryVersion)
    {
        Names = names;
        _offsets = offsets;
        _values = values;
        Rows = rows;
        _stride = stride;
        AtMs = atMs;
        RegistryVersion = registryVersion;
    }

    /// <summary>The feature references, in column order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Entity rows, in request order.</summary>
    public int Rows { get; }

    /// <summary>The instant the values were evaluated at (ms since the epoch).</summary>
    public long AtMs { get; }

    /// <summary>The registry version whose definitions answered.</summary>
    public long RegistryVersion { get; }

    /// <summary>The value of column <paramref name="column"/> in row <paramref name="row"/>.</summary>
    public ref readonly CoreValue Value(int row, int column) =>
        ref (_values ?? throw new ObjectDisposedException(nameof(LookupAnswer)))[(row * _stride) + _offsets[column]];

    /// <summary>The answer as protobuf messages.</summary>
    public GetOnlineFeaturesResponse ToResponse()
    {
        var response = new GetOnlineFeaturesResponse
        {
            EvaluatedAt = ToTimestamp(AtMs),
            RegistryVersion = RegistryVersion,
        };
        response.FeatureNames.Add(Names);
        for (var e = 0; e < Rows; e++)
        {
            var row = new FeatureRow();
            for (var c = 0; c < Names.Count; c++)
            {
                row.Values.Add(ToWire(Value(e, c)));
            }

            response.Rows.Add(row);
        }

        return response;
    }

    /// <summary>Returns the values' array to the pool; the answer cannot be read after.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _values, null) is { } values)
        {
            ArrayPool<CoreValue>.Shared.Return(values, clearArray: true);
        }
    }

    internal static WireValue ToWire(in CoreValue value)
    {
        var wire = new WireValue { Status = WireStatus(value.Status) };
        switch (value.Kind)
        {
            case ValueKind.Double:
                wire.DoubleValue = value.Double;
                break;
            case ValueKind.Int64:
                wire.Int64Value = value.Int64;
                break;
            case ValueKind.String:
                wire.StringValue = value.Text ?? "";
                break;
            case ValueKind.StringList:
                wire.StringListValue = new StringList { Values = { value.Strings ?? [] } };
                break;
            case ValueKind.DoubleList:
                wire.DoubleListValue = new DoubleList { Values = { value.Doubles ?? [] } };
                break;
            case ValueKind.Int64List:
                wire.Int64ListValue = new Int64List { Values = { value.Int64s ?? [] } };
                break;
            case ValueKind.Counts:
                var counts = new ValueCounts();
                foreach (var (key, count) in value.Counts ?? [])
                {
                    counts.Counts[key] = count;
                }

                wire.CountsValue = counts;
                break;
            default:
                break;
        }

        if (value.EventTimeMs is { } ms)
        {
            wire.EventTimestamp = ToTimestamp(ms);
        }

        return wire;
    }

    internal static FeatureStatus WireStatus(ValueStatus status) => status switch
    {
        ValueStatus.Present => FeatureStatus.Present,
        ValueStatus.NullValue => FeatureStatus.NullValue,
        ValueStatus.NotFound => FeatureStatus.NotFound,
        ValueStatus.OutsideTtl => FeatureStatus.OutsideTtl,
        ValueStatus.Inexact => FeatureStatus.Inexact,
        ValueStatus.Building => FeatureStatus.Building,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "a status without a wire name"),
    };

    /// <summary>Seconds and nanos of an instant in ms, nanos never negative (protobuf's Timestamp).</summary>
    internal static (long Seconds, int Nanos) SplitMs(long ms)
    {
        var seconds = ms >= 0 ? ms / 1000 : ((ms + 1) / 1000) - 1;
        return (seconds, (int)(ms - (seconds * 1000)) * 1_000_000);
    }

    private static Google.Protobuf.WellKnownTypes.Timestamp ToTimestamp(long ms)
    {
        var (seconds, nanos) = SplitMs(ms);
        return new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = seconds, Nanos = nanos };
    }
}
