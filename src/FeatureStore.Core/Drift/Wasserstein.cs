namespace FeatureStore.Core.Drift;

/// <summary>The first Wasserstein (earth mover's) distance between two empirical distributions.</summary>
public static class Wasserstein
{
    /// <summary>∫ |F₁ − F₂| dx over two sorted, non-empty samples (as scipy's <c>wasserstein_distance(u, v)</c>).</summary>
    public static double Distance(ReadOnlySpan<double> sorted1, ReadOnlySpan<double> sorted2)
    {
        if (sorted1.IsEmpty || sorted2.IsEmpty)
        {
            throw new ArgumentException("both samples must be non-empty");
        }

        int i = 0, j = 0;
        var sum = 0.0;
        var previous = Math.Min(sorted1[0], sorted2[0]);
        while (i < sorted1.Length || j < sorted2.Length)
        {
            var x = i < sorted1.Length && (j >= sorted2.Length || sorted1[i] <= sorted2[j]) ? sorted1[i] : sorted2[j];
            sum += (x - previous) * Math.Abs(((double)i / sorted1.Length) - ((double)j / sorted2.Length));
            while (i < sorted1.Length && sorted1[i] <= x)
            {
                i++;
            }

            while (j < sorted2.Length && sorted2[j] <= x)
            {
                j++;
            }

            previous = x;
        }

        return sum;
    }
}
