using System.Text.Json;

namespace FeatureStore.Cli.Commands.Demo;

/// <summary>
/// Logistic regression on log-scaled, standardised features, fitted by iteratively reweighted least
/// squares (Newton's method) with a small ridge penalty: enough of a model for the demo's lifecycle.
/// A missing feature value (e.g. a mean over an empty window) reads as 0.
/// </summary>
internal sealed class FraudModel
{
    private const double Ridge = 1e-3;

    private FraudModel(string[] features, double[] mean, double[] scale, double[] weights)
    {
        Features = features;
        Mean = mean;
        Scale = scale;
        Weights = weights;
    }

    /// <summary>Feature columns, in the order of <see cref="Weights"/> (after the intercept).</summary>
    public string[] Features { get; }

    public double[] Mean { get; }

    public double[] Scale { get; }

    /// <summary>Intercept first, then one weight per feature.</summary>
    public double[] Weights { get; }

    public static FraudModel Train(string[] features, IReadOnlyList<double?[]> rows, IReadOnlyList<bool> labels, int iterations = 12)
    {
        var d = features.Length;
        var n = rows.Count;
        var x = rows.Select(Transform).ToArray();
        var mean = new double[d];
        var scale = new double[d];
        for (var j = 0; j < d; j++)
        {
            mean[j] = x.Average(r => r[j]);
            var sd = Math.Sqrt(x.Sum(r => (r[j] - mean[j]) * (r[j] - mean[j])) / Math.Max(1, n - 1));
            scale[j] = sd > 1e-12 ? sd : 1;
        }

        var z = x.Select(r => Design(r, mean, scale)).ToArray();
        var w = new double[d + 1];
        for (var it = 0; it < iterations; it++)
        {
            var gradient = new double[d + 1];
            var hessian = new double[d + 1, d + 1];
            for (var i = 0; i < n; i++)
            {
                var p = Sigmoid(Dot(w, z[i]));
                var residual = (labels[i] ? 1 : 0) - p;
                var weight = Math.Max(p * (1 - p), 1e-9);
                for (var a = 0; a <= d; a++)
                {
                    gradient[a] += residual * z[i][a];
                    for (var b = 0; b <= a; b++)
                    {
                        hessian[a, b] += weight * z[i][a] * z[i][b];
                    }
                }
            }

            for (var a = 0; a <= d; a++)
            {
                for (var b = 0; b < a; b++)
                {
                    hessian[b, a] = hessian[a, b];
                }

                hessian[a, a] += Ridge * n;
                gradient[a] -= Ridge * n * w[a];
            }

            var step = Solve(hessian, gradient);
            for (var a = 0; a <= d; a++)
            {
                w[a] += step[a];
            }

            if (step.Max(Math.Abs) < 1e-8)
            {
                break;
            }
        }

        return new FraudModel(features, mean, scale, w);
    }

    /// <summary>The fraud probability of one row of feature values (in <see cref="Features"/> order).</summary>
    public double Score(double?[] row) => Sigmoid(Dot(Weights, Design(Transform(row), Mean, Scale)));

    /// <summary>Area under the ROC curve (the Mann–Whitney statistic, ties counted half).</summary>
    public static double Auc(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        double rankSum = 0;
        long positives = 0;
        for (var i = 0; i < order.Length;)
        {
            var j = i;
            while (j + 1 < order.Length && scores[order[j + 1]] == scores[order[i]])
            {
                j++;
            }

            var rank = ((i + j) / 2.0) + 1;
            for (var k = i; k <= j; k++)
            {
                if (labels[order[k]])
                {
                    rankSum += rank;
                    positives++;
                }
            }

            i = j + 1;
        }

        var negatives = scores.Count - positives;
        return positives == 0 || negatives == 0 ? double.NaN : (rankSum - (positives * (positives + 1) / 2.0)) / (positives * (double)negatives);
    }

    public string ToJson() => JsonSerializer.Serialize(new { kind = "logistic_regression", transform = "log1p, standardised", features = Features, mean = Mean, scale = Scale, weights = Weights },
        new JsonSerializerOptions { WriteIndented = true });

    private static double[] Transform(double?[] row) => [.. row.Select(v => v is { } value && double.IsFinite(value) ? Math.Log(1 + Math.Max(0, value)) : 0)];

    private static double[] Design(double[] x, double[] mean, double[] scale)
    {
        var z = new double[x.Length + 1];
        z[0] = 1;
        for (var j = 0; j < x.Length; j++)
        {
            z[j + 1] = (x[j] - mean[j]) / scale[j];
        }

        return z;
    }

    private static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    private static double Sigmoid(double t) => t >= 0 ? 1 / (1 + Math.Exp(-t)) : Math.Exp(t) / (1 + Math.Exp(t));

    // Gaussian elimination with partial pivoting; the matrix is small (features + 1).
    private static double[] Solve(double[,] a, double[] b)
    {
        var n = b.Length;
        var m = (double[,])a.Clone();
        var v = (double[])b.Clone();
        for (var col = 0; col < n; col++)
        {
            var pivot = col;
            for (var r = col + 1; r < n; r++)
            {
                if (Math.Abs(m[r, col]) > Math.Abs(m[pivot, col]))
                {
                    pivot = r;
                }
            }

            if (pivot != col)
            {
                for (var c = 0; c < n; c++)
                {
                    (m[col, c], m[pivot, c]) = (m[pivot, c], m[col, c]);
                }

                (v[col], v[pivot]) = (v[pivot], v[col]);
            }

            for (var r = col + 1; r < n; r++)
            {
                var f = m[r, col] / m[col, col];
                for (var c = col; c < n; c++)
                {
                    m[r, c] -= f * m[col, c];
                }

                v[r] -= f * v[col];
            }
        }

        var x = new double[n];
        for (var r = n - 1; r >= 0; r--)
        {
            var sum = v[r];
            for (var c = r + 1; c < n; c++)
            {
                sum -= m[r, c] * x[c];
            }

            x[r] = sum / m[r, r];
        }

        return x;
    }
}
