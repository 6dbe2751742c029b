// Where a monitor job's time goes, stage by stage: a profiling aid the bench sets on the options (never the
// product's hosts), so the jobs' hot paths pay one null check per stage when it is off.
using System.Diagnostics;
using System.Globalization;

namespace FeatureStore.Monitor.Job;

/// <summary>The time spent in each named stage of a job's batches, summed; safe from the job's two tasks at once.</summary>
internal sealed class StageTimings
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (long Ticks, long Count)> _stages = new(StringComparer.Ordinal);

    /// <summary>Adds the time since <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/>) to <paramref name="stage"/>; returns now, for the next stage.</summary>
    public long Add(string stage, long startTimestamp)
    {
        var now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            var (ticks, count) = _stages.GetValueOrDefault(stage);
            _stages[stage] = (ticks + (now - startTimestamp), count + 1);
        }

        return now;
    }

    /// <summary>Adds <paramref name="ticks"/> (<see cref="Stopwatch"/> ticks, summed over <paramref name="count"/> runs) to <paramref name="stage"/>.</summary>
    public void AddTicks(string stage, long ticks, long count = 1)
    {
        lock (_lock)
        {
            var (total, runs) = _stages.GetValueOrDefault(stage);
            _stages[stage] = (total + ticks, runs + count);
        }
    }

    /// <summary>Each stage's total in ms and how many times it ran, in the order first seen.</summary>
    public IReadOnlyList<(string Stage, double Ms, long Count)> Totals()
    {
        lock (_lock)
        {
            return [.. _stages.Select(s => (s.Key, s.Value.Ticks * 1000.0 / Stopwatch.Frequency, s.Value.Count))];
        }
    }

    /// <summary>One line: <c>stage 12 ms (3×), …</c>.</summary>
    public override string ToString() =>
        string.Join(", ", Totals().Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Stage} {t.Ms:F0} ms ({t.Count}×)")));
}
