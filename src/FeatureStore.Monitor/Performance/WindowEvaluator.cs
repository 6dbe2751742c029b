using System.Buffers.Binary;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Performance;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Redis.Drift;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Performance;

/// <summary>
/// Evaluates the windows the join script marked <c>closing</c>: reads their frozen pairs and scores, computes the
/// realized metrics, the estimate and the breaches of each series (the whole window, then each segment), and
/// writes them in ONE transaction conditioned on the window still being <c>closing</c>: the history entries, the
/// alerts into the outbox, the incidents, the window marked <c>evaluated</c> and its pairs and scores deleted, and
/// what the degradation policy does about them (<see cref="DegradationPolicy"/>). A kill between the read and the
/// transaction leaves the window <c>closing</c>: the next start evaluates it again, from the same frozen data, so to
/// the same entries.
/// </summary>
internal sealed class WindowEvaluator(
    PerformanceStore store,
    AlertOutbox outbox,
    PerformanceIncidents incidents,
    ModelStageCache stages,
    DegradationPolicy policy,
    MonitorOptions options,
    MonitorMetrics metrics,
    ILogger logger)
{
    /// <summary>The series of the segments past a window's top ones.</summary>
    internal const string OtherSegment = "other";

    /// <summary>How many segment values a window keeps apart while open, per segment it reports.</summary>
    internal const int TrackedPerSegment = 4;

    private readonly DriftKeys _keys = store.Keys;

    /// <summary>Raised when alerts were written to the outbox.</summary>
    public event Action? AlertsRaised;

    /// <summary>Evaluates every window of <paramref name="model"/> waiting in <c>closing</c>; returns how many this member wrote.</summary>
    public async Task<int> EvaluateClosingAsync(ModelDefinition model, CancellationToken cancellationToken)
    {
        var join = _keys.Join(model.Name);
        for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
        {
            try
            {
                return await EvaluateAllAsync(model, join, cancellationToken).ConfigureAwait(false);
            }
            catch (RedisException ex)
            {
                MonitorLog.StoreError(logger, ex);
                await Task.Delay(delay, options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<int> EvaluateAllAsync(ModelDefinition model, string join, CancellationToken cancellationToken)
    {
        var written = 0;

        // Each version's reference read once per pass, not once per window.
        var references = new Dictionary<string, ReferencePerformance?>(StringComparer.Ordinal);

        // Oldest first, so a metric's incidents open and resolve in window order; the next window is read while one is
        // evaluated (its data is frozen: a window read early and evaluated by another member meanwhile fails its
        // transaction's condition and is read again).
        var windows = (await store.Database.SortedSetRangeByRankAsync(join + ":closing").ConfigureAwait(false)).Select(w => w.ToString()).ToArray();
        var next = windows.Length > 0 ? ReadWindowAsync(windows[0]) : null;
        for (var i = 0; i < windows.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var current = next!;
            next = i + 1 < windows.Length ? ReadWindowAsync(windows[i + 1]) : null;
            if (await EvaluateAsync(model, join, windows[i], references, current).ConfigureAwait(false))
            {
                written++;
            }
        }

        return written;
    }

    // A window's fields and, while it is closing, every series of it.
    private async Task<(Dictionary<string, RedisValue> Meta, WindowSeries[]? Series)> ReadWindowAsync(string window)
    {
        var meta = (await store.Database.HashGetAllAsync(window).ConfigureAwait(false)).ToDictionary(e => e.Name.ToString(), e => e.Value, StringComparer.Ordinal);
        if (meta.GetValueOrDefault("state") != "closing" || !meta.ContainsKey("n"))
        {
            return (meta, null);
        }

        // The whole window, then its segments in ordinal order: a deterministic history. Every series is asked for
        // at once (one round trip, not two per series).
        var reads = new List<Task<WindowSeries>> { ReadSeriesAsync(window, null, (long)meta["n"], (long)meta["l"]) };
        foreach (var field in meta.Keys.Where(k => k.StartsWith("n:", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            var segment = field[2..];
            reads.Add(ReadSeriesAsync(window, segment, (long)meta[field], meta.TryGetValue("l:" + segment, out var l) ? (long)l : 0));
        }

        return (meta, await Task.WhenAll(reads).ConfigureAwait(false));
    }

    private async Task<bool> EvaluateAsync(ModelDefinition model, string join, string window, Dictionary<string, ReferencePerformance?> references, Task<(Dictionary<string, RedisValue> Meta, WindowSeries[]? Series)> first)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var (meta, kept) = await (attempt == 0 ? first : ReadWindowAsync(window)).ConfigureAwait(false);
            if (meta.GetValueOrDefault("state") != "closing" || kept is null)
            {
                // Another member evaluated it (or it is gone): nothing left to do but its place in the index.
                await store.Database.SortedSetRemoveAsync(join + ":closing", window).ConfigureAwait(false);
                return false;
            }

            var index = (int)meta["monitor"] - 1;
            if (index >= model.PerformanceMonitors.Count)
            {
                // The repository no longer declares that monitor: its window is dropped unevaluated.
                var drop = store.Database.CreateTransaction();
                drop.AddCondition(Condition.HashEqual(window, "state", "closing"));
                _ = drop.HashSetAsync(window, "state", "evaluated");
                _ = drop.KeyDeleteAsync([.. meta.Keys.Where(k => k.StartsWith("n:", StringComparison.Ordinal))
                    .SelectMany(k => new RedisKey[] { window + ":p:" + k[2..], window + ":s:" + k[2..] })
                    .Append(window + ":p").Append(window + ":s")]);
                _ = drop.SortedSetRemoveAsync(join + ":closing", window);
                _ = drop.SortedSetAddAsync(join + ":done", window, (long)meta["end"]);
                await drop.ExecuteAsync().ConfigureAwait(false);
                return false;
            }

            var monitor = model.PerformanceMonitors[index];
            var version = meta["version"].ToString();
            var start = (long)meta["start"];
            var end = (long)meta["end"];
            var closedBy = meta["closed_by"].ToString();
            if (!references.TryGetValue(version, out var reference))
            {
                references[version] = reference = await ReferenceAsync(model.Name, version).ConfigureAwait(false);
            }

            var series = new List<WindowSeries> { kept[0] };
            series.AddRange(TopSegments(kept.Skip(1), monitor.Segments));
            var garbage = kept.SelectMany(k => new RedisKey[] { window + ":p" + k.Suffix, window + ":s" + k.Suffix }).ToList();
            var evaluations = series.Select(x => Evaluate(model.Name, version, x.Segment, monitor, start, end, x.Predictions, x.Labelled, closedBy, x.Pairs, x.Scores, reference)).ToList();

            var changes = new Dictionary<string, Incident>(StringComparer.Ordinal);
            var alerts = new List<DriftAlert>();
            foreach (var evaluation in evaluations)
            {
                incidents.Observe(evaluation, monitor, changes, alerts);
            }

            var step = await policy.PlanAsync(model, monitor, evaluations[0], changes).ConfigureAwait(false);

            var transaction = store.Database.CreateTransaction();
            transaction.AddCondition(Condition.HashEqual(window, "state", "closing"));
            incidents.Save(transaction, changes);
            store.AppendHistory(transaction, evaluations);
            var now = options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
            foreach (var alert in alerts)
            {
                outbox.Enqueue(transaction, alert, now);
            }

            if (step is not null)
            {
                policy.Queue(transaction, step, outbox, now);
                if (step.Alert is not null)
                {
                    alerts.Add(step.Alert);
                }
            }

            _ = transaction.HashSetAsync(window, "state", "evaluated");
            _ = transaction.KeyDeleteAsync([.. garbage]);
            _ = transaction.SortedSetRemoveAsync(join + ":closing", window);
            _ = transaction.SortedSetAddAsync(join + ":done", window, end);
            if (await transaction.ExecuteAsync().ConfigureAwait(false))
            {
                incidents.Commit(changes);
                if (step is not null)
                {
                    await policy.CommittedAsync(step).ConfigureAwait(false);
                }

                foreach (var evaluation in evaluations)
                {
                    metrics.Window();
                    PerformanceLog.Evaluated(logger, evaluation.Model, evaluation.Version, evaluation.Segment ?? "*", evaluation.WindowStartMs, evaluation.Predictions, evaluation.Labelled, evaluation.Verdict.ToString(), evaluation.ClosedBy);
                }

                for (var i = 0; i < alerts.Count; i++)
                {
                    metrics.Raised();
                }

                if (alerts.Count > 0)
                {
                    AlertsRaised?.Invoke();
                }

                return true;
            }

            // A condition failed: another member evaluated this window, or changed one of its incidents. Read both again.
            await incidents.LoadAsync(store.Database).ConfigureAwait(false);
        }

        return false;
    }

    private async Task<ReferencePerformance?> ReferenceAsync(string model, string version)
    {
        if (await store.LoadReferenceAsync(model, version).ConfigureAwait(false) is { } own)
        {
            return own;
        }

        // As drift does with baselines: a version without a reference of its own is held to the production version's.
        return stages.Production(model) is { } production && production != version
            ? await store.LoadReferenceAsync(model, production).ConfigureAwait(false)
            : null;
    }

    /// <summary>
    /// The segments a window reports: the <paramref name="count"/> with the most predictions (ties by value), each
    /// alone, and the rest merged into <c>other</c> (with whatever the join already put there), in ordinal order.
    /// </summary>
    internal static IReadOnlyList<WindowSeries> TopSegments(IEnumerable<WindowSeries> segments, int count)
    {
        var all = segments.ToList();
        var top = all.Where(s => s.Segment != OtherSegment)
            .OrderByDescending(s => s.Predictions).ThenBy(s => s.Segment, StringComparer.Ordinal)
            .Take(count)
            .ToHashSet();
        var rest = all.Where(s => !top.Contains(s)).ToList();
        var result = top.ToList();
        if (rest.Count > 0)
        {
            result.Add(new WindowSeries(
                OtherSegment,
                rest.Sum(s => s.Predictions),
                rest.Sum(s => s.Labelled),
                [.. rest.SelectMany(s => s.Pairs)],
                [.. rest.SelectMany(s => s.Scores)],
                ":" + OtherSegment));
        }

        return [.. result.OrderBy(s => s.Segment, StringComparer.Ordinal)];
    }

    private async Task<WindowSeries> ReadSeriesAsync(string window, string? segment, long predictions, long labelled)
    {
        var suffix = segment is null ? "" : ":" + segment;
        var pairs = ReadChunksAsync(store.Database, window + ":p" + suffix);
        var scores = ReadChunksAsync(store.Database, window + ":s" + suffix);
        return new WindowSeries(segment, predictions, labelled, await pairs.ConfigureAwait(false), await scores.ConfigureAwait(false), suffix);
    }

    /// <summary>A window's pairs or scores: the chunks the join's batches pushed, in order, as one array.</summary>
    internal static async Task<byte[]> ReadChunksAsync(IDatabaseAsync database, string key)
    {
        var chunks = await database.ListRangeAsync(key).ConfigureAwait(false);
        var bytes = new byte[chunks.Sum(c => c.Length())];
        var at = 0;
        foreach (var chunk in chunks)
        {
            var data = (byte[])chunk!;
            data.CopyTo(bytes, at);
            at += data.Length;
        }

        return bytes;
    }

    /// <summary>One series' evaluation from its frozen pairs and scores.</summary>
    public static PerformanceEvaluation Evaluate(
        string model,
        string version,
        string? segment,
        PerformanceMonitorDefinition monitor,
        long start,
        long end,
        long predictions,
        long labelled,
        string closedBy,
        ReadOnlySpan<byte> pairs,
        ReadOnlySpan<byte> scores,
        ReferencePerformance? reference)
    {
        Dictionary<string, double> realized;
        string? reason;
        if (monitor.Task == PerformanceTask.Regression)
        {
            var window = default(RegressionWindow);
            for (var at = 0; at + 16 <= pairs.Length; at += 16)
            {
                window.Add(BinaryPrimitives.ReadDoubleLittleEndian(pairs[at..]), BinaryPrimitives.ReadDoubleLittleEndian(pairs[(at + 8)..]));
            }

            var computed = window.Compute();
            realized = PerformanceMetrics.ToDictionary(computed);
            reason = computed.Count == 0 ? "empty window: every metric is undefined" : null;
        }
        else
        {
            var (s, y) = Pairs(pairs);
            var computed = BinaryClassificationWindow.Of(s, y, monitor.DecisionThreshold);
            realized = PerformanceMetrics.ToDictionary(computed);
            reason = computed.Reason();
        }

        Dictionary<string, EstimatedValue>? estimated = null;
        if (monitor.Task == PerformanceTask.BinaryClassification && monitor.Estimate && reference?.Cbpe is { } cbpe && scores.Length >= 8)
        {
            estimated = Estimate(Scores(scores), cbpe);
        }

        var referenceMetrics = reference?.Metrics;
        var breaches = new List<MetricBreach>();
        var verdict = PerformanceVerdict.InsufficientData;
        if (labelled >= monitor.MinSamples)
        {
            foreach (var threshold in monitor.Thresholds)
            {
                double? referenceValue = referenceMetrics?.TryGetValue(threshold.Metric, out var r) == true ? r : null;
                if (realized.TryGetValue(threshold.Metric, out var value) && PerformanceMetrics.Breaks(threshold, value, referenceValue) is { } bound)
                {
                    breaches.Add(new MetricBreach(threshold.Metric, "realized", value, bound));
                }

                if (estimated?.TryGetValue(threshold.Metric, out var estimate) == true && PerformanceMetrics.Breaks(threshold, estimate.Value, referenceValue) is { } estimatedBound)
                {
                    breaches.Add(new MetricBreach(threshold.Metric, "estimated", estimate.Value, estimatedBound));
                }
            }

            verdict = breaches.Count > 0 ? PerformanceVerdict.Degraded : PerformanceVerdict.Ok;
        }

        return new PerformanceEvaluation(
            model, version, segment, monitor.Task, start, end, predictions, labelled, closedBy, verdict, monitor.MinSamples,
            realized, estimated, referenceMetrics, breaches, reason);
    }

    /// <summary>
    /// The estimate of a window's scores with its band rescaled to the window's size: the reference's σ was measured
    /// over chunks of <see cref="CbpeReference.ChunkSize"/> predictions and shrinks as 1/√n, so a window of n
    /// predictions gets ±3σ·√(chunk / n).
    /// </summary>
    public static Dictionary<string, EstimatedValue> Estimate(double[] scores, CbpeReference cbpe)
    {
        var estimate = CbpeWindow.Of(scores, cbpe);
        var scale = estimate.Count > 0 ? Math.Sqrt((double)cbpe.ChunkSize / estimate.Count) : double.NaN;
        var spread = cbpe.Spread;
        var sigmas = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["roc_auc"] = spread?.RocAuc ?? double.NaN,
            ["precision"] = spread?.Precision ?? double.NaN,
            ["recall"] = spread?.Recall ?? double.NaN,
            ["f1"] = spread?.F1 ?? double.NaN,
            ["accuracy"] = spread?.Accuracy ?? double.NaN,
        };
        var result = new Dictionary<string, EstimatedValue>(StringComparer.Ordinal);
        foreach (var (name, metric) in PerformanceMetrics.ToDictionary(estimate))
        {
            var half = CbpeReference.BandWidth * sigmas[name] * scale;
            result[name] = new EstimatedValue(metric.Value, Math.Max(0, metric.Value - half), Math.Min(1, metric.Value + half));
        }

        return result;
    }

    /// <summary>A classifier's pairs: 8 bytes of score (little-endian double) then 1 byte of label.</summary>
    public static (double[] Scores, bool[] Labels) Pairs(ReadOnlySpan<byte> pairs)
    {
        var n = pairs.Length / 9;
        var scores = new double[n];
        var labels = new bool[n];
        for (var i = 0; i < n; i++)
        {
            scores[i] = BinaryPrimitives.ReadDoubleLittleEndian(pairs[(9 * i)..]);
            labels[i] = pairs[(9 * i) + 8] != 0;
        }

        return (scores, labels);
    }

    /// <summary>A window's scores, 8 bytes each.</summary>
    public static double[] Scores(ReadOnlySpan<byte> scores)
    {
        var result = new double[scores.Length / 8];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = BinaryPrimitives.ReadDoubleLittleEndian(scores[(8 * i)..]);
        }

        return result;
    }
}

/// <summary>One series of a closing window as stored: its segment (null: the whole window), counts, pairs and scores.</summary>
internal sealed record WindowSeries(string? Segment, long Predictions, long Labelled, byte[] Pairs, byte[] Scores, string Suffix);
