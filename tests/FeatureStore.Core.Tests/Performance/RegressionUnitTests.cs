using FeatureStore.Core.Performance;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Core.Tests.Performance;

/// <summary>Streaming regression metrics against scikit-learn's documentation and two-pass textbook formulas.</summary>
public sealed class RegressionUnitTests
{
    private static RegressionMetrics Of(double[] predictions, double[] targets)
    {
        var window = new RegressionWindow();
        for (var i = 0; i < predictions.Length; i++)
        {
            window.Add(predictions[i], targets[i]);
        }

        return window.Compute();
    }

    [Fact]
    public void Metrics_match_the_scikit_learn_documentation()
    {
        // scikit-learn docs of mean_absolute_error, mean_squared_error, mean_absolute_percentage_error and
        // r2_score: y_true = [3, -0.5, 2, 7], y_pred = [2.5, 0.0, 2, 8] -> 0.5, 0.375 (RMSE √0.375),
        // 0.3273..., 0.948...
        var metrics = Of([2.5, 0.0, 2, 8], [3, -0.5, 2, 7]);

        Assert.Equal(4, metrics.Count);
        Assert.Equal(0.5, metrics.Mae, 1e-12);
        Assert.Equal(Math.Sqrt(0.375), metrics.Rmse, 1e-12);
        Assert.Equal(0.3273809523809524, metrics.Mape, 1e-12);
        Assert.Equal(0.9486081370449679, metrics.R2, 1e-12);
        Assert.Equal(0, metrics.ZeroTargets);
    }

    private static Arbitrary<(double Prediction, double Target)[]> Pairs() =>
        Arb.From(Gen.Choose(1, 60).SelectMany(n => Gen.ArrayOf(Gen.Choose(-2000, 2000), 2 * n))
            .Select(v => Enumerable.Range(0, v.Length / 2).Select(i => (v[2 * i] / 7.0, (v[(2 * i) + 1] % 50 == 0 ? 0 : v[(2 * i) + 1]) / 3.0)).ToArray()));

    [Fact]
    public void Streaming_metrics_equal_the_two_pass_textbook_formulas() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll(Pairs(), pairs =>
        {
            var n = pairs.Length;
            var metrics = Of([.. pairs.Select(p => p.Prediction)], [.. pairs.Select(p => p.Target)]);

            var mae = pairs.Average(p => Math.Abs(p.Prediction - p.Target));
            var mse = pairs.Average(p => (p.Prediction - p.Target) * (p.Prediction - p.Target));
            var nonZero = pairs.Where(p => p.Target != 0).ToArray();
            var mean = pairs.Average(p => p.Target);
            var total = pairs.Sum(p => (p.Target - mean) * (p.Target - mean));
            Assert.Equal(n, metrics.Count);
            Assert.Equal(mae, metrics.Mae, 1e-9);
            Assert.Equal(Math.Sqrt(mse), metrics.Rmse, 1e-9);
            Assert.Equal(n - nonZero.Length, metrics.ZeroTargets);
            if (nonZero.Length > 0)
            {
                Assert.Equal(nonZero.Average(p => Math.Abs((p.Prediction - p.Target) / p.Target)), metrics.Mape, 1e-9);
            }
            else
            {
                Assert.True(double.IsNaN(metrics.Mape));
            }

            if (total > 0)
            {
                Assert.Equal(1 - (mse * n / total), metrics.R2, 1e-9);
            }
            else
            {
                Assert.True(double.IsNaN(metrics.R2));
            }
        }));

    [Fact]
    public void Merged_windows_equal_one_window_of_every_pair() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(Pairs(), Pairs(), (a, b) =>
        {
            RegressionWindow left = default, right = default, whole = default;
            foreach (var (prediction, target) in a)
            {
                left.Add(prediction, target);
                whole.Add(prediction, target);
            }

            foreach (var (prediction, target) in b)
            {
                right.Add(prediction, target);
                whole.Add(prediction, target);
            }

            left.Merge(right);
            var merged = left.Compute();
            var expected = whole.Compute();
            Assert.Equal(expected.Count, merged.Count);
            Assert.Equal(expected.ZeroTargets, merged.ZeroTargets);
            Assert.Equal(expected.Mae, merged.Mae, 1e-9);
            Assert.Equal(expected.Rmse, merged.Rmse, 1e-9);
            Assert.Equal(expected.Mape, merged.Mape, 1e-9);
            Assert.Equal(expected.R2, merged.R2, 1e-9);
        }));

    [Fact]
    public void Zero_targets_are_counted_and_left_out_of_mape_only()
    {
        var metrics = Of([1, 2, 0.5], [0, 4, 0]);

        Assert.Equal(2, metrics.ZeroTargets);
        Assert.Equal(0.5, metrics.Mape, 1e-12); // |2 − 4| / 4 alone
        Assert.Equal((1 + 2 + 0.5) / 3, metrics.Mae, 1e-12);
        Assert.True(double.IsNaN(Of([1], [0]).Mape));
    }

    [Fact]
    public void Constant_targets_have_no_r2_an_empty_window_no_metric_and_nothing_throws()
    {
        var constant = Of([1, 2, 3], [2, 2, 2]);
        Assert.True(double.IsNaN(constant.R2));
        Assert.Equal(Math.Sqrt(2.0 / 3), constant.Rmse, 1e-12);

        var empty = new RegressionWindow().Compute();
        Assert.Equal(0, empty.Count);
        Assert.True(double.IsNaN(empty.Mae) && double.IsNaN(empty.Rmse) && double.IsNaN(empty.Mape) && double.IsNaN(empty.R2));

        var window = new RegressionWindow();
        window.Add(double.NaN, 1);
        window.Add(1, double.PositiveInfinity);
        window.Add(3, 1);
        Assert.Equal(2, window.Rejected);
        Assert.Equal(1, window.Count);
        window.Reset();
        Assert.Equal(0, window.Count + window.Rejected);
    }

    [Fact]
    public void R2_stays_exact_for_targets_far_from_zero()
    {
        // Targets 1e9 + small offsets: a one-pass Σy² − (Σy)²/n would lose every digit of the variance.
        var targets = Enumerable.Range(0, 1000).Select(i => 1e9 + (i % 7)).ToArray();
        var predictions = targets.Select((t, i) => t + ((i % 3) - 1) * 0.5).ToArray();
        var mean = targets.Average(t => t - 1e9) + 1e9;
        var total = targets.Sum(t => (t - mean) * (t - mean));
        var residual = predictions.Zip(targets).Sum(p => (p.First - p.Second) * (p.First - p.Second));

        Assert.Equal(1 - (residual / total), Of(predictions, targets).R2, 1e-9);
    }
}
