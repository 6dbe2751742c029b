using FeatureStore.Core.Performance;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Core.Tests.Performance;

/// <summary>
/// Realized binary metrics against scikit-learn's published examples, against scikit-learn 1.2.1 on tied
/// scores, and against textbook definitions computed here independently (an O(n²) pairwise AUC).
/// </summary>
public sealed class BinaryClassificationUnitTests
{
    private const double Tolerance = 1e-9;

    [Fact]
    public void Roc_auc_and_average_precision_match_the_scikit_learn_documentation()
    {
        // scikit-learn docs of roc_auc_score and average_precision_score:
        // y_true = [0, 0, 1, 1], y_scores = [0.1, 0.4, 0.35, 0.8] -> 0.75 and 0.83...
        var metrics = BinaryClassificationWindow.Of([0.1, 0.4, 0.35, 0.8], [false, false, true, true]);

        Assert.Equal(0.75, metrics.RocAuc, Tolerance);
        Assert.Equal(0.8333333333333333, metrics.AveragePrecision, Tolerance);
        Assert.Equal(BinaryMetricIssues.None, metrics.Issues);
        Assert.Null(metrics.Reason());
    }

    [Fact]
    public void Log_loss_and_brier_score_match_the_scikit_learn_documentation()
    {
        // log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]]) -> 0.21616...
        // (classes sorted, so "spam" is the positive class and its probabilities the scores).
        Assert.Equal(0.21616187468057912, BinaryClassificationWindow.Of([0.9, 0.1, 0.2, 0.65], [true, false, false, true]).LogLoss, Tolerance);

        // brier_score_loss([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]) -> 0.037...
        Assert.Equal(0.0375, BinaryClassificationWindow.Of([0.1, 0.9, 0.8, 0.3], [false, true, true, false]).Brier, Tolerance);
    }

    /// <summary>
    /// 200 scores on 37 levels (many ties, 0 and 1 among them for log loss's clipping):
    /// <c>s = [((i*7919) % 37)/36.0 for i in range(200)]</c>,
    /// <c>y = [1 if ((i*104729) % 101)/100.0 &lt; 0.1 + 0.8*s[i] else 0 for i in range(200)]</c>; expected values
    /// from scikit-learn 1.2.1 (Debian's python3-sklearn): roc_auc_score, average_precision_score,
    /// <c>log_loss(y, s, eps=1e-15)</c>, brier_score_loss, and precision/recall/f1/accuracy_score of
    /// <c>(s &gt;= t)</c>. Two positives score 0, so the clipping counts: with scikit-learn's later default
    /// (ε = 2.2e-16, machine epsilon) log_loss is 0.9206161935709147.
    /// </summary>
    [Theory]
    [InlineData(0.5, 0.7052631578947368, 0.6767676767676768, 0.690721649484536, 0.7)]
    [InlineData(0.3, 0.6567164179104478, 0.8888888888888888, 0.7553648068669527, 0.715)]
    public void Every_metric_matches_scikit_learn_on_tied_scores(double threshold, double precision, double recall, double f1, double accuracy)
    {
        var (scores, labels) = TiedSample();

        var metrics = BinaryClassificationWindow.Of(scores, labels, threshold);

        Assert.Equal(200, metrics.Count);
        Assert.Equal(99, metrics.Positives);
        Assert.Equal(0.7701270127012702, metrics.RocAuc, Tolerance);
        Assert.Equal(0.7864292351767461, metrics.AveragePrecision, Tolerance);
        Assert.Equal(0.90556742362885, metrics.LogLoss, Tolerance);
        Assert.Equal(0.1993094135802469, metrics.Brier, Tolerance);
        Assert.Equal(precision, metrics.Precision, Tolerance);
        Assert.Equal(recall, metrics.Recall, Tolerance);
        Assert.Equal(f1, metrics.F1, Tolerance);
        Assert.Equal(accuracy, metrics.Accuracy, Tolerance);
    }

    internal static (double[] Scores, bool[] Labels) TiedSample()
    {
        var scores = new double[200];
        var labels = new bool[200];
        for (long i = 0; i < 200; i++)
        {
            scores[i] = (i * 7919 % 37) / 36.0;
            labels[i] = (i * 104729 % 101) / 100.0 < 0.1 + (0.8 * scores[i]);
        }

        return (scores, labels);
    }

    // Scores on a grid of nine levels, so most windows have ties; the label is the low bit.
    private static Arbitrary<int[]> Pairs(int maxLength) =>
        Arb.From(Gen.Choose(1, maxLength).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 17), n)));

    private static double ScoreOf(int code) => (code / 2) / 8.0;

    private static bool LabelOf(int code) => code % 2 == 1;

    [Fact]
    public void Every_metric_equals_its_textbook_definition_ties_included() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll(Pairs(80), Arb.From(Gen.Choose(0, 8)), (codes, t) =>
        {
            var scores = codes.Select(ScoreOf).ToArray();
            var labels = codes.Select(LabelOf).ToArray();
            var threshold = t / 8.0;

            AssertTextbook(scores, labels, threshold, 10, BinaryClassificationWindow.Of(scores, labels, threshold));
        }));

    [Fact]
    public void Continuous_scores_with_ties_give_the_textbook_values_for_a_large_window()
    {
        var random = new Random(11);
        var (scores, labels) = Synthetic.Predictions(random, 3000);
        for (var i = 0; i < scores.Length; i += 3)
        {
            scores[i] = Math.Round(scores[i], 2); // a third of the scores on a grid: ties across labels
        }

        var window = new BinaryClassificationWindow(0.4, calibrationBins: 15);
        for (var i = 0; i < scores.Length; i++)
        {
            window.Add(scores[i], labels[i]);
        }

        AssertTextbook(scores, labels, 0.4, 15, window.Compute());
    }

    private static void AssertTextbook(double[] scores, bool[] labels, double threshold, int bins, BinaryClassificationMetrics metrics)
    {
        var n = scores.Length;
        var positives = labels.Count(l => l);
        var negatives = n - positives;
        Assert.Equal(n, metrics.Count);
        Assert.Equal(positives, metrics.Positives);

        if (positives > 0 && negatives > 0)
        {
            // Every (positive, negative) pair: 1 when the positive scores higher, ½ on a tie.
            var wins = 0.0;
            for (var i = 0; i < n; i++)
            {
                for (var j = 0; j < n; j++)
                {
                    if (labels[i] && !labels[j])
                    {
                        wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0;
                    }
                }
            }

            Assert.Equal(wins / ((double)positives * negatives), metrics.RocAuc, Tolerance);

            // Average precision: the mean over positives of the precision among all scores at or above theirs.
            var ap = 0.0;
            for (var i = 0; i < n; i++)
            {
                if (labels[i])
                {
                    var atOrAbove = Enumerable.Range(0, n).Where(j => scores[j] >= scores[i]).ToArray();
                    ap += (double)atOrAbove.Count(j => labels[j]) / atOrAbove.Length;
                }
            }

            Assert.Equal(ap / positives, metrics.AveragePrecision, Tolerance);
            Assert.Equal(BinaryMetricIssues.None, metrics.Issues & (BinaryMetricIssues.NoPositiveLabels | BinaryMetricIssues.NoNegativeLabels));
        }
        else
        {
            Assert.True(double.IsNaN(metrics.RocAuc));
            Assert.True(double.IsNaN(metrics.AveragePrecision));
            Assert.NotNull(metrics.Reason());
        }

        var logLoss = 0.0;
        var brier = 0.0;
        for (var i = 0; i < n; i++)
        {
            var p = Math.Min(Math.Max(scores[i], 1e-15), 1 - 1e-15);
            var y = labels[i] ? 1.0 : 0.0;
            logLoss -= (y * Math.Log(p)) + ((1 - y) * Math.Log(1 - p));
            brier += (scores[i] - y) * (scores[i] - y);
        }

        Assert.Equal(logLoss / n, metrics.LogLoss, Tolerance);
        Assert.Equal(brier / n, metrics.Brier, Tolerance);

        var tp = Enumerable.Range(0, n).Count(i => labels[i] && scores[i] >= threshold);
        var fp = Enumerable.Range(0, n).Count(i => !labels[i] && scores[i] >= threshold);
        var fn = positives - tp;
        var tn = negatives - fp;
        Assert.Equal(new ConfusionMatrix(tp, fp, fn, tn), metrics.Confusion);
        Assert.Equal(tp + fp == 0 ? 0 : (double)tp / (tp + fp), metrics.Precision, Tolerance);
        Assert.Equal(positives == 0 ? 0 : (double)tp / positives, metrics.Recall, Tolerance);
        var precision = tp + fp == 0 ? 0 : (double)tp / (tp + fp);
        var recall = positives == 0 ? 0 : (double)tp / positives;
        Assert.Equal(precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall), metrics.F1, Tolerance);
        Assert.Equal((double)(tp + tn) / n, metrics.Accuracy, Tolerance);
        Assert.Equal(tp + fp == 0, metrics.Issues.HasFlag(BinaryMetricIssues.NoPositivePredictions));

        // Expected calibration error: bins [b/B, (b+1)/B), the last closed; weight n_b / n.
        var ece = 0.0;
        for (var b = 0; b < bins; b++)
        {
            var members = Enumerable.Range(0, n).Where(i => Math.Min((int)Math.Floor(scores[i] * bins), bins - 1) == b).ToArray();
            if (members.Length > 0)
            {
                var meanScore = members.Average(i => scores[i]);
                var positiveShare = members.Average(i => labels[i] ? 1.0 : 0.0);
                ece += (double)members.Length / n * Math.Abs(meanScore - positiveShare);
            }
        }

        Assert.Equal(ece, metrics.CalibrationError, Tolerance);
    }

    [Fact]
    public void One_class_windows_have_no_ranking_metrics_and_say_why_without_throwing()
    {
        var onlyNegatives = BinaryClassificationWindow.Of([0.1, 0.7, 0.3], [false, false, false]);
        Assert.True(double.IsNaN(onlyNegatives.RocAuc));
        Assert.True(double.IsNaN(onlyNegatives.AveragePrecision));
        Assert.Equal(BinaryMetricIssues.NoPositiveLabels, onlyNegatives.Issues);
        Assert.Equal(0, onlyNegatives.Recall);
        Assert.Equal(0, onlyNegatives.F1);
        Assert.Contains("no positive label", onlyNegatives.Reason(), StringComparison.Ordinal);
        Assert.False(double.IsNaN(onlyNegatives.LogLoss));

        var onlyPositivesBelowThreshold = BinaryClassificationWindow.Of([0.1, 0.2], [true, true]);
        Assert.True(double.IsNaN(onlyPositivesBelowThreshold.RocAuc));
        Assert.Equal(BinaryMetricIssues.NoNegativeLabels | BinaryMetricIssues.NoPositivePredictions, onlyPositivesBelowThreshold.Issues);
        Assert.Equal(0, onlyPositivesBelowThreshold.Precision);

        var empty = new BinaryClassificationWindow().Compute();
        Assert.Equal(BinaryMetricIssues.Empty, empty.Issues);
        Assert.True(double.IsNaN(empty.LogLoss) && double.IsNaN(empty.Brier) && double.IsNaN(empty.CalibrationError) && double.IsNaN(empty.Accuracy));
    }

    [Fact]
    public void Scores_that_are_not_probabilities_are_counted_and_left_out()
    {
        var window = new BinaryClassificationWindow();
        window.Add(double.NaN, true);
        window.Add(1.5, false);
        window.Add(-0.01, true);
        window.Add(double.PositiveInfinity, true);
        window.Add(0.8, true);
        window.Add(0.2, false);

        Assert.Equal(2, window.Count);
        Assert.Equal(4, window.Rejected);
        Assert.Equal(1, window.Compute().RocAuc);
        Assert.Equal(BinaryClassificationWindow.Of([double.NaN, 1.5, 0.8, 0.2], [true, false, true, false]), window.Compute());
    }

    [Fact]
    public void Merged_windows_equal_one_window_of_every_pair_and_a_reset_window_starts_empty() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(200), Prop.ForAll(Pairs(60), Pairs(60), (a, b) =>
        {
            var left = new BinaryClassificationWindow();
            var right = new BinaryClassificationWindow();
            var whole = new BinaryClassificationWindow();
            foreach (var c in a)
            {
                left.Add(ScoreOf(c), LabelOf(c));
                whole.Add(ScoreOf(c), LabelOf(c));
            }

            foreach (var c in b)
            {
                right.Add(ScoreOf(c), LabelOf(c));
                whole.Add(ScoreOf(c), LabelOf(c));
            }

            left.Merge(right);
            var merged = left.Compute();
            var expected = whole.Compute();
            Assert.Equal(expected.Count, merged.Count);
            Assert.Equal(expected.RocAuc, merged.RocAuc, Tolerance);
            Assert.Equal(expected.AveragePrecision, merged.AveragePrecision, Tolerance);
            Assert.Equal(expected.LogLoss, merged.LogLoss, Tolerance);
            Assert.Equal(expected.Confusion, merged.Confusion);
            Assert.Equal(expected.CalibrationError, merged.CalibrationError, Tolerance);

            left.Reset();
            Assert.Equal(0, left.Count);
            Assert.Equal(BinaryMetricIssues.Empty, left.Compute().Issues);
        }));
}
