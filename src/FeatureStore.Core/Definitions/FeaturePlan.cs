using System.Globalization;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Definitions;

/// <summary>How one feature of a changed view differs from the applied version.</summary>
public enum FeatureChange
{
    /// <summary>New in the view.</summary>
    Added,

    /// <summary>Gone from the view.</summary>
    Removed,

    /// <summary>The same aggregation, field, window, hop and ttl.</summary>
    Unchanged,

    /// <summary>Some of aggregation, field, window, hop or the view's ttl differ.</summary>
    Changed,
}

/// <summary>What a new version does to a feature's online state.</summary>
public enum StateEffect
{
    /// <summary>The state stays and keeps serving.</summary>
    Kept,

    /// <summary>The state is built afresh from the source's event log.</summary>
    Rebuilt,

    /// <summary>The state is no longer read (its keys expire by the view's ttl).</summary>
    Dropped,
}

/// <summary>
/// What a source's offline event log holds, as far as a rebuild needs to know, read cheaply from its commit
/// markers (and file footers where one batch spans several days).
/// </summary>
/// <param name="FromFirstEvent">True when every partition's log starts at offset 0: no event of the source predates it.</param>
/// <param name="RowsByDay">Committed rows per UTC day (the day's first millisecond), for counting what a window reads.</param>
public sealed record EventLogCoverage(bool FromFirstEvent, IReadOnlyDictionary<long, long> RowsByDay)
{
    /// <summary>One UTC day in ms.</summary>
    public const long DayMs = 86_400_000;

    /// <summary>A log with nothing committed.</summary>
    public static EventLogCoverage Empty { get; } = new(false, new Dictionary<long, long>());

    /// <summary>Every committed row.</summary>
    public long Events => RowsByDay.Values.Sum();

    /// <summary>
    /// The first instant from which the log surely holds every event: the start of the day after its first
    /// day (the first day's first event may be late in it), or the dawn of time when it reaches back to the
    /// source's first event; null when it holds nothing.
    /// </summary>
    public long? CoveredFromMs => RowsByDay.Count == 0 ? null : FromFirstEvent ? long.MinValue : RowsByDay.Keys.Min() + DayMs;

    /// <summary>The rows a rebuild reads to cover events from <paramref name="fromMs"/> on: those of every day that ends after it.</summary>
    public long EventsFrom(long fromMs) => RowsByDay.Where(d => d.Key + DayMs > fromMs).Sum(d => d.Value);
}

/// <summary>One feature's line of a plan.</summary>
/// <param name="View">The view.</param>
/// <param name="Feature">The feature.</param>
/// <param name="Change">How it differs.</param>
/// <param name="What">For a changed feature, what differs (<c>window 1h -> 2h</c>, …).</param>
/// <param name="Effect">What happens to its state.</param>
/// <param name="EventsToRead">For a rebuilt feature, the event log rows its rebuild reads.</param>
/// <param name="Refusal">Why the event log cannot rebuild it, or null.</param>
public sealed record FeaturePlanLine(string View, string Feature, FeatureChange Change, IReadOnlyList<string> What, StateEffect Effect, long? EventsToRead, string? Refusal)
{
    /// <inheritdoc />
    public override string ToString()
    {
        var sign = Change switch { FeatureChange.Added => '+', FeatureChange.Removed => '-', FeatureChange.Changed => '~', _ => ' ' };
        var text = $"{sign} {View}:{Feature} {Change.ToString().ToLowerInvariant()}";
        if (What.Count > 0)
        {
            text += " (" + string.Join(", ", What) + ")";
        }

        text += Effect switch
        {
            StateEffect.Kept => ": state kept",
            StateEffect.Dropped => ": state dropped",
            _ => string.Create(CultureInfo.InvariantCulture, $": rebuilt from the event log, reading {EventsToRead ?? 0} events"),
        };
        return Refusal is not null ? text + " — REFUSED: " + Refusal
            : Effect == StateEffect.Rebuilt ? text + " (BUILDING until it is switched in)" : text;
    }
}

/// <summary>
/// The plan per feature of every view that both versions have and that changed: each feature added,
/// removed, unchanged or changed, with its effect on the online state and, for a rebuild, the events it
/// reads from the source's event log; a rebuild the log cannot cover is refused with the reason.
/// </summary>
public static class FeaturePlan
{
    /// <summary>
    /// The lines for <paramref name="previous"/> → <paramref name="next"/> (none when nothing was applied
    /// before: a new view has no state to keep). <paramref name="coverage"/> gives a source's event log;
    /// <paramref name="nowMs"/> is when the rebuilt windows must be whole.
    /// </summary>
    public static IReadOnlyList<FeaturePlanLine> Compute(FeatureRepository? previous, FeatureRepository next, Func<string, EventLogCoverage> coverage, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(next);
        ArgumentNullException.ThrowIfNull(coverage);
        var lines = new List<FeaturePlanLine>();
        if (previous is null)
        {
            return lines;
        }

        foreach (var view in next.FeatureViews)
        {
            var old = previous.FindView(view.Name);
            if (old is null || (old.Source == view.Source && old.Entity == view.Entity && old.TtlMs == view.TtlMs && old.Features.SequenceEqual(view.Features)))
            {
                continue; // a new view starts empty anyway; an unchanged one is not part of the plan
            }

            var log = new Lazy<EventLogCoverage>(() => coverage(view.Source));
            var sourceChanged = old.Source != view.Source || old.Entity != view.Entity;
            foreach (var feature in view.Features)
            {
                var before = old.FindFeature(feature.Name);
                if (before is null)
                {
                    lines.Add(Rebuild(view, feature, FeatureChange.Added, [], log.Value, nowMs));
                    continue;
                }

                var what = Differences(old, before, view, feature);
                if (sourceChanged)
                {
                    what.Insert(0, old.Source != view.Source ? $"source {old.Source} -> {view.Source}" : $"entity {old.Entity} -> {view.Entity}");
                }

                var rebuild = sourceChanged || before.Aggregation != feature.Aggregation || before.Field != feature.Field || before.Window != feature.Window || before.Parameter != feature.Parameter;
                lines.Add(rebuild
                    ? Rebuild(view, feature, FeatureChange.Changed, what, log.Value, nowMs)
                    : new FeaturePlanLine(view.Name, feature.Name, what.Count == 0 ? FeatureChange.Unchanged : FeatureChange.Changed, what, StateEffect.Kept, null, null));
            }

            foreach (var gone in old.Features.Where(f => view.FindFeature(f.Name) is null))
            {
                lines.Add(new FeaturePlanLine(view.Name, gone.Name, FeatureChange.Removed, [], StateEffect.Dropped, null, null));
            }
        }

        return lines;
    }

    /// <summary>The sources whose event log the plan reads: those of changed views with a feature to rebuild.</summary>
    public static IReadOnlySet<string> SourcesToRead(FeatureRepository? previous, FeatureRepository next)
    {
        var sources = new HashSet<string>(StringComparer.Ordinal);
        _ = Compute(previous, next, source =>
        {
            sources.Add(source);
            return EventLogCoverage.Empty;
        }, 0);
        return sources;
    }

    private static List<string> Differences(FeatureViewDefinition oldView, FeatureDefinition before, FeatureViewDefinition view, FeatureDefinition after)
    {
        var what = new List<string>();
        if (before.Aggregation != after.Aggregation)
        {
            what.Add($"aggregation {Name(before.Aggregation)} -> {Name(after.Aggregation)}");
        }

        if (before.Parameter != after.Parameter)
        {
            what.Add($"parameter {before.Parameter.ToString(System.Globalization.CultureInfo.InvariantCulture)} -> {after.Parameter.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        }

        if (before.Field != after.Field)
        {
            what.Add($"field {before.Field ?? "none"} -> {after.Field ?? "none"}");
        }

        if (before.Window.WindowMs != after.Window.WindowMs)
        {
            what.Add($"window {Window(before.Window)} -> {Window(after.Window)}");
        }

        if (before.Window.HopMs != after.Window.HopMs)
        {
            what.Add($"hop {Duration.Format(before.Window.HopMs)} -> {Duration.Format(after.Window.HopMs)}");
        }

        if (oldView.TtlMs != view.TtlMs)
        {
            what.Add($"ttl {Duration.Format(oldView.TtlMs)} -> {Duration.Format(view.TtlMs)}");
        }

        return what;
    }

    private static FeaturePlanLine Rebuild(FeatureViewDefinition view, FeatureDefinition feature, FeatureChange change, List<string> what, EventLogCoverage log, long nowMs)
    {
        var window = feature.Window;
        var from = window.IsLifetime ? long.MinValue : nowMs - window.WindowMs;
        var refusal = log.CoveredFromMs switch
        {
            null => $"the event log of source {view.Source} holds no committed events",
            _ when window.IsLifetime && !log.FromFirstEvent =>
                $"a lifetime feature needs every event of source {view.Source}, and its event log does not reach back to the first one",
            { } covered when covered > from => string.Create(CultureInfo.InvariantCulture,
                $"the {Duration.Format(window.WindowMs)} window needs events from {Instant(from)}, and the event log of source {view.Source} is whole only from {Instant(covered)}"),
            _ => null,
        };
        return new FeaturePlanLine(view.Name, feature.Name, change, what, StateEffect.Rebuilt, log.EventsFrom(from), refusal);
    }

    private static string Name(AggregationKind kind) => FeatureRepositoryLoader.Aggregations.First(a => a.Value == kind).Key;

    private static string Window(WindowSpec window) => window.IsLifetime ? "lifetime" : Duration.Format(window.WindowMs);

    private static string Instant(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
