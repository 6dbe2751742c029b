namespace FeatureStore.Core.Tests.Performance;

/// <summary>Deterministic synthetic predictions: scores and labels drawn from a seeded generator.</summary>
internal static class Synthetic
{
    /// <summary>
    /// Scores σ(z) with z ~ N(mean, sd) and labels ~ Bernoulli(truth(score)): calibrated when truth is the
    /// identity.
    /// </summary>
    public static (double[] Scores, bool[] Labels) Predictions(Random random, int n, Func<double, double>? truth = null, double mean = -0.5, double sd = 1.5)
    {
        var scores = new double[n];
        var labels = new bool[n];
        for (var i = 0; i < n; i++)
        {
            scores[i] = 1 / (1 + Math.Exp(-(mean + (sd * Normal(random)))));
            labels[i] = random.NextDouble() < (truth is null ? scores[i] : truth(scores[i]));
        }

        return (scores, labels);
    }

    public static double Normal(Random random)
    {
        // Box–Muller; 1 − U keeps the logarithm finite.
        var u = 1 - random.NextDouble();
        var v = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }
}
