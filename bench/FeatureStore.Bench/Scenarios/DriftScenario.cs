using System.Diagnostics;
using System.Globalization;
using System.Text;
using FeatureStore.Bench.Harness;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Kafka.Embedded;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Parquet.Tables;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Drift per window of predictions, engine alone (values from memory): PSI over the baseline's bins and
/// two-sample KS with its p-value, through the bounded <see cref="NumericWindow"/> (values binned as they
/// arrive against a stored baseline), next to a naive evaluation of the same window in the same run: keep
/// every value, sort it, recompute the reference deciles from the raw training data (re-binning, as tools
/// without stored bins do) and run the sort-and-merge KS against the whole training set.
/// </summary>
internal static class DriftScenario
{
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(int window, int training, int repetitions)
    {
        var reference = Normal(seed: 1, training, mean: 0, sd: 1);
        var current = Normal(seed: 2, window, mean: 0.05, sd: 1.1);
        var baseline = BaselineBuilder.Numeric(reference);
        var bounded = new NumericWindow(baseline);
        double checksum = 0;

        var ours = await RateAsync(repetitions, () =>
        {
            bounded.Reset();
            foreach (var v in current)
            {
                bounded.Add(v);
            }

            checksum += bounded.Evaluate(DriftMethod.Psi, 0.2)!.Value + bounded.Evaluate(DriftMethod.Ks, 0.05)!.Value;
        }, window);

        var naive = await RateAsync(repetitions, () =>
        {
            var values = current.ToArray(); // the window kept whole
            Array.Sort(values);
            var sortedReference = reference.ToArray();
            Array.Sort(sortedReference);
            var edges = Enumerable.Range(1, 9).Select(i => BaselineBuilder.Quantile(sortedReference, i / 10.0)).ToArray();
            var refShares = Shares(sortedReference, edges);
            var curShares = Shares(values, edges);
            var (_, p) = KolmogorovSmirnov.TwoSample(sortedReference, values);
            checksum += Divergences.Psi(refShares, curShares) + p;
        }, window);

        GC.KeepAlive(checksum);
        return
        [
            new("drift", $"PSI + KS per window of {window / 1000}k predictions (bounded window)", ours, "predictions/s", "naive: keep, sort, re-bin, merge KS", naive),
            new("drift", $"memory per monitored column (reference of {baseline.ReferenceValues.Length} distinct values)", bounded.MemoryBytes, "bytes", "naive: the window's values", window * sizeof(double)),
        ];
    }

    /// <summary>
    /// The monitor job end to end on the example repository: predictions (score and two features) from the
    /// embedded broker through parsing, the windows of its three monitors, history and incidents in the
    /// online store; against the raw consume rate of the same topic.
    /// </summary>
    public static async Task<IReadOnlyList<ResultRow>> RunEndToEndAsync(EmbeddedKafkaCluster cluster, IDatabase db, int predictions, int repetitions)
    {
        var repository = FeatureRepositoryLoader.Load(RepositoryPaths.FraudExample).Repository!;
        var model = repository.FindModel("fraud_detector")!;
        var table = new Dictionary<string, ValueColumn>
        {
            ["score"] = new("score", Normal(seed: 3, 100_000, 0.3, 0.1), null),
            ["user_txn_stats__amount_mean_24h"] = new("user_txn_stats__amount_mean_24h", Normal(seed: 4, 100_000, 50, 20), null),
            ["merchant_txn_stats__txn_count_1h"] = new("merchant_txn_stats__txn_count_1h", Normal(seed: 5, 100_000, 8, 3), null),
        };
        var prefix = $"bench{Guid.NewGuid():N}"[..13];
        await new DriftStore(db, prefix, repository.Project).SaveBaselineAsync(BaselineComputer.Compute(model, "v1", "bench", 0, table));

        cluster.CreateTopic(model.Prediction.Topic, 8);
        var scores = Normal(seed: 6, predictions, 0.32, 0.1);
        var amounts = Normal(seed: 7, predictions, 50, 20);
        var counts = Normal(seed: 8, predictions, 8, 3);
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - predictions;
        var payloads = Enumerable.Range(0, predictions).Select(i => Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $$"""{"transaction_id":"t{{i}}","user_id":"u{{i % 5000}}","model_version":"v1","event_time":{{start + (i * 36L)}},"score":{{scores[i]}},"is_fraud":false,"user_txn_stats__amount_mean_24h":{{amounts[i]}},"merchant_txn_stats__txn_count_1h":{{Math.Round(counts[i])}}}"""))).ToArray();
        RawKafkaScenario.Produce(cluster.BootstrapServers, model.Prediction.Topic, payloads);

        var raw = await Measure.MedianRateAsync(repetitions, _ => Task.FromResult(RawKafkaScenario.ConsumeAll(cluster.BootstrapServers, model.Prediction.Topic, predictions)));
        var whole = new List<double>();
        var steady = new List<double>();
        for (var rep = 0; rep < Math.Min(repetitions, 3); rep++)
        {
            using var metrics = new MonitorMetrics();
            var stages = new StageTimings();
            var monitor = new MonitorJob(repository, db, prefix, new MonitorOptions
            {
                BootstrapServers = cluster.BootstrapServers,
                GroupId = $"bench-{Guid.NewGuid():N}",
                SessionTimeout = TimeSpan.FromSeconds(6),
                Stages = stages,
            }, metrics, NullLogger.Instance);
            using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            var clock = Stopwatch.StartNew();
            var firstRecord = TimeSpan.Zero;
            var run = monitor.RunAsync(stop.Token);
            while (metrics.Predictions < predictions && !stop.IsCancellationRequested)
            {
                if (firstRecord == TimeSpan.Zero && metrics.Predictions > 0)
                {
                    firstRecord = clock.Elapsed;
                }

                await Task.Delay(5);
            }

            var elapsed = clock.Elapsed;
            await stop.CancelAsync();
            await run;
            whole.Add(metrics.Predictions / elapsed.TotalSeconds);
            steady.Add(metrics.Predictions / (elapsed - firstRecord).TotalSeconds);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  monitor run {rep + 1}: {elapsed.TotalMilliseconds:F0} ms, first record at {firstRecord.TotalMilliseconds:F0} ms; {stages}"));
        }

        return
        [
            new("monitor (embedded garnet)", $"end to end: Kafka → 3 monitors → history, {predictions / 1000}k predictions", Measure.Median(whole), "predictions/s", "raw consume, same topic", raw),
            new("monitor (embedded garnet)", "the same from the first record read (the group join left out)", Measure.Median(steady), "predictions/s", "raw consume, same topic", raw),
        ];
    }

    /// <summary>
    /// Memory while a long stream goes through: <paramref name="predictions"/> predictions, generated one at a
    /// time (never held), feed the windows of three numeric columns and one categorical column (with
    /// categories unseen in training), each closing and evaluated every <paramref name="window"/> predictions.
    /// The managed heap after a full collection is sampled every tenth of the stream; its spread over the
    /// run and the windows' own bytes per column are the figures.
    /// </summary>
    public static Task<IReadOnlyList<ResultRow>> RunMemoryAsync(long predictions, int window)
    {
        var numeric = new[] { Normal(seed: 11, 100_000, 0.3, 0.1), Normal(seed: 12, 100_000, 50, 20), Normal(seed: 13, 100_000, 8, 3) };
        var categories = new[] { "FR", "DE", "ES", "IT", "NL" };
        var trainingCountries = new Random(14);
        var windows = new List<DriftWindow>(numeric.Select(r => (DriftWindow)new NumericWindow(BaselineBuilder.Numeric(r))))
        {
            new CategoricalWindow(BaselineBuilder.Categorical(Enumerable.Range(0, 100_000).Select(_ => categories[trainingCountries.Next(categories.Length)]))),
        };
        var random = new Random(15);
        var samples = new List<long>();
        long evaluated = 0;
        double checksum = 0;
        var step = predictions / 10;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (long i = 0; i < predictions; i++)
        {
            // Slow drift over the stream, and a new unseen category every so often.
            var shift = (double)i / predictions;
            for (var c = 0; c < numeric.Length; c++)
            {
                var (mean, sd) = c switch { 0 => (0.3, 0.1), 1 => (50.0, 20.0), _ => (8.0, 3.0) };
                var u = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                ((NumericWindow)windows[c]).Add(mean + (sd * (u + shift)));
            }

            ((CategoricalWindow)windows[3]).Add(random.Next(20) == 0 ? "X" + (i % 997).ToString(CultureInfo.InvariantCulture) : categories[random.Next(categories.Length)]);
            if ((i + 1) % window == 0)
            {
                for (var c = 0; c < windows.Count; c++)
                {
                    checksum += c < numeric.Length
                        ? windows[c].Evaluate(DriftMethod.Psi, 0.2)!.Value + windows[c].Evaluate(DriftMethod.Ks, 0.05)!.Value
                        : windows[c].Evaluate(DriftMethod.Chi2, 0.05)!.Value;
                    windows[c].Reset();
                    evaluated++;
                }
            }

            if ((i + 1) % step == 0)
            {
                samples.Add(GC.GetTotalMemory(forceFullCollection: true));
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {i + 1:N0} predictions, {evaluated} windows evaluated, heap {samples[^1] / 1024.0 / 1024.0:0.0} MiB, {clock.Elapsed.TotalSeconds:0} s"));
            }
        }

        GC.KeepAlive(checksum);
        var perColumn = windows.Select(w => w.MemoryBytes).ToArray();
        var label = $"{predictions / 1_000_000}M predictions, 4 columns, windows of {window / 1000}k";
        IReadOnlyList<ResultRow> rows =
        [
            new("drift memory", $"{label}: heap after full GC, first tenth (baseline) vs last", samples[^1], "bytes", "heap at the first tenth", samples[0]),
            new("drift memory", $"{label}: heap spread (max − min of {samples.Count} samples)", samples.Max() - samples.Min(), "bytes"),
            new("drift memory", $"{label}: window bytes per numeric column", perColumn[0], "bytes"),
            new("drift memory", $"{label}: window bytes, categorical column", perColumn[3], "bytes"),
            new("drift memory", $"{label}: rate", predictions / clock.Elapsed.TotalSeconds, "predictions/s"),
        ];
        return Task.FromResult(rows);
    }

    private static Task<double> RateAsync(int repetitions, Action run, int window)
    {
        run(); // warm-up
        return Measure.MedianRateAsync(repetitions, _ =>
        {
            run();
            return Task.FromResult((long)window);
        });
    }

    private static double[] Shares(double[] sorted, double[] edges)
    {
        var counts = new double[edges.Length + 1];
        foreach (var v in sorted)
        {
            var bin = Array.BinarySearch(edges, v);
            counts[bin >= 0 ? bin + 1 : ~bin]++;
        }

        return [.. counts.Select(c => c / sorted.Length)];
    }

    private static double[] Normal(int seed, int count, double mean, double sd)
    {
        var random = new Random(seed);
        var values = new double[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = mean + (sd * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        return values;
    }
}
