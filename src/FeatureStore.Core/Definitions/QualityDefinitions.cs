// What a feature view or a source declares about its data's quality (docs/quality.md): a freshness objective,
// thresholds on the rates of served statuses and range violations, and the dead-letter rate of a source.
namespace FeatureStore.Core.Definitions;

/// <summary>
/// A view's data-quality monitor (<c>quality:</c>): over each <see cref="WindowMs"/>, per feature, the shares of its
/// served values that were NOT_FOUND, OUTSIDE_TTL, NULL_VALUE or outside their declared range. A rate is judged only
/// once the window holds <see cref="MinLookups"/> served values of the feature; a null threshold is not checked.
/// </summary>
/// <param name="WindowMs">The window the rates are taken over.</param>
/// <param name="MinLookups">Fewest served values of a feature in the window for a verdict.</param>
/// <param name="MaxNotFoundRate">Most NOT_FOUND share, or null.</param>
/// <param name="MaxOutsideTtlRate">Most OUTSIDE_TTL share, or null.</param>
/// <param name="MaxNullRate">Most NULL_VALUE share, or null.</param>
/// <param name="MaxOutOfRangeRate">Most share of present numeric values outside their feature's range (default 0 when ranges are declared).</param>
/// <param name="Ranges">Declared value ranges per feature.</param>
public sealed record ViewQualityDefinition(
    long WindowMs,
    long MinLookups,
    double? MaxNotFoundRate,
    double? MaxOutsideTtlRate,
    double? MaxNullRate,
    double? MaxOutOfRangeRate,
    IReadOnlyList<FeatureRange> Ranges)
{
    /// <summary><c>window</c> when none is written.</summary>
    public const long DefaultWindowMs = 5 * 60_000;

    /// <summary><c>min_lookups</c> when none is written.</summary>
    public const long DefaultMinLookups = 100;

    /// <summary>The range declared for <paramref name="feature"/>, or null.</summary>
    public FeatureRange? RangeOf(string feature) => Ranges.FirstOrDefault(r => r.Feature == feature);
}

/// <summary>The values a numeric feature is expected to take: <c>{ min, max }</c>, either bound optional.</summary>
public sealed record FeatureRange(string Feature, double? Min, double? Max)
{
    /// <summary>True when <paramref name="value"/> lies outside the range (NaN always does).</summary>
    public bool Violated(double value) => double.IsNaN(value) || value < (Min ?? double.NegativeInfinity) || value > (Max ?? double.PositiveInfinity);
}

/// <summary>
/// A source's data-quality monitor (<c>quality:</c>): over each <see cref="WindowMs"/>, the share of its consumed
/// events dead-lettered for each reason, judged once the window holds <see cref="MinEvents"/> events.
/// </summary>
/// <param name="WindowMs">The window the rate is taken over.</param>
/// <param name="MinEvents">Fewest consumed events in the window for a verdict.</param>
/// <param name="MaxDeadLetterRate">Most dead-lettered share, per reason.</param>
public sealed record SourceQualityDefinition(long WindowMs, long MinEvents, double MaxDeadLetterRate)
{
    /// <summary><c>min_events</c> when none is written.</summary>
    public const long DefaultMinEvents = 100;
}
