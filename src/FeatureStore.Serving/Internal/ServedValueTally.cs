using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// Counts of the values one serving repository version answered, per (view, feature): all, NOT_FOUND, OUTSIDE_TTL,
/// NULL_VALUE, and present numeric values outside the feature's declared range. Slots are resolved when the version
/// is compiled, so counting a lookup's answer allocates nothing; <see cref="Take"/> hands the counts to the flusher
/// (docs/quality.md) and starts again from zero.
/// </summary>
internal sealed class ServedValueTally
{
    /// <summary>The counted statuses, in slot order, as the bucket fields and the metrics name them.</summary>
    public static readonly string[] Statuses = ["total", "not_found", "outside_ttl", "null_value", "out_of_range"];

    private const int Total = 0;
    private const int NotFound = 1;
    private const int OutsideTtl = 2;
    private const int NullValue = 3;
    private const int OutOfRange = 4;

    private readonly long[] _counts;
    private readonly int[] _viewBase;
    private readonly (string View, string Feature)[] _features;
    private readonly FeatureRange?[] _ranges;

    public ServedValueTally(IReadOnlyList<FeatureViewDefinition> views)
    {
        _viewBase = new int[views.Count];
        var features = new List<(string, string)>();
        var ranges = new List<FeatureRange?>();
        for (var v = 0; v < views.Count; v++)
        {
            _viewBase[v] = features.Count;
            foreach (var feature in views[v].Features)
            {
                features.Add((views[v].Name, feature.Name));
                ranges.Add(views[v].Quality?.RangeOf(feature.Name));
            }
        }

        _features = [.. features];
        _ranges = [.. ranges];
        _counts = new long[_features.Length * Statuses.Length];
    }

    /// <summary>Counts the <paramref name="rows"/> values of one feature, at <paramref name="stride"/> apart from <paramref name="first"/> in <paramref name="values"/>.</summary>
    public void Count(int view, int feature, ReadOnlySpan<CoreValue> values, int first, int rows, int stride)
    {
        var slot = _viewBase[view] + feature;
        var range = _ranges[slot];
        long notFound = 0, outsideTtl = 0, nulls = 0, outOfRange = 0;
        for (var e = 0; e < rows; e++)
        {
            ref readonly var value = ref values[first + (e * stride)];
            switch (value.Status)
            {
                case ValueStatus.NotFound:
                    notFound++;
                    break;
                case ValueStatus.OutsideTtl:
                    outsideTtl++;
                    break;
                case ValueStatus.NullValue:
                    nulls++;
                    break;
                case ValueStatus.Present when range is not null && value.Kind is ValueKind.Double or ValueKind.Int64:
                    outOfRange += range.Violated(value.Kind == ValueKind.Double ? value.Double : value.Int64) ? 1 : 0;
                    break;
                default:
                    break;
            }
        }

        var counts = _counts.AsSpan(slot * Statuses.Length, Statuses.Length);
        Interlocked.Add(ref counts[Total], rows);
        AddNonZero(ref counts[NotFound], notFound);
        AddNonZero(ref counts[OutsideTtl], outsideTtl);
        AddNonZero(ref counts[NullValue], nulls);
        AddNonZero(ref counts[OutOfRange], outOfRange);
    }

    /// <summary>Adds the counts so far to <paramref name="into"/> (view, feature, status, count), leaving zero behind.</summary>
    public void Take(List<(string View, string Feature, string Status, long Count)> into)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            if (Volatile.Read(ref _counts[i]) != 0 && Interlocked.Exchange(ref _counts[i], 0) is var count and not 0)
            {
                var (view, feature) = _features[i / Statuses.Length];
                into.Add((view, feature, Statuses[i % Statuses.Length], count));
            }
        }
    }

    private static void AddNonZero(ref long slot, long count)
    {
        if (count != 0)
        {
            Interlocked.Add(ref slot, count);
        }
    }
}
