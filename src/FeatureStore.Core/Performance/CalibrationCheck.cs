namespace FeatureStore.Core.Performance;

/// <summary>
/// NannyML's test of whether isotonic calibration helps (nannyml/calibration.py, <c>needs_calibration</c>):
/// ten stratified random splits of the reference, 90 % to fit and 10 % to test; the test parts' expected
/// calibration error over equal-count bins before and after calibration, pooled over the splits; calibrate
/// when it is lower after. Not when the labels have one class, nor when the AUC exceeds 0.999 (nothing to
/// rank). The splits come from a fixed seed, so the answer is the same on every run.
/// </summary>
internal static class CalibrationCheck
{
    private const int Splits = 10;
    private const double TestShare = 0.1;
    private const int Bins = 10;
    private const int Seed = 42;

    public static bool Improves(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels)
    {
        var positives = new List<int>();
        var negatives = new List<int>();
        for (var i = 0; i < scores.Length; i++)
        {
            if (double.IsFinite(scores[i]))
            {
                (labels[i] ? positives : negatives).Add(i);
            }
        }

        if (positives.Count == 0 || negatives.Count == 0 || BinaryClassificationWindow.Of(scores, labels).RocAuc > 0.999)
        {
            return false;
        }

        var testPositives = Math.Max(1, (int)Math.Round(positives.Count * TestShare));
        var testNegatives = Math.Max(1, (int)Math.Round(negatives.Count * TestShare));
        if (testPositives >= positives.Count || testNegatives >= negatives.Count)
        {
            return false;
        }

        var random = new Random(Seed);
        var testSize = testPositives + testNegatives;
        var raw = new double[Splits * testSize];
        var calibrated = new double[raw.Length];
        var truth = new bool[raw.Length];
        var train = new List<int>(scores.Length);
        var trainScores = new double[scores.Length];
        var trainLabels = new bool[scores.Length];
        var filled = 0;
        for (var split = 0; split < Splits; split++)
        {
            Shuffle(positives, random);
            Shuffle(negatives, random);
            train.Clear();
            train.AddRange(positives.Skip(testPositives));
            train.AddRange(negatives.Skip(testNegatives));
            for (var k = 0; k < train.Count; k++)
            {
                trainScores[k] = scores[train[k]];
                trainLabels[k] = labels[train[k]];
            }

            var calibration = IsotonicCalibration.Fit(trainScores.AsSpan(0, train.Count), trainLabels.AsSpan(0, train.Count));
            foreach (var i in positives.Take(testPositives).Concat(negatives.Take(testNegatives)))
            {
                raw[filled] = scores[i];
                calibrated[filled] = calibration.Apply(scores[i]);
                truth[filled] = labels[i];
                filled++;
            }
        }

        return EqualCountCalibrationError(raw, truth) > EqualCountCalibrationError(calibrated, truth);
    }

    // Σ_b (n_b / n)·|mean p_b − mean y_b| over bins of consecutive sorted predictions, as NannyML's
    // _get_bin_index_edges cuts them: width w = n // bins (bins = n // 2 when n ≤ 2·bins), edges at the
    // multiples of w up to n, the last edge moved to n; so the last bin takes the remainder, and small n
    // can give more than ten bins (25 predictions: twelve).
    internal static double EqualCountCalibrationError(double[] probabilities, bool[] labels)
    {
        var p = (double[])probabilities.Clone();
        var y = (bool[])labels.Clone();
        p.AsSpan().Sort(y.AsSpan());
        var n = p.Length;
        var bins = n <= 2 * Bins ? n / 2 : Bins;
        if (bins < 1)
        {
            return 0;
        }

        var width = n / bins;
        var edges = n / width;
        var error = 0.0;
        for (var b = 0; b < edges; b++)
        {
            var start = b * width;
            var end = b == edges - 1 ? n : start + width;
            double sumP = 0, sumY = 0;
            for (var i = start; i < end; i++)
            {
                sumP += p[i];
                sumY += y[i] ? 1 : 0;
            }

            error += Math.Abs(sumP - sumY) / n;
        }

        return error;
    }

    private static void Shuffle(List<int> items, Random random)
    {
        for (var i = items.Count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
