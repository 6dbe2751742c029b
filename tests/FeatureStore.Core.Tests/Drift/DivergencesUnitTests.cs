using FeatureStore.Core.Drift;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Core.Tests.Drift;

/// <summary>PSI, JS, Hellinger, chi-squared and the baseline's bins against numpy/scipy, and their invariants.</summary>
public sealed class DivergencesUnitTests
{
    // numpy 1.24 / scipy 1.10.1, with pe = where(p == 0, 1e-4, p), qe likewise:
    //   psi = sum((qe - pe) * log(qe / pe)); js = scipy.spatial.distance.jensenshannon(p, q);
    //   hellinger = sqrt(sum((sqrt(p) - sqrt(q))**2) / 2)
    [Theory]
    [InlineData(new[] { 0.1, 0.2, 0.3, 0.4 }, new[] { 0.25, 0.25, 0.25, 0.25 }, 0.22821740957339184, 0.16692996572597965, 0.16789959640267477)]
    [InlineData(new[] { 0.1, 0.2, 0.3, 0.4 }, new[] { 0.0, 0.5, 0.5, 0.0 }, 4.3839275477625606, 0.46811059515024056, 0.5444941683456495)]
    [InlineData(new[] { 0.25, 0.25, 0.25, 0.25 }, new[] { 0.0, 0.5, 0.5, 0.0 }, 4.257031786505947, 0.46450140402245893, 0.541196100146197)]
    public void Distances_match_numpy_and_scipy(double[] reference, double[] current, double psi, double js, double hellinger)
    {
        Assert.Equal(psi, Divergences.Psi(reference, current), 1e-12);
        Assert.Equal(js, Divergences.JensenShannon(reference, current), 1e-12);
        Assert.Equal(hellinger, Divergences.Hellinger(reference, current), 1e-12);
    }

    [Fact]
    public void Chi_squared_matches_scipy_chisquare()
    {
        // scipy.stats.chisquare([30, 14, 34, 45, 57, 20], f_exp=array([0.15, 0.1, 0.2, 0.2, 0.25, 0.1]) * 200)
        // -> statistic=4.305, pvalue=0.5063895442501871
        var (statistic, p) = Divergences.ChiSquare([0.15, 0.1, 0.2, 0.2, 0.25, 0.1], [30, 14, 34, 45, 57, 20]);
        Assert.Equal(4.305, statistic, 1e-10);
        Assert.Equal(0.5063895442501871, p, 1e-10);
    }

    [Fact]
    public void Baseline_edges_are_numpys_deciles_and_the_std_is_numpys()
    {
        // x = array([((i*7919) % 1000)/10.0 for i in range(1000)])**1.5
        // numpy.quantile(x, [0.1, …, 0.9]); numpy.std(x); numpy.mean(x)
        double[] deciles = [31.575461220580767, 89.30872286645686, 164.0704976108833, 252.6029767639886, 353.0233257608815, 464.06115509706126, 584.7838393682439, 714.4687756508395, 852.5346016152394];
        var values = KolmogorovSmirnovUnitTests.Sample(1000, 7919).Select(v => Math.Pow(v, 1.5)).ToArray();

        var baseline = BaselineBuilder.Numeric(values);

        Assert.Equal(deciles.Length, baseline.Edges.Length);
        for (var i = 0; i < deciles.Length; i++)
        {
            Assert.Equal(deciles[i], baseline.Edges[i], 1e-9);
        }

        Assert.Equal(299.8331215341436, baseline.StdDev, 1e-9);
        Assert.Equal(399.5001241940877, baseline.Mean, 1e-9);
        Assert.All(baseline.Shares, s => Assert.Equal(0.1, s, 1e-12));
    }

    [Fact]
    public void Unseen_categories_go_to_other()
    {
        var baseline = BaselineBuilder.Categorical(["a", "a", "b", "c"], maxCategories: 2);
        Assert.Equal(["a", "b"], baseline.Categories);
        Assert.Equal([0.5, 0.25, 0.25], baseline.Shares);
        var window = new CategoricalWindow(baseline);
        window.Add("z");
        window.Add("a");
        Assert.True(window.Evaluate(DriftMethod.Psi, 0.2)!.Drifted);
        Assert.Null(window.Evaluate(DriftMethod.Ks, 0.05));
    }

    private static Arbitrary<double[]> Shares(int bins) =>
        Arb.From(Gen.ArrayOf(Gen.Choose(0, 1000), bins)
            .Where(a => a.Sum() > 0)
            .Select(a => a.Select(x => (double)x / a.Sum()).ToArray()));

    [Fact]
    public void Distances_are_non_negative_zero_on_identical_distributions_and_symmetric_where_defined() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll(Shares(7), Shares(7), (p, q) =>
        {
            Assert.True(Divergences.Psi(p, q) >= 0);
            Assert.Equal(0, Divergences.Psi(p, p), 1e-12);
            Assert.Equal(0, Divergences.JensenShannon(p, p), 1e-7);
            Assert.Equal(0, Divergences.Hellinger(p, p), 1e-12);
            Assert.Equal(Divergences.JensenShannon(p, q), Divergences.JensenShannon(q, p), 1e-12);
            Assert.Equal(Divergences.Hellinger(p, q), Divergences.Hellinger(q, p), 1e-12);
            Assert.Equal(Divergences.Psi(p, q), Divergences.Psi(q, p), 1e-9);
            Assert.InRange(Divergences.JensenShannon(p, q), 0, Math.Sqrt(Math.Log(2)) + 1e-12);
            Assert.InRange(Divergences.Hellinger(p, q), 0, 1);
        }));

    [Fact]
    public void Ks_is_in_unit_interval_symmetric_and_zero_for_identical_samples_streamed_or_not() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(
            Arb.From(Gen.NonEmptyListOf(Gen.Choose(-50, 50))), Arb.From(Gen.NonEmptyListOf(Gen.Choose(-50, 50))), (a, b) =>
            {
                var x = a.Select(v => v / 4.0).Order().ToArray();
                var y = b.Select(v => v / 4.0).Order().ToArray();
                var (d, p) = KolmogorovSmirnov.TwoSample(x, y);
                Assert.InRange(d, 0, 1);
                Assert.InRange(p, 0, 1);
                Assert.Equal(d, KolmogorovSmirnov.TwoSample(y, x).D, 1e-12);
                Assert.Equal(0, KolmogorovSmirnov.Statistic(x, x));
                Assert.Equal(0, Wasserstein.Distance(x, x));
                Assert.Equal(Wasserstein.Distance(x, y), Wasserstein.Distance(y, x), 1e-9);

                // Streamed against a baseline holding every value of x: the same D as the two-sample test.
                var window = new NumericWindow(BaselineBuilder.Numeric(x));
                foreach (var v in y)
                {
                    window.Add(v);
                }

                Assert.Equal(KolmogorovSmirnov.Statistic(x, y), window.KsStatistic(), 1e-12);
                Assert.True(window.WassersteinDistance() <= Wasserstein.Distance(x, y) + 1e-9);
            }));
}
