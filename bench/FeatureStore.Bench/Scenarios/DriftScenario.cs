using FeatureStore.Bench.Harness;
using FeatureStore.Core.Drift;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Drift per window of predictions, engine alone (values from memory): PSI over the baseline's bins and
/// two-sample KS with its p-value, through the bounded <see cref="NumericWindow"/> (values binned as they
/// arrive against a stored baseline), next to a naive evaluation of the same window in the same run: keep
/// every value, sort it, recompute the reference deciles from the raw training data (re-binning, as tools
/// without stored bins do) and run the sort-and-merge KS against the whole training set.
/// </summary>
internal static class DriftScenario
{
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(int window, int training, int repetitions)
    {
        var reference = Normal(seed: 1, training, mean: 0, sd: 1);
        var current = Normal(seed: 2, window, mean: 0.05, sd: 1.1);
        var baseline = BaselineBuilder.Numeric(reference);
        var bounded = new NumericWindow(baseline);
        double checksum = 0;

        var ours = await RateAsync(repetitions, () =>
        {
            bounded.Reset();
            foreach (var v in current)
            {
                bounded.Add(v);
            }

            checksum += bounded.Evaluate(DriftMethod.Psi, 0.2)!.Value + bounded.Evaluate(DriftMethod.Ks, 0.05)!.Value;
        }, window);

        var naive = await RateAsync(repetitions, () =>
        {
            var values = current.ToArray(); // the window kept whole
            Array.Sort(values);
            var sortedReference = reference.ToArray();
            Array.Sort(sortedReference);
            var edges = Enumerable.Range(1, 9).Select(i => BaselineBuilder.Quantile(sortedReference, i / 10.0)).ToArray();
            var refShares = Shares(sortedReference, edges);
            var curShares = Shares(values, edges);
            var (_, p) = KolmogorovSmirnov.TwoSample(sortedReference, values);
            checksum += Divergences.Psi(refShares, curShares) + p;
        }, window);

        GC.KeepAlive(checksum);
        return
        [
            new("drift", $"PSI + KS per window of {window / 1000}k predictions (bounded window)", ours, "predictions/s", "naive: keep, sort, re-bin, merge KS", naive),
            new("drift", $"memory per monitored column (reference sample {baseline.Sample.Length})", bounded.MemoryBytes, "bytes", "naive: the window's values", window * sizeof(double)),
        ];
    }

    private static Task<double> RateAsync(int repetitions, Action run, int window)
    {
        run(); // warm-up
        return Measure.MedianRateAsync(repetitions, _ =>
        {
            run();
            return Task.FromResult((long)window);
        });
    }

    private static double[] Shares(double[] sorted, double[] edges)
    {
        var counts = new double[edges.Length + 1];
        foreach (var v in sorted)
        {
            var bin = Array.BinarySearch(edges, v);
            counts[bin >= 0 ? bin + 1 : ~bin]++;
        }

        return [.. counts.Select(c => c / sorted.Length)];
    }

    private static double[] Normal(int seed, int count, double mean, double sd)
    {
        var random = new Random(seed);
        var values = new double[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = mean + (sd * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        return values;
    }
}
