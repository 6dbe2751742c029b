using System.Text.Json;
using FeatureStore.Core.Performance;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Core.Tests.Performance;

/// <summary>Pool-adjacent-violators against scikit-learn's IsotonicRegression and the min–max formula of isotonic regression.</summary>
public sealed class IsotonicCalibrationUnitTests
{
    [Fact]
    public void Breakpoints_and_predictions_match_scikit_learn_on_labels()
    {
        // IsotonicRegression(out_of_bounds="clip").fit(s, y) on BinaryClassificationUnitTests.TiedSample
        // (scikit-learn 1.2.1): X_thresholds_, y_thresholds_ and predict(q).
        double[] x = [0, 0.2222222222222222, 0.25, 0.2777777777777778, 0.3055555555555556, 0.5555555555555556, 0.5833333333333334, 0.8333333333333334, 0.8611111111111112, 0.8888888888888888, 1];
        double[] y = [0.14814814814814814, 0.14814814814814814, 0.16666666666666666, 0.3333333333333333, 0.4444444444444444, 0.4444444444444444, 0.7, 0.7, 0.8, 1, 1];
        double[] q = [-0.1, 0.0, 0.01, 0.1, 0.2345, 0.5, 0.777, 0.99, 1.0, 1.5];
        double[] predicted = [0.14814814814814814, 0.14814814814814814, 0.14814814814814814, 0.14814814814814814, 0.15633333333333332, 0.4444444444444444, 0.7, 1, 1, 1];
        var (scores, labels) = BinaryClassificationUnitTests.TiedSample();

        var calibration = IsotonicCalibration.Fit(scores, labels);

        Assert.Equal(x.Length, calibration.Scores.Length);
        for (var i = 0; i < x.Length; i++)
        {
            Assert.Equal(x[i], calibration.Scores[i], 1e-12);
            Assert.Equal(y[i], calibration.Probabilities[i], 1e-12);
        }

        for (var i = 0; i < q.Length; i++)
        {
            Assert.Equal(predicted[i], calibration.Apply(q[i]), 1e-12);
        }
    }

    [Fact]
    public void Real_valued_targets_with_repeated_scores_match_scikit_learn()
    {
        // IsotonicRegression(out_of_bounds="clip").fit([1, 2, 2, 3, 4, 5, 6, 6, 7, 8], [1, 3, 2, 2, 4, 3.5, 5, 4, 7, 6])
        // -> X_thresholds_ [1..8], y_thresholds_ [1, 7/3, 7/3, 3.75, 3.75, 4.5, 6.5, 6.5];
        // predict([0, 1.5, 2.5, 4.2, 6.5, 9]) -> [1, 1.6667, 2.3333, 3.75, 5.5, 6.5] (scikit-learn 1.2.1).
        var calibration = IsotonicCalibration.Fit([1, 2, 2, 3, 4, 5, 6, 6, 7, 8], (ReadOnlySpan<double>)[1, 3, 2, 2, 4, 3.5, 5, 4, 7, 6]);

        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], calibration.Scores);
        double[] y = [1, 2.3333333333333335, 2.3333333333333335, 3.75, 3.75, 4.5, 6.5, 6.5];
        for (var i = 0; i < y.Length; i++)
        {
            Assert.Equal(y[i], calibration.Probabilities[i], 1e-12);
        }

        double[] q = [0, 1.5, 2.5, 4.2, 6.5, 9];
        double[] predicted = [1, 1.6666666666666667, 2.3333333333333335, 3.75, 5.5, 6.5];
        for (var i = 0; i < q.Length; i++)
        {
            Assert.Equal(predicted[i], calibration.Apply(q[i]), 1e-12);
        }
    }

    [Fact]
    public void The_fit_at_every_score_is_the_min_max_formula_of_isotonic_regression() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(400), Prop.ForAll(
            Arb.From(Gen.Choose(1, 40).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 41), n))), codes =>
            {
                // Scores on 21 levels (ties), labels from the low bit.
                var scores = codes.Select(c => (c / 2) / 20.0).ToArray();
                var labels = codes.Select(c => c % 2 == 1).ToArray();
                var calibration = IsotonicCalibration.Fit(scores, labels);

                // f(x_i) = max_{j ≤ i} min_{k ≥ i} (mean label of the distinct scores j..k), weighted by their counts.
                var levels = scores.Distinct().Order().ToArray();
                var count = levels.Select(v => scores.Count(s => s == v)).ToArray();
                var positives = levels.Select(v => Enumerable.Range(0, scores.Length).Count(i => scores[i] == v && labels[i])).ToArray();
                for (var i = 0; i < levels.Length; i++)
                {
                    var best = double.NegativeInfinity;
                    for (var j = 0; j <= i; j++)
                    {
                        var lowest = double.PositiveInfinity;
                        for (var k = i; k < levels.Length; k++)
                        {
                            var w = count[j..(k + 1)].Sum();
                            lowest = Math.Min(lowest, (double)positives[j..(k + 1)].Sum() / w);
                        }

                        best = Math.Max(best, lowest);
                    }

                    Assert.Equal(best, calibration.Apply(levels[i]), 1e-12);
                }

                for (var i = 1; i < calibration.Scores.Length; i++)
                {
                    Assert.True(calibration.Scores[i] > calibration.Scores[i - 1]);
                    Assert.True(calibration.Probabilities[i] >= calibration.Probabilities[i - 1]);
                }
            }));

    [Fact]
    public void Scores_outside_the_reference_take_the_end_values_and_nan_stays_nan()
    {
        var calibration = IsotonicCalibration.Fit([0.2, 0.4, 0.6, 0.8], [false, true, false, true]);

        Assert.Equal(calibration.Probabilities[0], calibration.Apply(-3));
        Assert.Equal(calibration.Probabilities[^1], calibration.Apply(7));
        Assert.True(double.IsNaN(calibration.Apply(double.NaN)));
        Assert.Equal(0.3, IsotonicCalibration.Identity.Apply(0.3));
        Assert.Throws<ArgumentException>(() => IsotonicCalibration.Fit([double.NaN], [true]));
    }

    [Fact]
    public void The_calibration_survives_a_json_round_trip()
    {
        var (scores, labels) = BinaryClassificationUnitTests.TiedSample();
        var calibration = IsotonicCalibration.Fit(scores, labels);

        var restored = JsonSerializer.Deserialize<IsotonicCalibration>(JsonSerializer.Serialize(calibration))!;

        Assert.Equal(calibration.Scores, restored.Scores);
        Assert.Equal(calibration.Probabilities, restored.Probabilities);
        foreach (var s in new[] { 0.0, 0.123, 0.5, 0.9, 1 })
        {
            Assert.Equal(calibration.Apply(s), restored.Apply(s));
        }
    }
}
