using FeatureStore.Core.Drift;

namespace FeatureStore.Core.Tests.Drift;

/// <summary>
/// KS statistic and p-value against scipy 1.10.1. Samples are deterministic so they can be rebuilt in
/// Python: <c>x = [((i*7919) % 1000)/10.0 for i in range(n1)]</c>,
/// <c>y = [((i*104729) % 1000)/10.0*scale + shift for i in range(n2)]</c>; the expected values are
/// <c>scipy.stats.ks_2samp(x, y, method='auto')</c> (statistic, pvalue) and
/// <c>scipy.stats.wasserstein_distance(x, y)</c>.
/// </summary>
public sealed class KolmogorovSmirnovUnitTests
{
    internal static double[] Sample(int n, long multiplier, double shift = 0, double scale = 1)
    {
        var values = new double[n];
        for (long i = 0; i < n; i++)
        {
            values[i] = ((i * multiplier % 1000) / 10.0 * scale) + shift;
        }

        Array.Sort(values);
        return values;
    }

    public static TheoryData<int, int, double, double, double, double, double> ScipyCases { get; } = new()
    {
        { 20, 20, 3.0, 1.0, 0.15, 0.9831368772656193, 4.109999999999999 },
        { 30, 45, 10.0, 1.0, 0.12222222222222222, 0.9314224657094162, 5.774444444444444 },
        { 400, 600, 5.0, 1.0, 0.055, 0.45120629961315184, 4.833333333333334 },
        { 400, 600, 0.0, 1.0, 0.008333333333333333, 1.0, 0.22916666666666669 },
        { 60, 12000, 8.0, 1.0, 0.11233333333333329, 0.4053764515147399, 8.566666666666666 },
        { 2000, 20000, 1.0, 1.0, 0.010000000000000009, 0.9925794846677785, 1.0 },
        { 2000, 20000, 0.0, 1.05, 0.04800000000000004, 0.00044408816502241894, 2.4975000000000023 },
        { 5000, 100000, 0.5, 1.0, 0.0050000000000000044, 0.9997375690883258, 0.5 },
        { 5000, 100000, 10.0, 1.0, 0.10000000000000009, 6.596455631030994e-42, 9.999999999999998 },
        { 137, 10000, 2.0, 1.0, 0.04159124087591241, 0.9657519410403567, 2.75 },
    };

    [Theory]
    [MemberData(nameof(ScipyCases))]
    public void Two_sample_statistic_p_value_and_wasserstein_match_scipy(int n1, int n2, double shift, double scale, double d, double p, double wasserstein)
    {
        var x = Sample(n1, 7919);
        var y = Sample(n2, 104729, shift, scale);

        var (actualD, actualP) = KolmogorovSmirnov.TwoSample(x, y);

        Assert.Equal(d, actualD, 1e-12);
        Assert.Equal(p, actualP, 1e-9);
        Assert.Equal(wasserstein, Wasserstein.Distance(x, y), 1e-9);
    }

    [Theory]
    [MemberData(nameof(ScipyCases))]
    public void A_streaming_window_against_a_baseline_sample_gives_scipys_values(int n1, int n2, double shift, double scale, double d, double p, double wasserstein)
    {
        // The reference sample holds every training value (n1 ≤ the sample size), so the window's KS is
        // exactly ks_2samp(x, y). Wasserstein is exact where the CDFs do not cross inside a gap of the
        // reference (clearly shifted, larger samples) and a lower bound where they do.
        var baseline = BaselineBuilder.Numeric(Sample(n1, 7919));
        var window = new NumericWindow(baseline);
        foreach (var v in Sample(n2, 104729, shift, scale).Reverse())
        {
            window.Add(v);
        }

        var ks = window.Evaluate(DriftMethod.Ks, 0.05)!;
        Assert.Equal(d, ks.Statistic, 1e-12);
        Assert.Equal(p, ks.Value, 1e-9);
        if (n1 >= 100 && shift >= 1)
        {
            Assert.Equal(wasserstein, window.WassersteinDistance(), 1e-9);
        }
        else
        {
            Assert.InRange(window.WassersteinDistance(), 0.9 * wasserstein, wasserstein + 1e-9);
        }
    }

    /// <summary>
    /// 20 000 training values with ties (about two of each): <c>x = [((i*7919) % 10007)/100.0 for i in range(20000)]</c>;
    /// windows <c>y = [((j*104729) % 9973)/100.0*scale + shift for j in range(n)]</c>. Expected values computed once
    /// with scipy 1.10.1 (Debian's python3-scipy): <c>r = scipy.stats.ks_2samp(x, y, method='auto')</c>, (r.statistic, r.pvalue).
    /// </summary>
    public static TheoryData<int, double, double, double, double> LargeReferenceCases { get; } = new()
    {
        { 300, 0.0, 1.0, 0.1281, 0.00010776813652216365 },
        { 2500, 1.5, 1.0, 0.015, 0.6935737563310513 },
        { 12000, 0.0, 1.01, 0.006516666666666726, 0.9055556711992585 },
        { 800, 30.0, 1.0, 0.29975, 9.027673064221071e-62 },
    };

    internal static double[] LargeTraining()
    {
        var values = new double[20_000];
        for (long i = 0; i < values.Length; i++)
        {
            values[i] = (i * 7919 % 10007) / 100.0;
        }

        return values;
    }

    [Theory]
    [MemberData(nameof(LargeReferenceCases))]
    public void A_window_against_twenty_thousand_training_values_with_ties_gives_scipys_values(int n, double shift, double scale, double d, double p)
    {
        // The baseline keeps the whole training column (its distinct values and their counts), so KS is
        // ks_2samp against every training value, not against a sample of them.
        var baseline = BaselineBuilder.Numeric(LargeTraining());
        var window = new NumericWindow(baseline);
        for (long j = 0; j < n; j++)
        {
            window.Add(((j * 104729 % 9973) / 100.0 * scale) + shift);
        }

        var ks = window.Evaluate(DriftMethod.Ks, 0.05)!;
        Assert.Equal(d, ks.Statistic, 1e-6);
        Assert.Equal(p, ks.Value, 1e-6);
    }

    [Fact]
    public void The_reference_is_the_whole_column_up_to_its_limit_and_a_sample_beyond_it_that_says_so()
    {
        var whole = BaselineBuilder.Numeric(LargeTraining());
        Assert.False(whole.ReferenceSampled);
        Assert.Equal(20_000, whole.ReferenceSize());
        Assert.Equal(10_007, whole.ReferenceValues.Length); // ties kept as counts

        var distinct = Enumerable.Range(0, 1000).Select(i => i / 10.0).ToArray();
        var sampled = BaselineBuilder.Numeric(distinct, maxReferenceValues: 100);
        Assert.True(sampled.ReferenceSampled);
        Assert.Equal(100, sampled.ReferenceSize());
        var window = new NumericWindow(sampled);
        window.Add(5);
        Assert.Equal(100, window.ReferenceSize);
        Assert.True(window.ReferenceSampled);
    }

    // scipy.stats.kstwo.sf(x, n), scipy 1.10.1: every branch of the finite-n Kolmogorov distribution.
    [Theory]
    [InlineData(5, 0.12, 0.999987712)]
    [InlineData(5, 0.3, 0.664)]
    [InlineData(5, 0.6, 0.03008000000000001)]
    [InlineData(50, 0.03, 0.9999999991521389)]
    [InlineData(50, 0.05, 0.9990238098461883)]
    [InlineData(50, 0.1, 0.6623112704658186)]
    [InlineData(50, 0.3, 0.00017353260202718738)]
    [InlineData(50, 0.6, 9.634070456142374e-18)]
    [InlineData(140, 0.02, 0.9999999774822331)]
    [InlineData(140, 0.05, 0.857648029765611)]
    [InlineData(140, 0.1, 0.11353657290090946)]
    [InlineData(140, 0.3, 1.1370251710737309e-11)]
    [InlineData(141, 0.02, 0.9999999744561288)]
    [InlineData(141, 0.05, 0.854845693009663)]
    [InlineData(141, 0.1, 0.11128445516467933)]
    [InlineData(1000, 0.02, 0.8108971656895577)]
    [InlineData(1000, 0.05, 0.013012074781090332)]
    [InlineData(1000, 0.1, 3.703687096817711e-09)]
    [InlineData(4762, 0.02, 0.04371959863194674)]
    [InlineData(4762, 0.05, 8.72411645891253e-11)]
    [InlineData(100000, 0.02, 3.5372711931479597e-35)]
    [InlineData(3, 0.2886751345948129, 0.9128211454637191)]
    [InlineData(3, 0.5196152422706632, 0.28913365408343883)]
    [InlineData(3, 0.7851963660978911, 0.019822337589547562)]
    [InlineData(10, 0.15811388300841897, 0.9316945195670987)]
    [InlineData(10, 0.2846049894151541, 0.32761745826303246)]
    [InlineData(10, 0.4300697617828996, 0.03390127427554823)]
    [InlineData(10, 0.7905694150420948, 3.602427284663163e-07)]
    [InlineData(50, 0.07071067811865475, 0.9487944875162981)]
    [InlineData(50, 0.1697056274847714, 0.09960275827669895)]
    [InlineData(50, 0.35355339059327373, 4.2690060009890896e-06)]
    [InlineData(140, 0.042257712736425826, 0.9548772475800795)]
    [InlineData(140, 0.11494097864307826, 0.04559450483891349)]
    [InlineData(140, 0.21128856368212914, 5.807997673785573e-06)]
    [InlineData(141, 0.04210759605332595, 0.9549094893418927)]
    [InlineData(141, 0.11453266126504659, 0.045609192585224445)]
    [InlineData(141, 0.21053798026662973, 5.81552565761188e-06)]
    [InlineData(1000, 0.015811388300841896, 0.9605616144751687)]
    [InlineData(1000, 0.03794733192202055, 0.10941541429803348)]
    [InlineData(1000, 0.07905694150420949, 6.967265066703322e-06)]
    [InlineData(4762, 0.007245615917297824, 0.9623975191450667)]
    [InlineData(4762, 0.013042108651136083, 0.3894163069099139)]
    [InlineData(4762, 0.019708075295050084, 0.04883275333697301)]
    [InlineData(4762, 0.03622807958648912, 7.253118754274753e-06)]
    [InlineData(100000, 0.0015811388300841895, 0.963608000716019)]
    [InlineData(100000, 0.0028460498941515412, 0.3920039771559741)]
    [InlineData(100000, 0.0043006976178289955, 0.04934385868411428)]
    [InlineData(100000, 0.007905694150420948, 7.413045381065036e-06)]
    [InlineData(150000, 0.0012909944487358056, 0.9636699085507471)]
    [InlineData(150000, 0.0035115049005613914, 0.049369940744492524)]
    [InlineData(150000, 0.006454972243679028, 7.420579432831126e-06)]
    public void Kolmogorov_survival_matches_scipy_kstwo(long n, double x, double expected) =>
        Assert.Equal(expected, KolmogorovSmirnov.KolmogorovSurvival(n, x), 1e-9);
}
