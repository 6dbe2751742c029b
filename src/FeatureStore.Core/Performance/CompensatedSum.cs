namespace FeatureStore.Core.Performance;

/// <summary>
/// A running sum with Neumaier's correction: a few hundred thousand terms of mixed magnitude add up to the
/// last bits, where a plain sum drifts by n·ε. Mergeable: two partial sums add with their corrections.
/// </summary>
internal struct CompensatedSum
{
    private double _sum;
    private double _compensation;

    public readonly double Value => _sum + _compensation;

    public void Add(double value)
    {
        var t = _sum + value;
        _compensation += Math.Abs(_sum) >= Math.Abs(value) ? (_sum - t) + value : (value - t) + _sum;
        _sum = t;
    }

    public void Add(CompensatedSum other)
    {
        Add(other._sum);
        _compensation += other._compensation;
    }
}
