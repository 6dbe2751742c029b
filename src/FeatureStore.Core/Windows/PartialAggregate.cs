namespace FeatureStore.Core.Windows;

/// <summary>
/// The mergeable summary of the events of one tile for one feature: count, a compensated (Neumaier) sum,
/// Welford's mean and sum of squared deviations (merged with Chan's formula, for the sample standard
/// deviation), min, max, the last event (time, then source-log sequence) and its value, and a
/// HyperLogLog for distinct counts. Merge is associative and commutative up to floating-point rounding.
/// </summary>
public struct PartialAggregate
{
    /// <summary>Events with a value (all events for count).</summary>
    public long Count;

    /// <summary>Sum of values (with <see cref="SumCompensation"/>, the running Neumaier correction).</summary>
    public double Sum;

    /// <summary>Lost low-order bits of <see cref="Sum"/>.</summary>
    public double SumCompensation;

    /// <summary>Running mean (Welford).</summary>
    public double Mean;

    /// <summary>Sum of squared deviations from the mean (Welford).</summary>
    public double M2;

    /// <summary>Smallest value.</summary>
    public double Min;

    /// <summary>Largest value.</summary>
    public double Max;

    /// <summary>Event time of the last event (greatest time, then greatest sequence).</summary>
    public long LastTime;

    /// <summary>Source-log sequence of the last event.</summary>
    public long LastSequence;

    /// <summary>Value of the last event.</summary>
    public double LastNumber;

    /// <summary>Text of the last event, for last of a string field.</summary>
    public string? LastText;

    /// <summary>Greatest event time in the tile (whatever the field's value).</summary>
    public long MaxTime;

    /// <summary>Distinct values, for approx_distinct.</summary>
    public HyperLogLog? Distinct;

    /// <summary>The quantile sketch, for percentile.</summary>
    public QuantileSketch? Quantiles;

    /// <summary>The latest values, for last_n and last_n_distinct.</summary>
    public RecentValues? Recent;

    /// <summary>The value counts, for top_k.</summary>
    public FrequentValues? Frequent;

    /// <summary>An empty aggregate.</summary>
    public static PartialAggregate Empty => new() { Min = double.PositiveInfinity, Max = double.NegativeInfinity, LastTime = long.MinValue, LastSequence = long.MinValue, MaxTime = long.MinValue };

    /// <summary>Adds one event's value to an aggregate of <paramref name="feature"/> (every aggregation, with its parameter).</summary>
    public void Add(in WindowedFeature feature, long time, long sequence, in FeatureInput input)
    {
        if (!AggregationKinds.HasParameter(feature.Kind))
        {
            Add(feature.Kind, time, sequence, input);
            return;
        }

        MaxTime = Math.Max(MaxTime, time);
        if (!input.Present)
        {
            return;
        }

        Count++;
        switch (feature.Kind)
        {
            case AggregationKind.Percentile:
                (Quantiles ??= new QuantileSketch()).Add(input.Number);
                break;
            case AggregationKind.LastN or AggregationKind.LastNDistinct:
                (Recent ??= new RecentValues(feature.Size, feature.Kind == AggregationKind.LastNDistinct)).Add(time, sequence, input.Number, input.Text);
                break;
            default:
                (Frequent ??= new FrequentValues(FrequentValues.TileCapacity(feature.Size))).Add(input.Number, input.Text);
                break;
        }
    }

    /// <summary>Adds everything <paramref name="other"/> summarises, for <paramref name="feature"/> (every aggregation).</summary>
    public void Merge(in WindowedFeature feature, in PartialAggregate other)
    {
        if (!AggregationKinds.HasParameter(feature.Kind))
        {
            Merge(feature.Kind, other);
            return;
        }

        MaxTime = Math.Max(MaxTime, other.MaxTime);
        if (other.Count == 0)
        {
            return;
        }

        Count += other.Count;
        switch (feature.Kind)
        {
            case AggregationKind.Percentile when other.Quantiles is not null:
                (Quantiles ??= new QuantileSketch()).Merge(other.Quantiles);
                break;
            case AggregationKind.LastN or AggregationKind.LastNDistinct when other.Recent is not null:
                (Recent ??= new RecentValues(feature.Size, feature.Kind == AggregationKind.LastNDistinct)).Merge(other.Recent);
                break;
            case AggregationKind.TopK when other.Frequent is not null:
                (Frequent ??= new FrequentValues(FrequentValues.TileCapacity(feature.Size))).Merge(other.Frequent);
                break;
        }
    }

    /// <summary>The value of <paramref name="feature"/> over what this aggregate summarises (every aggregation; null when empty but for count and sum).</summary>
    public readonly FeatureValue Result(in WindowedFeature feature, long? eventTime)
    {
        if (!AggregationKinds.HasParameter(feature.Kind))
        {
            return Result(feature.Kind, feature.TextValued, eventTime);
        }

        if (Count == 0)
        {
            return FeatureValue.Null(ValueStatus.NullValue, eventTime);
        }

        return feature.Kind switch
        {
            AggregationKind.Percentile => FeatureValue.Of(Quantiles!.Quantile(feature.Parameter), eventTime),
            AggregationKind.LastN or AggregationKind.LastNDistinct when feature.TextValued => FeatureValue.OfStrings(Recent!.TextsNewestFirst(), eventTime),
            AggregationKind.LastN or AggregationKind.LastNDistinct when feature.IntValued => FeatureValue.OfInt64s(Recent!.IntegersNewestFirst(), eventTime),
            AggregationKind.LastN or AggregationKind.LastNDistinct => FeatureValue.OfDoubles(Recent!.NumbersNewestFirst(), eventTime),
            _ => FeatureValue.OfCounts(Frequent!.Top(feature.Size), eventTime),
        };
    }

    /// <summary>Adds one event's value.</summary>
    public void Add(AggregationKind kind, long time, long sequence, in FeatureInput input)
    {
        if (time > MaxTime)
        {
            MaxTime = time;
        }

        if (kind == AggregationKind.Count)
        {
            Count++;
            return;
        }

        if (!input.Present)
        {
            return;
        }

        Count++;
        switch (kind)
        {
            case AggregationKind.Sum:
            case AggregationKind.Mean:
                AddToSum(input.Number);
                break;
            case AggregationKind.StdDev:
                AddToSum(input.Number);
                var delta = input.Number - Mean;
                Mean += delta / Count;
                M2 += delta * (input.Number - Mean);
                break;
            case AggregationKind.Min:
                Min = Math.Min(Min, input.Number);
                break;
            case AggregationKind.Max:
                Max = Math.Max(Max, input.Number);
                break;
            case AggregationKind.Last:
                if (IsLater(time, sequence, input.Number, input.Text))
                {
                    (LastTime, LastSequence, LastNumber, LastText) = (time, sequence, input.Number, input.Text);
                }

                break;
            case AggregationKind.ApproxDistinct:
                (Distinct ??= new HyperLogLog()).Add(input.Hash);
                break;
        }
    }

    /// <summary>Adds everything <paramref name="other"/> summarises.</summary>
    public void Merge(AggregationKind kind, in PartialAggregate other)
    {
        MaxTime = Math.Max(MaxTime, other.MaxTime);
        if (other.Count == 0)
        {
            return;
        }

        var n = Count + other.Count;
        switch (kind)
        {
            case AggregationKind.Sum:
            case AggregationKind.Mean:
                AddToSum(other.Sum);
                AddToSum(other.SumCompensation);
                break;
            case AggregationKind.StdDev:
                AddToSum(other.Sum);
                AddToSum(other.SumCompensation);
                var delta = other.Mean - Mean;
                Mean += delta * other.Count / n;
                M2 += other.M2 + (delta * delta * Count * other.Count / n);
                break;
            case AggregationKind.Min:
                Min = Math.Min(Min, other.Min);
                break;
            case AggregationKind.Max:
                Max = Math.Max(Max, other.Max);
                break;
            case AggregationKind.Last:
                if (IsLater(other.LastTime, other.LastSequence, other.LastNumber, other.LastText))
                {
                    (LastTime, LastSequence, LastNumber, LastText) = (other.LastTime, other.LastSequence, other.LastNumber, other.LastText);
                }

                break;
            case AggregationKind.ApproxDistinct when other.Distinct is not null:
                (Distinct ??= new HyperLogLog()).Merge(other.Distinct);
                break;
        }

        Count = n;
    }

    /// <summary>The feature's value over what this aggregate summarises (§4: count and sum 0 when empty, others null).</summary>
    public readonly FeatureValue Result(AggregationKind kind, bool textValued, long? eventTime) => kind switch
    {
        AggregationKind.Count => FeatureValue.Of(Count, eventTime),
        AggregationKind.Sum => FeatureValue.Of(Sum + SumCompensation, eventTime),
        _ when Count == 0 => FeatureValue.Null(ValueStatus.NullValue, eventTime),
        AggregationKind.Mean => FeatureValue.Of((Sum + SumCompensation) / Count, eventTime),
        AggregationKind.Min => FeatureValue.Of(Min, eventTime),
        AggregationKind.Max => FeatureValue.Of(Max, eventTime),
        AggregationKind.StdDev when Count < 2 => FeatureValue.Null(ValueStatus.NullValue, eventTime),
        AggregationKind.StdDev => FeatureValue.Of(Math.Sqrt(Math.Max(0, M2 / (Count - 1))), eventTime),
        AggregationKind.Last when textValued => LastText is null ? FeatureValue.Null(ValueStatus.NullValue, eventTime) : FeatureValue.Of(LastText, eventTime),
        AggregationKind.Last => FeatureValue.Of(LastNumber, eventTime),
        AggregationKind.ApproxDistinct => FeatureValue.Of(Distinct?.Estimate() ?? 0, eventTime),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    // Greatest time, then greatest log position; equal positions happen only across partitions (each
    // has its own offsets), where the greater value wins so that merging in any order gives one answer.
    private readonly bool IsLater(long time, long sequence, double number, string? text)
    {
        if (time != LastTime)
        {
            return time > LastTime;
        }

        if (sequence != LastSequence)
        {
            return sequence > LastSequence;
        }

        var byText = string.CompareOrdinal(text, LastText);
        return byText != 0 ? byText > 0 : number.CompareTo(LastNumber) >= 0;
    }

    private void AddToSum(double value)
    {
        // Neumaier's improvement of Kahan summation: exact to the last bits for sums of mixed magnitudes.
        var t = Sum + value;
        SumCompensation += Math.Abs(Sum) >= Math.Abs(value) ? (Sum - t) + value : (value - t) + Sum;
        Sum = t;
    }
}
