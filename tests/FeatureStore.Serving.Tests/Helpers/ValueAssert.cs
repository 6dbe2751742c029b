using FeatureStore.Contracts.V1;
using FeatureStore.Core.Windows;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;
using WireValue = FeatureStore.Contracts.V1.FeatureValue;

namespace FeatureStore.Serving.Tests.Helpers;

/// <summary>Compares a served value with the §4 reference value.</summary>
internal static class ValueAssert
{
    public static void Equal(CoreValue expected, WireValue actual, string what)
    {
        var status = expected.Status switch
        {
            ValueStatus.Present => FeatureStatus.Present,
            ValueStatus.NullValue => FeatureStatus.NullValue,
            ValueStatus.NotFound => FeatureStatus.NotFound,
            _ => FeatureStatus.OutsideTtl,
        };
        var ok = status == actual.Status && expected.Kind switch
        {
            ValueKind.Double => actual.ValueCase == WireValue.ValueOneofCase.DoubleValue
                && Math.Abs(expected.Double - actual.DoubleValue) <= 1e-9 * Math.Max(1, Math.Abs(expected.Double)),
            ValueKind.Int64 => actual.ValueCase == WireValue.ValueOneofCase.Int64Value && expected.Int64 == actual.Int64Value,
            ValueKind.String => actual.ValueCase == WireValue.ValueOneofCase.StringValue && expected.Text == actual.StringValue,
            ValueKind.StringList => actual.ValueCase == WireValue.ValueOneofCase.StringListValue && expected.Strings!.SequenceEqual(actual.StringListValue.Values),
            ValueKind.DoubleList => actual.ValueCase == WireValue.ValueOneofCase.DoubleListValue && expected.Doubles!.SequenceEqual(actual.DoubleListValue.Values),
            ValueKind.Counts => actual.ValueCase == WireValue.ValueOneofCase.CountsValue
                && expected.Counts!.SequenceEqual(actual.CountsValue.Counts.Select(c => new ValueCount(c.Key, c.Value))),
            _ => actual.ValueCase == WireValue.ValueOneofCase.None,
        };
        long? actualTime = actual.EventTimestamp is { } ts ? (ts.Seconds * 1000) + (ts.Nanos / 1_000_000) : null;
        Assert.True(ok && expected.EventTimeMs == actualTime, $"{what}: expected {expected}, got {actual} (event time {actualTime})");
    }
}
