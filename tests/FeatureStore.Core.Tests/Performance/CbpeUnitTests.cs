using System.Text.Json;
using FeatureStore.Core.Performance;

namespace FeatureStore.Core.Tests.Performance;

/// <summary>
/// Confidence-based performance estimation: its sums and its AUC against direct computations, and its
/// behaviour on synthetic calibrated predictions (labels drawn Bernoulli(score) from a fixed seed), with and
/// without concept drift.
/// </summary>
public sealed class CbpeUnitTests
{
    private const int WindowSize = 2000;

    private static CbpeReference CalibratedReference(Random random) =>
        Fit(Synthetic.Predictions(random, 25 * WindowSize), CalibrationMode.None);

    private static CbpeReference Fit((double[] Scores, bool[] Labels) reference, CalibrationMode mode, double threshold = 0.5) =>
        CbpeReference.Fit(reference.Scores, reference.Labels, WindowSize, threshold, mode);

    [Fact]
    public void The_expected_confusion_matrix_sums_calibrated_probabilities_on_each_side_of_the_raw_threshold()
    {
        var random = new Random(3);
        var reference = Fit(Synthetic.Predictions(random, 5000, s => s * s), CalibrationMode.Isotonic, threshold: 0.4);
        var (scores, _) = Synthetic.Predictions(random, 777);

        var estimate = CbpeWindow.Of(scores, reference);

        double tp = 0, fp = 0, fn = 0, tn = 0;
        foreach (var s in scores)
        {
            var p = reference.Calibration.Apply(s);
            if (s >= 0.4)
            {
                tp += p;
                fp += 1 - p;
            }
            else
            {
                fn += p;
                tn += 1 - p;
            }
        }

        Assert.Equal(777, estimate.Count);
        Assert.Equal(tp, estimate.ExpectedConfusion.TruePositives, 1e-9);
        Assert.Equal(fp, estimate.ExpectedConfusion.FalsePositives, 1e-9);
        Assert.Equal(fn, estimate.ExpectedConfusion.FalseNegatives, 1e-9);
        Assert.Equal(tn, estimate.ExpectedConfusion.TrueNegatives, 1e-9);
        Assert.Equal(tp / (tp + fp), estimate.Precision.Value, 1e-9);
        Assert.Equal(tp / (tp + fn), estimate.Recall.Value, 1e-9);
        Assert.Equal(2 * tp / ((2 * tp) + fp + fn), estimate.F1.Value, 1e-9);
        Assert.Equal((tp + tn) / 777, estimate.Accuracy.Value, 1e-9);
    }

    [Fact]
    public void The_estimated_auc_is_nannymls_trapezoids_over_cumulative_calibrated_probabilities()
    {
        // NannyML's estimate_roc_auc, written out one prediction at a time (no grouping of ties): rank by raw
        // score from the highest, tps = cumsum(p), fps = k − tps, tpr = tps / tps[-1], fpr = fps / fps[-1],
        // area by trapezoids. Raw scores rounded to a grid, so ties are many.
        var random = new Random(5);
        var reference = Fit(Synthetic.Predictions(random, 6000, s => Math.Sqrt(s)), CalibrationMode.Isotonic);
        var scores = Synthetic.Predictions(random, 1500).Scores.Select(s => Math.Round(s, 2)).ToArray();

        var p = scores.OrderByDescending(s => s).Select(reference.Calibration.Apply).ToArray();
        var tps = new double[p.Length + 1];
        var fps = new double[p.Length + 1];
        for (var k = 1; k <= p.Length; k++)
        {
            tps[k] = tps[k - 1] + p[k - 1];
            fps[k] = k - tps[k];
        }

        var area = 0.0;
        for (var k = 1; k <= p.Length; k++)
        {
            area += (fps[k] - fps[k - 1]) / fps[^1] * ((tps[k] + tps[k - 1]) / tps[^1]) / 2;
        }

        Assert.Equal(area, CbpeWindow.Of(scores, reference).RocAuc.Value, 1e-9);
    }

    [Fact]
    public void With_probabilities_of_zero_and_one_the_estimate_is_the_realized_auc()
    {
        // A calibration that knows every label turns the soft Mann–Whitney statistic into the realized one.
        // Scores made distinct (tiny offsets keep their order, all stay within [0, 1]), each mapped to its own label.
        var (tied, labels) = BinaryClassificationUnitTests.TiedSample();
        var scores = tied.Select((s, i) => (0.99 * s) + (i * 1e-7)).ToArray();
        var order = Enumerable.Range(0, scores.Length).OrderBy(i => scores[i]).ToArray();
        var oracle = new CbpeReference(new IsotonicCalibration([.. order.Select(i => scores[i])], [.. order.Select(i => labels[i] ? 1.0 : 0.0)]), 0.5, 1, 0, null);

        Assert.Equal(BinaryClassificationWindow.Of(scores, labels).RocAuc, CbpeWindow.Of(scores, oracle).RocAuc.Value, 1e-9);
    }

    [Fact]
    public void On_calibrated_predictions_every_realized_metric_lies_in_the_band_of_its_estimate()
    {
        var random = new Random(17);
        var reference = CalibratedReference(random);
        Assert.Equal(25, reference.Chunks);

        for (var w = 0; w < 10; w++)
        {
            var (scores, labels) = Synthetic.Predictions(random, WindowSize);
            var window = new CbpeWindow(reference);
            foreach (var s in scores)
            {
                window.Add(s);
            }

            var estimate = window.Compute();
            var realized = BinaryClassificationWindow.Of(scores, labels);
            Assert.True(estimate.RocAuc.Contains(realized.RocAuc), $"window {w}: realized AUC {realized.RocAuc} outside {estimate.RocAuc}");
            Assert.True(estimate.Precision.Contains(realized.Precision), $"window {w}: precision {realized.Precision} outside {estimate.Precision}");
            Assert.True(estimate.Recall.Contains(realized.Recall), $"window {w}: recall {realized.Recall} outside {estimate.Recall}");
            Assert.True(estimate.F1.Contains(realized.F1), $"window {w}: F1 {realized.F1} outside {estimate.F1}");
            Assert.True(estimate.Accuracy.Contains(realized.Accuracy), $"window {w}: accuracy {realized.Accuracy} outside {estimate.Accuracy}");
            Assert.InRange(estimate.RocAuc.Upper - estimate.RocAuc.Lower, 0.01, 0.1);
        }
    }

    [Fact]
    public void Miscalibrated_scores_are_calibrated_first_and_then_estimated_within_the_band()
    {
        // The true probability of a positive is score², so the raw scores overstate it everywhere.
        var random = new Random(23);
        var reference = Fit(Synthetic.Predictions(random, 25 * WindowSize, s => s * s), CalibrationMode.Auto);
        Assert.NotEqual(IsotonicCalibration.Identity, reference.Calibration);

        var (scores, labels) = Synthetic.Predictions(random, WindowSize, s => s * s);
        var estimate = CbpeWindow.Of(scores, reference);
        var realized = BinaryClassificationWindow.Of(scores, labels);
        Assert.True(estimate.RocAuc.Contains(realized.RocAuc), $"realized AUC {realized.RocAuc} outside {estimate.RocAuc}");
        Assert.True(estimate.Precision.Contains(realized.Precision), $"precision {realized.Precision} outside {estimate.Precision}");
        Assert.True(estimate.Accuracy.Contains(realized.Accuracy), $"accuracy {realized.Accuracy} outside {estimate.Accuracy}");

        // Without calibration, taking the scores at their word, precision is overestimated far beyond the band.
        var uncalibrated = CbpeWindow.Of(scores, Fit(Synthetic.Predictions(new Random(23), 25 * WindowSize, s => s * s), CalibrationMode.None));
        Assert.True(uncalibrated.Precision.Lower > realized.Precision);
    }

    [Fact]
    public void The_calibration_check_measures_the_error_over_equal_count_bins_as_nannyml()
    {
        // NannyML's _calculate_expected_calibration_error with _get_bin_index_edges: four predictions give
        // two bins of two, [0.1, 0.2] with no positive and [0.3, 0.4] with two: ½·|0.15 − 0| + ½·|0.35 − 1| = 0.4.
        Assert.Equal(0.4, CalibrationCheck.EqualCountCalibrationError([0.4, 0.1, 0.3, 0.2], [true, false, true, false]), 1e-12);

        // 25 predictions: width 25 // 10 = 2, edges 0, 2, …, 24 with the last moved to 25, so eleven bins of
        // two and a twelfth of three.
        var p = Enumerable.Range(0, 25).Select(i => (i + 0.5) / 25).ToArray();
        var y = Enumerable.Range(0, 25).Select(i => i % 3 == 1).ToArray();
        var expected = 0.0;
        for (var b = 0; b < 12; b++)
        {
            var members = Enumerable.Range(b * 2, b == 11 ? 3 : 2).ToArray();
            expected += members.Length / 25.0 * Math.Abs(members.Average(i => p[i]) - members.Average(i => y[i] ? 1.0 : 0.0));
        }

        Assert.Equal(expected, CalibrationCheck.EqualCountCalibrationError(p, y), 1e-12);
    }

    [Fact]
    public void Under_concept_drift_the_realized_auc_drops_while_the_estimate_does_not()
    {
        // Same score distribution, but for the highest-scored third the labels flip: p(y | score) changed,
        // which is exactly what CBPE assumes does not happen. The estimate sees only scores, so it cannot move.
        var random = new Random(29);
        var reference = CalibratedReference(random);
        var (scores, labels) = Synthetic.Predictions(random, WindowSize);
        var drifted = scores.Select((s, i) => s > 0.5 ? !labels[i] : labels[i]).ToArray();

        var estimate = CbpeWindow.Of(scores, reference);
        var before = BinaryClassificationWindow.Of(scores, labels);
        var after = BinaryClassificationWindow.Of(scores, drifted);

        Assert.True(estimate.RocAuc.Contains(before.RocAuc));
        Assert.True(after.RocAuc < estimate.RocAuc.Lower - 0.1, $"realized {after.RocAuc} vs band {estimate.RocAuc}");
    }

    [Fact]
    public void A_band_from_the_estimates_own_spread_would_miss_the_label_noise()
    {
        // The estimate depends on the scores only, the realized metric on the labels' draw as well; the band
        // uses the realized spread. Measured here: the estimate's spread over the reference chunks is well
        // under half of it, so ±3σ of the estimate would leave out realized values a third of the time.
        var random = new Random(31);
        var (scores, labels) = Synthetic.Predictions(random, 25 * WindowSize);
        var reference = Fit((scores, labels), CalibrationMode.None);
        var estimates = Enumerable.Range(0, 25).Select(c => CbpeWindow.Of(scores.AsSpan(c * WindowSize, WindowSize), reference).RocAuc.Value).ToArray();
        var mean = estimates.Average();
        var estimateSpread = Math.Sqrt(estimates.Sum(e => (e - mean) * (e - mean)) / 24);

        var realizedSpread = reference.Spread!.RocAuc;
        Assert.True(estimateSpread < realizedSpread / 2, $"estimate σ {estimateSpread}, realized σ {realizedSpread}");
    }

    [Fact]
    public void Degenerate_inputs_give_nan_never_an_exception()
    {
        var random = new Random(37);
        var reference = CalibratedReference(random);

        var empty = new CbpeWindow(reference).Compute();
        Assert.Equal(0, empty.Count);
        Assert.True(double.IsNaN(empty.RocAuc.Value) && double.IsNaN(empty.Accuracy.Value));
        Assert.Equal(0, empty.Precision.Value);

        var window = new CbpeWindow(reference);
        window.Add(double.NaN);
        window.Add(double.NegativeInfinity);
        window.Add(0.7);
        Assert.Equal(1, window.Count);
        Assert.Equal(2, window.Rejected);
        Assert.False(double.IsNaN(window.Compute().Accuracy.Value));

        // One chunk of reference: a calibration but no band.
        var (scores, labels) = Synthetic.Predictions(random, WindowSize + 10);
        var short_ = CbpeReference.Fit(scores, labels, WindowSize, mode: CalibrationMode.Isotonic);
        Assert.Equal(1, short_.Chunks);
        Assert.Null(short_.Spread);
        Assert.NotNull(JsonSerializer.Deserialize<CbpeReference>(JsonSerializer.Serialize(short_)));
        var estimate = CbpeWindow.Of(scores, short_);
        Assert.False(double.IsNaN(estimate.RocAuc.Value));
        Assert.True(double.IsNaN(estimate.RocAuc.Lower));
        Assert.False(estimate.RocAuc.Contains(estimate.RocAuc.Value));

        // Perfectly separated reference: nothing to calibrate.
        var separated = CbpeReference.Fit([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [false, false, false, true, true, true], 3);
        Assert.Equal(IsotonicCalibration.Identity, separated.Calibration);
        Assert.Throws<ArgumentException>(() => CbpeReference.Fit([0.1], [true, false], 3));
    }

    [Fact]
    public void Merged_windows_estimate_like_one_window_of_every_prediction()
    {
        var random = new Random(41);
        var reference = CalibratedReference(random);
        var (scores, _) = Synthetic.Predictions(random, 900);
        var left = new CbpeWindow(reference);
        var right = new CbpeWindow(reference);
        for (var i = 0; i < scores.Length; i++)
        {
            (i < 300 ? left : right).Add(scores[i]);
        }

        left.Merge(right);
        var merged = left.Compute();
        var whole = CbpeWindow.Of(scores, reference);
        Assert.Equal(whole.RocAuc.Value, merged.RocAuc.Value, 1e-12);
        Assert.Equal(whole.ExpectedConfusion.TruePositives, merged.ExpectedConfusion.TruePositives, 1e-9);
        left.Reset();
        Assert.Equal(0, left.Count);
    }

    [Fact]
    public void The_reference_survives_a_json_round_trip()
    {
        var random = new Random(43);
        var reference = Fit(Synthetic.Predictions(random, 10 * WindowSize, s => s * s), CalibrationMode.Isotonic);
        var (scores, _) = Synthetic.Predictions(random, 500);

        var restored = JsonSerializer.Deserialize<CbpeReference>(JsonSerializer.Serialize(reference))!;

        Assert.Equal(reference.Spread, restored.Spread);
        Assert.NotNull(restored.Spread);
        Assert.Equal(reference.ChunkSize, restored.ChunkSize);
        Assert.Equal(CbpeWindow.Of(scores, reference), CbpeWindow.Of(scores, restored));
    }
}
