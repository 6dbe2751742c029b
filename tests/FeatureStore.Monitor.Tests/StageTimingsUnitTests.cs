using System.Diagnostics;
using FeatureStore.Monitor.Job;

namespace FeatureStore.Monitor.Tests;

/// <summary>The jobs' stage timings, the bench's profiling aid: sums and counts per stage, in the order first seen.</summary>
public sealed class StageTimingsUnitTests
{
    [Fact]
    public void Each_stage_sums_its_time_and_counts_its_runs_in_the_order_first_seen()
    {
        var stages = new StageTimings();
        stages.AddTicks("script", Stopwatch.Frequency / 10, 2); // 100 ms over two runs
        stages.AddTicks("parse", Stopwatch.Frequency / 100); // 10 ms
        stages.AddTicks("script", Stopwatch.Frequency / 10); // 100 ms more

        var totals = stages.Totals();
        Assert.Equal(["script", "parse"], totals.Select(t => t.Stage));
        Assert.Equal(200, totals[0].Ms, precision: 6);
        Assert.Equal(3, totals[0].Count);
        Assert.Equal(10, totals[1].Ms, precision: 6);
        Assert.Equal("script 200 ms (3×), parse 10 ms (1×)", stages.ToString());
    }

    [Fact]
    public void A_stage_timed_from_a_timestamp_adds_the_time_since_and_answers_now()
    {
        var stages = new StageTimings();
        var start = Stopwatch.GetTimestamp() - Stopwatch.Frequency; // a second ago
        var now = stages.Add("wait", start);

        Assert.InRange(now, start + Stopwatch.Frequency, Stopwatch.GetTimestamp());
        Assert.InRange(stages.Totals()[0].Ms, 1000, 1000 + ((now - start) * 1000.0 / Stopwatch.Frequency));
    }

    [Fact]
    public async Task Two_tasks_adding_at_once_lose_nothing()
    {
        var stages = new StageTimings();
        await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                stages.AddTicks("script", 1);
            }
        })));

        Assert.Equal(20_000, stages.Totals()[0].Count);
    }
}
