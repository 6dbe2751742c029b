using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;

namespace FeatureStore.Core.Quality;

/// <summary>
/// The freshness and data-quality checks of a repository at one instant (docs/quality.md), from what ingest and
/// serving counted: pure, so the evaluator and its tests share it.
/// </summary>
public static class QualityRules
{
    /// <summary>The kind of a freshness check.</summary>
    public const string Freshness = "freshness";

    /// <summary>The kind of a served-value or dead-letter rate check.</summary>
    public const string Quality = "quality";

    /// <summary>The dead-letter reasons a source's rate is checked for.</summary>
    public static IReadOnlyList<string> Reasons { get; } =
        [.. Enum.GetValues<ParseError>().Where(e => e != ParseError.None).Select(e => e.ToReason())];

    /// <summary>A view's freshness: the age of its newest applied event against its objective.</summary>
    /// <param name="view">A view with a freshness objective.</param>
    /// <param name="nowMs">Now.</param>
    /// <param name="newestEventMs">The newest event applied from the view's source topic (over every partition and ingest group), or null before the first.</param>
    /// <param name="lag">The source's consumer lag (messages), or -1 when unknown.</param>
    public static QualityCheck FreshnessOf(FeatureViewDefinition view, long nowMs, long? newestEventMs, long lag)
    {
        ArgumentNullException.ThrowIfNull(view);
        var objective = view.FreshnessMs ?? throw new ArgumentException($"view '{view.Name}' has no freshness objective", nameof(view));
        var age = newestEventMs is { } newest ? Math.Max(0, nowMs - newest) : (long?)null;
        var verdict = age is null ? QualityVerdict.InsufficientData : age > objective ? QualityVerdict.Breach : QualityVerdict.Ok;
        return new QualityCheck(Freshness, view.Name, null, null, null, "age_seconds", age / 1000.0, objective / 1000.0, objective, lag, verdict);
    }

    /// <summary>
    /// A view's served-value rates per feature over its quality window, from <paramref name="served"/>: the counts
    /// summed over the window by bucket field <c>VIEW:FEATURE:STATUS</c>.
    /// </summary>
    public static IEnumerable<QualityCheck> ServedRatesOf(FeatureViewDefinition view, IReadOnlyDictionary<string, long> served)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(served);
        if (view.Quality is not { } quality)
        {
            yield break;
        }

        foreach (var feature in view.Features)
        {
            long Count(string status) => served.GetValueOrDefault($"{view.Name}:{feature.Name}:{status}");
            var total = Count("total");
            var rates = new List<(string Metric, string Status, double? Max)>
            {
                ("not_found_rate", "not_found", quality.MaxNotFoundRate),
                ("outside_ttl_rate", "outside_ttl", quality.MaxOutsideTtlRate),
                ("null_rate", "null_value", quality.MaxNullRate),
            };
            if (quality.RangeOf(feature.Name) is not null)
            {
                rates.Add(("out_of_range_rate", "out_of_range", quality.MaxOutOfRangeRate ?? 0));
            }

            foreach (var (metric, status, max) in rates)
            {
                if (max is { } threshold)
                {
                    yield return RateCheck(view.Name, null, feature.Name, null, metric, Count(status), total, quality.MinLookups, threshold, quality.WindowMs);
                }
            }
        }
    }

    /// <summary>
    /// A source's dead-letter rate per reason over its quality window, from <paramref name="counts"/>: the counts
    /// summed over the window by bucket field <c>SOURCE:consumed</c>, <c>SOURCE:dead:REASON</c>.
    /// </summary>
    public static IEnumerable<QualityCheck> DeadLetterRatesOf(SourceDefinition source, IReadOnlyDictionary<string, long> counts)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(counts);
        if (source.Quality is not { } quality)
        {
            yield break;
        }

        var consumed = counts.GetValueOrDefault($"{source.Name}:consumed");
        foreach (var reason in Reasons)
        {
            yield return RateCheck(null, source.Name, null, reason, "dead_letter_rate", counts.GetValueOrDefault($"{source.Name}:dead:{reason}"), consumed,
                quality.MinEvents, quality.MaxDeadLetterRate, quality.WindowMs);
        }
    }

    /// <summary>The counts of the buckets that start within <paramref name="windowMs"/> before <paramref name="nowMs"/>, summed by field.</summary>
    public static Dictionary<string, long> Sum(IEnumerable<(long BucketStartMs, Dictionary<string, long> Counts)> buckets, long nowMs, long windowMs, long bucketMs)
    {
        ArgumentNullException.ThrowIfNull(buckets);
        var sum = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (start, counts) in buckets)
        {
            if (start + bucketMs > nowMs - windowMs && start <= nowMs)
            {
                foreach (var (field, count) in counts)
                {
                    sum[field] = sum.GetValueOrDefault(field) + count;
                }
            }
        }

        return sum;
    }

    private static QualityCheck RateCheck(string? view, string? source, string? feature, string? reason, string metric, long count, long total, long minimum, double threshold, long windowMs)
    {
        if (total < minimum || total == 0)
        {
            return new QualityCheck(Quality, view, source, feature, reason, metric, total == 0 ? null : (double)count / total, threshold, windowMs, total, QualityVerdict.InsufficientData);
        }

        var rate = (double)count / total;
        return new QualityCheck(Quality, view, source, feature, reason, metric, rate, threshold, windowMs, total, rate > threshold ? QualityVerdict.Breach : QualityVerdict.Ok);
    }
}
