using System.Diagnostics;

namespace FeatureStore.Bench.Harness;

/// <summary>One row of the results table: a scenario's median rate and, when it has one, its baseline's.</summary>
internal sealed record ResultRow(string Scenario, string Metric, double Median, string Unit, string? Baseline = null, double? BaselineMedian = null)
{
    public double? Ratio => BaselineMedian is > 0 ? Median / BaselineMedian : null;
}

/// <summary>Runs a measurement several times and keeps the median: the machines are noisy.</summary>
internal static class Measure
{
    /// <summary>Median of <paramref name="repetitions"/> runs of <paramref name="run"/>, each returning operations done.</summary>
    public static async Task<double> MedianRateAsync(int repetitions, Func<int, Task<long>> run)
    {
        var rates = new List<double>(repetitions);
        for (var rep = 0; rep < repetitions; rep++)
        {
            var clock = Stopwatch.StartNew();
            var ops = await run(rep);
            clock.Stop();
            rates.Add(ops / clock.Elapsed.TotalSeconds);
        }

        return Median(rates);
    }

    public static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN
            : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2]
            : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>The value at quantile <paramref name="q"/> (nearest rank).</summary>
    public static double Quantile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
}
