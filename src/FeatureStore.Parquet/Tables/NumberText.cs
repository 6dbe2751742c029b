using System.Globalization;

namespace FeatureStore.Parquet.Tables;

/// <summary>
/// A number written as text, NaN and infinities included as the tools that write training files and
/// predictions spell them: numpy and pandas (<c>nan</c>, <c>inf</c>, <c>-inf</c>), Python's json
/// (<c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>), .NET (<c>∞</c>), in any case.
/// </summary>
public static class NumberText
{
    /// <summary>Parses <paramref name="text"/> (trimmed) as a number, NaN and infinities included; false when it is none.</summary>
    public static bool TryParse(string text, out double value)
    {
        var trimmed = text.AsSpan().Trim();
        if (double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
        {
            return true;
        }

        var negative = trimmed.StartsWith("-");
        var word = trimmed.TrimStart("+-");
        if (word.Equals("nan", StringComparison.OrdinalIgnoreCase))
        {
            value = double.NaN;
            return true;
        }

        if (word.Equals("inf", StringComparison.OrdinalIgnoreCase) || word.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            value = negative ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }

        return false;
    }
}
