// Two-sample Kolmogorov–Smirnov test with the p-values of scipy.stats.ks_2samp(method='auto'):
// exact (Hodges' lattice-path counting, Viehmann's stable recursion) while both samples have at most
// 10 000 values, otherwise the finite-n Kolmogorov distribution at n = round(n1·n2 / (n1 + n2))
// (Simard & L'Ecuyer 2011: Durbin matrix, Pelz–Good, Smirnov's exact one-sided sum). The algorithms
// follow the published papers as scipy implements them, so the p-values agree to ~1e-12.
namespace FeatureStore.Core.Drift;

/// <summary>The two-sample Kolmogorov–Smirnov statistic D and its two-sided p-value.</summary>
public static class KolmogorovSmirnov
{
    /// <summary>Both samples at most this large: the exact distribution; larger: the asymptotic one (as scipy's <c>auto</c>).</summary>
    public const int MaxExactSize = 10_000;

    private const double Scale = 3.4028236692093846e38; // 2^128
    private const int ScaleExponent = 128;

    /// <summary>D = sup |F₁ − F₂| of two sorted samples and its two-sided p-value.</summary>
    public static (double D, double PValue) TwoSample(ReadOnlySpan<double> sorted1, ReadOnlySpan<double> sorted2)
    {
        var p = PValue(Statistic(sorted1, sorted2), sorted1.Length, sorted2.Length, out var d);
        return (d, p);
    }

    /// <summary>sup |F₁ − F₂| over every value of two sorted, non-empty samples (empirical CDFs, right-continuous).</summary>
    public static double Statistic(ReadOnlySpan<double> sorted1, ReadOnlySpan<double> sorted2)
    {
        if (sorted1.IsEmpty || sorted2.IsEmpty)
        {
            throw new ArgumentException("both samples must be non-empty");
        }

        int i = 0, j = 0;
        var d = 0.0;
        while (i < sorted1.Length || j < sorted2.Length)
        {
            var x = i < sorted1.Length && (j >= sorted2.Length || sorted1[i] <= sorted2[j]) ? sorted1[i] : sorted2[j];
            while (i < sorted1.Length && sorted1[i] <= x)
            {
                i++;
            }

            while (j < sorted2.Length && sorted2[j] <= x)
            {
                j++;
            }

            d = Math.Max(d, Math.Abs(((double)i / sorted1.Length) - ((double)j / sorted2.Length)));
        }

        return d;
    }

    /// <summary>
    /// The two-sided p-value of D for samples of <paramref name="n1"/> and <paramref name="n2"/> values, exact
    /// when both are at most <see cref="MaxExactSize"/>, asymptotic otherwise.
    /// </summary>
    public static double PValue(double d, long n1, long n2) => PValue(d, n1, n2, out _);

    private static double PValue(double d, long n1, long n2, out double usedD)
    {
        usedD = d;
        if (n1 <= 0 || n2 <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(n1), "sample sizes must be positive");
        }

        if (Math.Max(n1, n2) <= MaxExactSize)
        {
            var g = Gcd(n1, n2);
            var lcm = n1 / g * n2;
            var h = (long)Math.Round(d * lcm, MidpointRounding.ToEven);
            usedD = (double)h / lcm;
            if (h == 0)
            {
                return 1.0;
            }

            var exact = n1 == n2 ? ProbOutsideSquare(n1, h) : OuterProbInside(n1, n2, g, h);
            if (double.IsFinite(exact) && exact is >= 0 and <= 1)
            {
                return exact;
            }
        }

        double m = Math.Max(n1, n2), n = Math.Min(n1, n2);
        var en = Math.Round(m * n / (m + n), MidpointRounding.ToEven);
        return Math.Clamp(KolmogorovSurvival((long)en, usedD), 0, 1);
    }

    // P(D_{n,n} ≥ h/n) by the alternating binomial sum in Horner form.
    private static double ProbOutsideSquare(long n, long h)
    {
        var p = 0.0;
        for (var k = n / h; k >= 0; k--)
        {
            var p1 = 1.0;
            for (long j = 0; j < h; j++)
            {
                p1 = (n - (k * h) - j) * p1 / (n + (k * h) + j + 1);
            }

            p = p1 * (1.0 - p);
        }

        return 2 * p;
    }

    // 1 − (share of lattice paths from (0,0) to (m,n) staying strictly inside |x/m − y/n| < h/lcm).
    private static double OuterProbInside(long m, long n, long g, long h)
    {
        if (m < n)
        {
            (m, n) = (n, m);
        }

        var mg = m / g;
        var ng = n / g;
        long minj = 0;
        var maxj = Math.Min(CeilDiv(h, mg), n + 1);
        var curlen = maxj - minj;
        var lenA = Math.Min((2 * maxj) + 2, n + 1);
        var a = new double[lenA];
        Array.Fill(a, 1.0);
        Array.Fill(a, 0.0, (int)minj, (int)(maxj - minj));
        for (long i = 1; i <= m; i++)
        {
            var lastminj = minj;
            var lastlen = curlen;
            minj = Math.Max(FloorDiv((ng * i) - h, mg) + 1, 0);
            minj = Math.Min(minj, n);
            maxj = Math.Min(CeilDiv((ng * i) + h, mg), n + 1);
            if (maxj <= minj)
            {
                return 1.0;
            }

            var val = minj == 0 ? 0.0 : 1.0;
            for (long jj = 0; jj < maxj - minj; jj++)
            {
                var j = jj + minj;
                val = ((a[jj + minj - lastminj] * i) + (val * j)) / (i + j);
                a[jj] = val;
            }

            curlen = maxj - minj;
            if (lastlen > curlen)
            {
                Array.Fill(a, 1.0, (int)(maxj - minj), (int)(lastlen - curlen));
            }
        }

        return a[maxj - minj - 1];
    }

    /// <summary>P(D_n ≥ x) of the one-sample two-sided Kolmogorov distribution (scipy's <c>kstwo.sf</c>).</summary>
    public static double KolmogorovSurvival(long n, double x)
    {
        if (x >= 1.0)
        {
            return 0.0;
        }

        if (x <= 0.0)
        {
            return 1.0;
        }

        var t = n * x;
        if (t <= 1.0)
        {
            if (t <= 0.5)
            {
                return 1.0;
            }

            var prob = Math.Exp(LogFactorial(n) - (n * Math.Log(n)) + (n * Math.Log((2 * t) - 1)));
            return Clip(1.0 - prob);
        }

        if (t >= n - 1)
        {
            return Clip(2 * Math.Pow(1.0 - x, n));
        }

        if (x >= 0.5)
        {
            return Clip(2 * Smirnov(n, x));
        }

        var nxSquared = t * x;
        if (n <= 140)
        {
            // scipy uses Pomeranz's recursion between 0.754693 and 4; Durbin's matrix is exact there too.
            return nxSquared <= 4 ? Clip(1.0 - Durbin(n, x)) : Clip(2 * Smirnov(n, x));
        }

        if (nxSquared >= 370.0)
        {
            return 0.0;
        }

        if (nxSquared >= 2.2)
        {
            return Clip(2 * Smirnov(n, x));
        }

        var cdf = nxSquared >= 18.0 ? 1.0
            : n <= 100_000 && n * Math.Pow(x, 1.5) <= 1.4 ? Durbin(n, x)
            : PelzGood(n, x);
        return Clip(1.0 - cdf);
    }

    /// <summary>One-sided P(D⁺_n ≥ x) by the Birnbaum–Tingey sum, in logarithms (every term is positive).</summary>
    internal static double Smirnov(long n, double x)
    {
        if (x <= 0)
        {
            return 1.0;
        }

        if (x >= 1)
        {
            return 0.0;
        }

        var last = (long)Math.Floor(n * (1 - x));
        var logN = LogFactorial(n);
        var sum = 0.0;
        for (long j = 0; j <= last; j++)
        {
            var a = 1 - x - ((double)j / n);
            var b = x + ((double)j / n);
            if (a <= 0)
            {
                // (1 − x − j/n)^(n − j) with the base 0: only j = n survives, as 0^0 = 1.
                if (j != n)
                {
                    continue;
                }
            }

            var logTerm = logN - LogFactorial(j) - LogFactorial(n - j)
                + (a <= 0 ? 0 : (n - j) * Math.Log(a))
                + ((j - 1) * Math.Log(b));
            sum += Math.Exp(logTerm);
        }

        return Clip(x * sum);
    }

    // P(D_n ≤ d) by Durbin's matrix (Marsaglia, Tsang and Wang 2003), with scaling.
    private static double Durbin(long n, double d)
    {
        if (d >= 1.0)
        {
            return 1.0;
        }

        var nd = n * d;
        if (nd <= 0.5)
        {
            return 0.0;
        }

        var k = (int)Math.Ceiling(nd);
        var h = k - nd;
        var m = (2 * k) - 1;
        var hm = new double[m, m];
        var v = new double[m];
        var w = new double[m];
        var fac = 1.0;
        for (var j = 1; j <= m; j++)
        {
            v[j - 1] = 1.0 - Math.Pow(h, j);
            w[j - 1] = fac;
            fac /= j;
            v[j - 1] *= fac;
        }

        var tt = Math.Pow(Math.Max((2 * h) - 1.0, 0), m) - (2 * Math.Pow(h, m));
        v[m - 1] = (1.0 + tt) * fac;
        for (var i = 1; i < m; i++)
        {
            for (var r = i - 1; r < m; r++)
            {
                hm[r, i] = w[r - i + 1];
            }
        }

        for (var r = 0; r < m; r++)
        {
            hm[r, 0] = v[r];
            hm[m - 1, r] = v[m - 1 - r];
        }

        var power = new double[m, m];
        for (var i = 0; i < m; i++)
        {
            power[i, i] = 1;
        }

        var nn = n;
        var exponent = 0;
        var hExponent = 0;
        while (nn > 0)
        {
            if (nn % 2 == 1)
            {
                power = Multiply(power, hm);
                exponent += hExponent;
            }

            hm = Multiply(hm, hm);
            hExponent *= 2;
            if (Math.Abs(hm[k - 1, k - 1]) > Scale)
            {
                for (var r = 0; r < m; r++)
                {
                    for (var c = 0; c < m; c++)
                    {
                        hm[r, c] /= Scale;
                    }
                }

                hExponent += ScaleExponent;
            }

            nn /= 2;
        }

        var p = power[k - 1, k - 1];
        for (long i = 1; i <= n; i++)
        {
            p = i * p / n;
            if (Math.Abs(p) < 1 / Scale)
            {
                p *= Scale;
                exponent -= ScaleExponent;
            }
        }

        if (exponent != 0)
        {
            p = Math.ScaleB(p, exponent);
        }

        return Clip(p);
    }

    private static double[,] Multiply(double[,] a, double[,] b)
    {
        var m = a.GetLength(0);
        var result = new double[m, m];
        for (var i = 0; i < m; i++)
        {
            for (var l = 0; l < m; l++)
            {
                var ail = a[i, l];
                if (ail == 0)
                {
                    continue;
                }

                for (var j = 0; j < m; j++)
                {
                    result[i, j] += ail * b[l, j];
                }
            }
        }

        return result;
    }

    // The Pelz–Good approximation of P(D_n ≤ x), accurate for large n.
    private static double PelzGood(long n, double x)
    {
        if (x <= 0.0)
        {
            return 0.0;
        }

        if (x >= 1.0)
        {
            return 1.0;
        }

        const double piSquared = Math.PI * Math.PI;
        const double piFour = piSquared * piSquared;
        const double piSix = piFour * piSquared;
        var sqrt2Pi = Math.Sqrt(2 * Math.PI);
        var z = Math.Sqrt(n) * x;
        double zsq = z * z, zthree = zsq * z, zfour = zsq * zsq, zsix = zfour * zsq;
        var qlog = -piSquared / 8 / zsq;
        if (qlog < -708)
        {
            return 0.0;
        }

        var q = Math.Exp(qlog);
        var k1a = -zsq;
        var k1b = piSquared / 4;
        var k2a = (6 * zsix) + (2 * zfour);
        var k2b = ((2 * zfour) - (5 * zsq)) * piSquared / 4;
        var k2c = piFour * (1 - (2 * zsq)) / 16;
        var k3d = piSix * (5 - (30 * zsq)) / 64;
        var k3c = piFour * ((-60 * zsq) + (212 * zfour)) / 16;
        var k3b = piSquared * ((135 * zfour) - (96 * zsix)) / 4;
        var k3a = (-30 * zsix) - (90 * Math.Pow(z, 8));
        Span<double> sums = stackalloc double[4];
        var maxk = (int)Math.Ceiling(16 * z / Math.PI);
        for (var k = maxk; k > 0; k--)
        {
            double mm = (2 * k) - 1;
            double msq = mm * mm, mfour = msq * msq, msix = mfour * msq;
            var qpower = Math.Pow(q, 8 * k);
            for (var i = 0; i < 4; i++)
            {
                sums[i] *= qpower;
            }

            sums[0] += 1.0;
            sums[1] += k1a + (k1b * msq);
            sums[2] += k2a + (k2b * msq) + (k2c * mfour);
            sums[3] += k3a + (k3b * msq) + (k3c * mfour) + (k3d * msix);
        }

        double[] divisors = [z, 6 * zfour, 72 * Math.Pow(z, 7), 6480 * Math.Pow(z, 10)];
        for (var i = 0; i < 4; i++)
        {
            sums[i] = sums[i] * q * sqrt2Pi / divisors[i];
        }

        q = Math.Exp(-piSquared / 2 / zsq);
        double k2extra = 0, k3extra = 0;
        var sqrt3z = Math.Sqrt(3) * z;
        for (var k = maxk; k > 0; k--)
        {
            double ksq = (double)k * k;
            var qp = Math.Pow(q, ksq);
            k2extra += ksq * qp;
            var kspi = Math.PI * k;
            k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
        }

        sums[2] += k2extra * piSquared * sqrt2Pi / (-36 * zthree);
        sums[3] += k3extra * piSquared * sqrt2Pi / (216 * zsix);
        var result = 0.0;
        for (var i = 0; i < 4; i++)
        {
            result += sums[i] / Math.Pow(n, i / 2.0);
        }

        return result;
    }

    private static double LogFactorial(long n) => MathNet.Numerics.SpecialFunctions.GammaLn(n + 1.0);

    private static double Clip(double p) => Math.Clamp(p, 0.0, 1.0);

    private static long Gcd(long a, long b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }

    private static long FloorDiv(long a, long b) => (a / b) - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);

    private static long CeilDiv(long a, long b) => -FloorDiv(-a, b);
}
