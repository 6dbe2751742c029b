using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;

namespace FeatureStore.Cli.Commands.Demo;

/// <summary>The exported training set: each payment with its point-in-time feature values, in the model's feature order.</summary>
internal sealed record TrainingSet(List<Payment> Payments, string[] Features, double?[][] Rows)
{
    /// <summary>The same payments with only <paramref name="features"/>, in that order (another model version's columns).</summary>
    public TrainingSet Project(string[] features)
    {
        var index = features.Select(f => Array.IndexOf(Features, f)).ToArray();
        if (index.Any(i => i < 0))
        {
            throw new ArgumentException($"the training set has no column {features[Array.IndexOf(index, -1)]}", nameof(features));
        }

        return new TrainingSet(Payments, features, [.. Rows.Select(r => index.Select(i => r[i]).ToArray())]);
    }
}

/// <summary>What the world does in an hour of the simulated prediction stream.</summary>
internal enum StreamPhase
{
    /// <summary>As in training.</summary>
    Calm,

    /// <summary>Distribution drift: amounts arrive <see cref="PredictionStream.AmountFactor"/> times larger, the labels are the payments' own.</summary>
    LargerAmounts,

    /// <summary>
    /// Concept drift: the payments (so the scores) are as in training, but in <see cref="PredictionStream.ShiftedCategory"/>
    /// a share of the legitimate payments that look safest (scored below the median) turn out fraudulent: a new pattern,
    /// fraud that passes for ordinary spending, which the model never saw.
    /// </summary>
    NewFraudInCategory,

    /// <summary>The same new pattern in every category: the whole model's realized performance falls.</summary>
    NewFraudEverywhere,
}

/// <summary>
/// The simulated traffic of the deployed model: per hour of event time, payments drawn from the training rows, scored by
/// the model and published as predictions (each with its own transaction id and its merchant's category); and for each,
/// <see cref="LabelDelayMs"/> later, its label (whether it was fraud) on the labels' topic.
/// </summary>
internal sealed class PredictionStream(IProducer<string, byte[]> producer, TrainingSet training, FraudModel model, IReadOnlyList<int> pool, string version, long startMs, int perHour)
{
    public const string PredictionsTopic = "fraud_predictions";
    public const string LabelsTopic = "fraud_labels";
    public const double AmountFactor = 3;
    public const string ShiftedCategory = "electronics";

    /// <summary>The share of the safest-looking legitimate payments in <see cref="ShiftedCategory"/> that turn out fraudulent during the concept drift.</summary>
    public const double ShiftedShare = 0.4;

    /// <summary>How long after its prediction a payment's label becomes known (well within the labels' horizon).</summary>
    public const long LabelDelayMs = 30 * 60_000;

    public const long HourMs = 3_600_000;

    private readonly Random _random = new(5);
    private readonly int[] _amountFeatures = [.. training.Features.Select((f, i) => (f, i)).Where(x => x.f.Contains("amount", StringComparison.Ordinal)).Select(x => x.i)];
    private readonly double _medianScore = Median([.. pool.Select(i => model.Score(training.Rows[i]))]);
    private long _sequence;

    /// <summary>Predictions (and labels) published so far.</summary>
    public long Published => _sequence;

    /// <summary>
    /// The stream of another version deployed in this one's place: its model scores the same payments with its own
    /// columns of <paramref name="projected"/>; prediction ids go on from this stream's, so no label names two predictions.
    /// </summary>
    public PredictionStream Deploy(TrainingSet projected, FraudModel next, string nextVersion) =>
        new(producer, projected, next, pool, nextVersion, startMs, perHour) { _sequence = _sequence };

    /// <summary>Publishes hours [<paramref name="fromHour"/>, <paramref name="toHour"/>) of <paramref name="phase"/>, <c>perHour</c> evenly over each.</summary>
    public void Produce(int fromHour, int toHour, StreamPhase phase, CancellationToken cancellationToken)
    {
        for (var h = fromHour; h < toHour; h++)
        {
            for (var k = 0; k < perHour; k++)
            {
                var row = pool[_random.Next(pool.Count)];
                var features = (double?[])training.Rows[row].Clone();
                if (phase == StreamPhase.LargerAmounts)
                {
                    foreach (var f in _amountFeatures)
                    {
                        features[f] *= AmountFactor;
                    }
                }

                var payment = training.Payments[row];
                var score = model.Score(features);
                var shifted = phase == StreamPhase.NewFraudEverywhere || (phase == StreamPhase.NewFraudInCategory && payment.Category == ShiftedCategory);
                var fraud = payment.Fraud || (shifted && score < _medianScore && _random.NextDouble() < ShiftedShare);
                Publish(payment, score, features, startMs + (h * HourMs) + (k * (HourMs / perHour)), fraud);
            }
        }

        producer.Flush(cancellationToken);
    }

    /// <summary>
    /// One calm prediction (and its label) at the start of <paramref name="hour"/>: the event time that closes the
    /// windows before it. Its row has every monitored feature, so every drift window closes.
    /// </summary>
    public void Close(int hour, CancellationToken cancellationToken)
    {
        var row = pool.First(i => training.Rows[i].All(v => v is not null));
        Publish(training.Payments[row], model.Score(training.Rows[row]), training.Rows[row], startMs + (hour * HourMs), training.Payments[row].Fraud);
        producer.Flush(cancellationToken);
    }

    private void Publish(Payment payment, double score, double?[] features, long timeMs, bool fraud)
    {
        // Each prediction is a new transaction of the simulated traffic: its own id, which its label names.
        var id = "p" + (++_sequence).ToString(CultureInfo.InvariantCulture);
        var document = new Dictionary<string, object?>
        {
            ["transaction_id"] = id,
            ["user_id"] = payment.User,
            ["merchant_category"] = payment.Category,
            ["model_version"] = version,
            ["event_time"] = timeMs,
            ["score"] = score,
        };
        for (var f = 0; f < features.Length; f++)
        {
            if (features[f] is { } value)
            {
                document[training.Features[f]] = value; // view__feature: the value the model was given
            }
        }

        producer.Produce(PredictionsTopic, new Message<string, byte[]> { Key = payment.User, Value = JsonSerializer.SerializeToUtf8Bytes(document) });
        var label = $$"""{"transaction_id":"{{id}}","is_fraud":{{(fraud ? "true" : "false")}},"labelled_at":{{(timeMs + LabelDelayMs).ToString(CultureInfo.InvariantCulture)}}}""";
        producer.Produce(LabelsTopic, new Message<string, byte[]> { Key = id, Value = Encoding.UTF8.GetBytes(label) });
    }

    private static double Median(double[] values)
    {
        Array.Sort(values);
        return values[values.Length / 2];
    }
}
