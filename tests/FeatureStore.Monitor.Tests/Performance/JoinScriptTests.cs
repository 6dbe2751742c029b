using System.Buffers.Binary;
using FeatureStore.Monitor.Performance;
using FeatureStore.Redis.Drift;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Tests.Performance;

/// <summary>The label join's script alone, on a real store: each rule of docs/performance.md, "The label join".</summary>
[Trait("Category", "Integration")]
public abstract class JoinScriptTests(IOnlineStoreFixture store)
{
    private const long Horizon = 60_000;
    private const long Bucket = 15_000;
    private const long T0 = 1_699_999_980_000; // a window start (a multiple of the minute)

    [Fact]
    public async Task A_label_delivered_twice_counts_once()
    {
        var (keys, script) = Join();
        script.Prediction("p:0", 0, "a", T0 + 10, "v1", Payload(0.7));
        script.Label("l:0", 0, "a", T0 + 20, JoinScript.LabelValue(1));
        script.Label("l:0", 1, "a", T0 + 30, JoinScript.LabelValue(1));
        await script.RunAsync(Database);

        Assert.Equal(new LabelCounts(1, 1, 0, 0, 0), await Counts(keys));
        var pairs = await Bytes(Window(keys) + ":p");
        Assert.Equal(9, pairs.Length);
        Assert.Equal(0.7, BinaryPrimitives.ReadDoubleLittleEndian(pairs));
        Assert.Equal(1, pairs[8]);
    }

    [Fact]
    public async Task A_label_after_the_horizon_is_counted_late_and_not_joined()
    {
        var (keys, script) = Join();
        script.Prediction("p:0", 0, "a", T0 + 10, "v1", Payload(0.7));
        script.Label("l:0", 0, "a", T0 + 10 + Horizon + 1, JoinScript.LabelValue(1));
        await script.RunAsync(Database);

        Assert.Equal(new LabelCounts(0, 0, 1, 0, 0), await Counts(keys));
        Assert.False(await Database.KeyExistsAsync(Window(keys) + ":p"));
        Assert.Equal(0L, (long)await Database.HashGetAsync(Window(keys), "l"));
    }

    [Fact]
    public async Task A_label_before_its_prediction_waits_and_joins_when_the_prediction_comes()
    {
        var (keys, script) = Join();
        script.Label("l:0", 0, "a", T0 + 500, JoinScript.LabelValue(0));
        await script.RunAsync(Database);
        Assert.Equal(new LabelCounts(0, 0, 0, 0, 1), await Counts(keys));

        script.Clear();
        script.Prediction("p:0", 0, "a", T0 + 10, "v1", Payload(0.2));
        await script.RunAsync(Database);
        Assert.Equal(new LabelCounts(1, 0, 0, 0, 0), await Counts(keys));
        Assert.Equal(9, (await Bytes(Window(keys) + ":p")).Length);

        // A second copy of the label now finds its prediction labelled.
        script.Clear();
        script.Label("l:0", 1, "a", T0 + 600, JoinScript.LabelValue(0));
        await script.RunAsync(Database);
        Assert.Equal(new LabelCounts(1, 1, 0, 0, 0), await Counts(keys));
    }

    [Fact]
    public async Task A_label_read_before_its_prediction_in_the_same_batch_joins_it()
    {
        var (keys, script) = Join();
        script.Label("l:0", 0, "a", T0 + 500, JoinScript.LabelValue(1));
        script.Label("l:0", 1, "b", T0 + 600, JoinScript.LabelValue(0));
        script.Prediction("p:0", 0, "a", T0 + 10, "v1", Payload(0.8));
        script.Prediction("p:0", 1, "b", T0 + 20, "v1", Payload(0.3));
        await script.RunAsync(Database);

        Assert.Equal(new LabelCounts(2, 0, 0, 0, 0), await Counts(keys));
        Assert.Equal(18, (await Bytes(Window(keys) + ":p")).Length);
    }

    [Fact]
    public async Task A_label_whose_prediction_never_comes_is_counted_unmatched_once_the_predictions_are_past_it()
    {
        var (keys, script) = Join();
        script.Label("l:0", 0, "lost", T0 + 10, JoinScript.LabelValue(1));
        script.Prediction("p:0", 0, "a", T0 + Bucket, "v1", Payload(0.5));
        await script.RunAsync(Database);
        Assert.Equal(new LabelCounts(0, 0, 0, 0, 1), await Counts(keys));

        // Predictions two buckets past the label's bucket: the label's prediction is not coming.
        script.Clear();
        script.Prediction("p:0", 1, "b", T0 + (3 * Bucket), "v1", Payload(0.5));
        await script.RunAsync(Database);
        Assert.Equal(new LabelCounts(0, 0, 0, 1, 0), await Counts(keys));
    }

    [Fact]
    public async Task Replaying_a_batch_changes_nothing()
    {
        var (keys, script) = Join(segments: 2);
        var random = new Random(7);
        for (var i = 0; i < 300; i++)
        {
            script.Prediction("p:0", i, $"id{i}", T0 + (i * 500), "v1", JoinScript.Payload([random.NextDouble()], [$"s{random.Next(4)}"]));
            if (random.NextDouble() < 0.8)
            {
                script.Label("l:0", 2 * i, $"id{random.Next(i + 1)}", T0 + (i * 500) + 100, JoinScript.LabelValue(random.Next(2)));
                script.Label("l:0", (2 * i) + 1, $"id{random.Next(i + 10)}", T0 + (i * 500) + 200, JoinScript.LabelValue(random.Next(2)));
            }
        }

        var first = await script.RunAsync(Database);
        Assert.Equal(script.Count, first.Applied);
        Assert.True(first.Closing > 0, "the batch's labels passed a window's end + horizon");
        var before = await SnapshotAsync(keys);

        var replay = await script.RunAsync(Database);
        Assert.Equal(0, replay.Applied);
        Assert.Equal(before, await SnapshotAsync(keys));
        var counts = await Counts(keys);
        Assert.True(counts.Joined > 0 && counts.Duplicate > 0 && counts.Pending > 0, counts.ToString());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_batch_of_many_records_ends_as_the_same_records_one_batch_each_would(int seed)
    {
        // The script fetches a batch's reads of the buckets at once and writes them after its records: the records
        // must still see each other in order. Predictions, labels before and after them, duplicates of both, labels
        // late, labels of predictions that never come, segments past the cap; within one window that no batch
        // closes and no sweep reaches (predictions over 25 s of a 60 s window, labels up to 70 s after them), so
        // one record per run and random batches must end alike.
        var random = new Random(seed);
        var records = new List<Action<JoinScript>>();
        var offsets = new Dictionary<string, long>();
        long Next(string partition) => offsets[partition] = offsets.GetValueOrDefault(partition, -1) + 1;
        for (var i = 0; i < 400; i++)
        {
            var id = $"id{random.Next(300)}";
            var t = T0 + random.Next(25_000);
            if (random.NextDouble() < 0.5)
            {
                var partition = $"p:{random.Next(2)}";
                var offset = Next(partition);
                var payload = JoinScript.Payload([random.NextDouble()], [$"s{random.Next(4)}"]);
                records.Add(s => s.Prediction(partition, offset, id, t, "v1", payload));
            }
            else
            {
                var partition = $"l:{random.Next(2)}";
                var offset = Next(partition);
                var value = JoinScript.LabelValue(random.Next(2));
                var lt = t + random.Next(70_000);
                records.Add(s => s.Label(partition, offset, id, lt, value));
            }
        }

        var (oneByOne, single) = Join(segments: 2);
        foreach (var record in records)
        {
            single.Clear();
            record(single);
            await single.RunAsync(Database);
        }

        var (batched, script) = Join(segments: 2);
        for (var i = 0; i < records.Count;)
        {
            script.Clear();
            var size = random.Next(1, 200);
            for (var end = Math.Min(records.Count, i + size); i < end; i++)
            {
                records[i](script);
            }

            await script.RunAsync(Database);
        }

        var expected = await SnapshotAsync(oneByOne);
        var counts = await Counts(oneByOne);
        Assert.True(counts.Joined > 0 && counts.Duplicate > 0 && counts.Late > 0 && counts.Pending > 0, counts.ToString());
        Assert.Equal(expected.Replace(oneByOne.Base, "K", StringComparison.Ordinal), (await SnapshotAsync(batched)).Replace(batched.Base, "K", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Random_batches_end_in_the_state_the_reference_script_leaves(int seed)
    {
        // Five minutes of predictions of two versions and two monitors (a segmented classifier, a regressor), their
        // labels read before and after them (some twice, some late, some for predictions that never come),
        // predictions seen twice or read too late, records only moving offsets, replayed batches; windows close and buckets are swept
        // as the stream moves on. The current script and the reference one, fed the same batches, end alike.
        var random = new Random(seed);
        var timed = new List<(long At, JoinRecord Record)>();
        var offsets = new Dictionary<string, long>();
        for (var i = 0; i < 1200; i++)
        {
            var id = $"id{i}";
            var t = T0 + (i * 250) + random.Next(-5_000, 5_000);
            var version = random.Next(5) == 0 ? "v2" : "v1";
            var payload = JoinScript.Payload([random.NextDouble(), random.NextDouble() * 100], [$"s{random.Next(5)}", null]);
            if (random.Next(20) != 0)
            {
                var prediction = new JoinRecord('p', $"p:{i % 2}", id, t, version, payload);
                // Some read long after their time: their windows have closed (too late).
                timed.Add((t + (random.Next(25) == 0 ? random.Next(60_000, 150_000) : random.Next(2_000)), prediction));
                if (random.Next(25) == 0)
                {
                    // The same prediction again, at once or a little later.
                    timed.Add((t + random.Next(30_000), prediction));
                }
            }

            var labels = random.Next(10) switch { 0 => 0, 1 => 2, _ => 1 };
            for (var k = 0; k < labels; k++)
            {
                var lt = t + random.Next(-2_000, (int)Horizon + 20_000);
                var value = JoinScript.LabelValue(random.Next(2));
                timed.Add((t + random.Next(-40_000, 80_000), new JoinRecord('l', $"l:{k}", id, lt, "", value)));
            }

            if (random.Next(30) == 0)
            {
                timed.Add((t, new JoinRecord('x', "p:0", "", 0, "", [])));
            }
        }

        // In read order, each record at its partition's next offset.
        var records = timed.OrderBy(r => r.At).Select(r => r.Record).ToList();
        var (current, script) = Join(segments: 3, regressor: true);
        var (reference, referenceScript) = Join(segments: 3, regressor: true);
        for (var i = 0; i < records.Count;)
        {
            script.Clear();
            referenceScript.Clear();
            var size = random.Next(1, 300);
            for (var end = Math.Min(records.Count, i + size); i < end; i++)
            {
                var record = records[i];
                var offset = offsets[record.Partition] = offsets.GetValueOrDefault(record.Partition, -1) + 1;
                record.AddTo(script, offset);
                record.AddTo(referenceScript, offset);
            }

            var replays = random.Next(8) == 0 ? 2 : 1;
            for (var r = 0; r < replays; r++)
            {
                Assert.Equal(await referenceScript.RunAsync(Database, JoinScriptReference.Source), await script.RunAsync(Database));
            }
        }

        var counters = await Database.HashGetAllAsync(current.Labels("m"));
        var names = counters.Where(e => (long)e.Value != 0).Select(e => e.Name.ToString()).ToHashSet();
        foreach (var counter in new[] { "joined", "duplicate", "late", "unmatched", "too_late", "duplicate_prediction" })
        {
            Assert.Contains(counter, names);
        }

        Assert.Equal(
            (await SnapshotAsync(reference)).Replace(reference.Base, "K", StringComparison.Ordinal),
            (await SnapshotAsync(current)).Replace(current.Base, "K", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_window_closes_once_the_labels_pass_its_end_plus_the_horizon()
    {
        var (keys, script) = Join();
        script.Prediction("p:0", 0, "a", T0 + 10, "v1", Payload(0.9));
        script.Prediction("p:0", 1, "b", T0 + 20, "v1", Payload(0.1));
        script.Prediction("p:0", 2, "c", T0 + 60_000, "v1", Payload(0.1)); // the next window: predictions are past the first's end
        script.Label("l:0", 0, "a", T0 + 30, JoinScript.LabelValue(1));
        script.Label("l:0", 1, "c", T0 + 60_000 + Horizon - 1, JoinScript.LabelValue(0));
        Assert.Equal(0, (await script.RunAsync(Database)).Closing);
        Assert.Equal("open", (string?)await Database.HashGetAsync(Window(keys), "state"));

        script.Clear();
        script.Prediction("p:0", 3, "d", T0 + 61_000, "v1", Payload(0.4));
        script.Label("l:0", 2, "d", T0 + 60_000 + Horizon, JoinScript.LabelValue(0));
        Assert.Equal(1, (await script.RunAsync(Database)).Closing);
        Assert.Equal("closing", (string?)await Database.HashGetAsync(Window(keys), "state"));
        Assert.Equal("horizon", (string?)await Database.HashGetAsync(Window(keys), "closed_by"));
        Assert.Equal(new LabelCounts(3, 0, 0, 0, 0), await Counts(keys));
        Assert.Equal(2L, (long)await Database.HashGetAsync(Window(keys), "n"));
        Assert.Equal(1L, (long)await Database.HashGetAsync(Window(keys), "l"));
    }

    [Fact]
    public async Task A_window_closes_at_its_coverage_and_a_later_label_for_it_is_late()
    {
        var (keys, script) = Join(coverage: 0.5);
        script.Prediction("p:0", 0, "a", T0 + 10, "v1", Payload(0.9));
        script.Prediction("p:0", 1, "b", T0 + 20, "v1", Payload(0.1));
        script.Prediction("p:0", 2, "c", T0 + 60_000, "v1", Payload(0.1));
        script.Label("l:0", 0, "a", T0 + 30, JoinScript.LabelValue(1));
        Assert.Equal(1, (await script.RunAsync(Database)).Closing);
        Assert.Equal("coverage", (string?)await Database.HashGetAsync(Window(keys), "closed_by"));

        // b's label is well within b's horizon, but its window is closed: late, not joined.
        script.Clear();
        script.Label("l:0", 1, "b", T0 + 120, JoinScript.LabelValue(0));
        await script.RunAsync(Database);
        Assert.Equal(new LabelCounts(1, 0, 1, 0, 0), await Counts(keys));
        Assert.Equal(1L, (long)await Database.HashGetAsync(Window(keys), "l"));
    }

    [Fact]
    public async Task Segments_past_the_cap_share_the_window_other()
    {
        var (keys, script) = Join(segments: 2);
        string[] countries = ["fr", "de", "fr", "it", "es", "de"];
        for (var i = 0; i < countries.Length; i++)
        {
            script.Prediction("p:0", i, $"id{i}", T0 + i, "v1", JoinScript.Payload([0.5], [countries[i]]));
        }

        await script.RunAsync(Database);
        var window = await Database.HashGetAllAsync(Window(keys));
        var counts = window.Where(e => e.Name.StartsWith("n:")).ToDictionary(e => e.Name.ToString()[2..], e => (long)e.Value);
        Assert.Equal(new Dictionary<string, long> { ["fr"] = 2, ["de"] = 2, ["other"] = 2 }, counts);
        Assert.Equal(16, (await Bytes(Window(keys) + ":s:other")).Length);
    }

    [Fact]
    public async Task A_classifier_keeps_score_and_class_and_a_regressor_prediction_and_target()
    {
        var keys = new DriftKeys("t" + Guid.NewGuid().ToString("N")[..8], "p");
        var settings = new JoinSettings(Horizon, Bucket, Bucket, null, [new JoinMonitor(60_000, 0, KeepScores: true), new JoinMonitor(60_000, 0, KeepScores: false, Regression: true)], "p", "l");
        var script = new JoinScript(keys.Join("m"), keys.Labels("m"), settings);
        script.Prediction("p:0", 0, "a", T0 + 10, "v1", JoinScript.Payload([0.25, 12.5], [null, null]));
        script.Label("l:0", 0, "a", T0 + 20, JoinScript.LabelValue(1));
        await script.RunAsync(Database);

        var classifier = await Bytes(Window(keys) + ":p");
        Assert.Equal(9, classifier.Length);
        Assert.Equal(0.25, BinaryPrimitives.ReadDoubleLittleEndian(classifier));
        Assert.Equal(1, classifier[8]);
        var regressor = await Bytes($"{keys.Join("m")}:w:v1:2:{T0}:p");
        Assert.Equal(16, regressor.Length);
        Assert.Equal(12.5, BinaryPrimitives.ReadDoubleLittleEndian(regressor));
        Assert.Equal(1.0, BinaryPrimitives.ReadDoubleLittleEndian(regressor.AsSpan(8)));
        Assert.False(await Database.KeyExistsAsync($"{keys.Join("m")}:w:v1:2:{T0}:s")); // no estimate for a regressor
    }

    private IDatabase Database => store.Connection.Database;

    // One record of a join batch: p a prediction (Bytes its payload), l a label (Bytes its value), x an offset only.
    private sealed record JoinRecord(char Kind, string Partition, string Id, long Time, string Version, byte[] Bytes)
    {
        public void AddTo(JoinScript script, long offset)
        {
            switch (Kind)
            {
                case 'p':
                    script.Prediction(Partition, offset, Id, Time, Version, Bytes);
                    break;
                case 'l':
                    script.Label(Partition, offset, Id, Time, Bytes);
                    break;
                default:
                    script.Skip(Partition, offset);
                    break;
            }
        }
    }

    private static byte[] Payload(double score) => JoinScript.Payload([score], [null]);

    private static string Window(DriftKeys keys, long start = T0) => $"{keys.Join("m")}:w:v1:1:{start}";

    private static (DriftKeys Keys, JoinScript Script) Join(int segments = 0, double? coverage = null, bool regressor = false)
    {
        var keys = new DriftKeys("t" + Guid.NewGuid().ToString("N")[..8], "p");
        JoinMonitor[] monitors = regressor
            ? [new JoinMonitor(60_000, segments, KeepScores: true), new JoinMonitor(30_000, 0, KeepScores: false, Regression: true)]
            : [new JoinMonitor(60_000, segments, KeepScores: true)];
        var settings = new JoinSettings(Horizon, Bucket, Bucket, coverage, monitors, "p", "l");
        return (keys, new JoinScript(keys.Join("m"), keys.Labels("m"), settings));
    }

    private async Task<byte[]> Bytes(string key) => await WindowEvaluator.ReadChunksAsync(Database, key);

    private async Task<LabelCounts> Counts(DriftKeys keys) => await new PerformanceStore(Database, keys).LabelCountsAsync("m");

    // Every key of the join and the counters, with its content (expiries left out: a replay sets none).
    private async Task<string> SnapshotAsync(DriftKeys keys)
    {
        var server = store.Connection.Multiplexer.GetServers()[0];
        var lines = new List<string>();
        var all = new List<RedisKey> { keys.Labels("m") };
        await foreach (var key in server.KeysAsync(pattern: keys.Join("m") + "*"))
        {
            all.Add(key);
        }

        foreach (var key in all.OrderBy(k => k.ToString(), StringComparer.Ordinal))
        {
            var content = await Database.KeyTypeAsync(key) switch
            {
                RedisType.Hash => string.Join(",", (await Database.HashGetAllAsync(key)).OrderBy(e => e.Name.ToString(), StringComparer.Ordinal).Select(e => $"{e.Name}={Convert.ToHexString((byte[])e.Value!)}")),
                RedisType.SortedSet => string.Join(",", (await Database.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}@{e.Score}")),
                RedisType.String => Convert.ToHexString((byte[])(await Database.StringGetAsync(key))!),
                // A list's chunks as one, as the evaluation reads them (one chunk per batch: batches may differ).
                RedisType.List => string.Concat((await Database.ListRangeAsync(key)).Select(v => Convert.ToHexString((byte[])v!))),
                var other => other.ToString(),
            };
            lines.Add($"{key} {content}");
        }

        return string.Join("\n", lines);
    }
}

/// <summary>The join's script on redis-server.</summary>
public sealed class JoinScriptRedisTests(RedisServerFixture store) : JoinScriptTests(store), IClassFixture<RedisServerFixture>
{
    [Fact]
    public async Task A_logged_prediction_takes_about_a_hundred_bytes_of_its_bucket()
    {
        var keys = new DriftKeys("t" + Guid.NewGuid().ToString("N")[..8], "p");
        var settings = new JoinSettings(60_000, 15_000, 15_000, null, [new JoinMonitor(60_000, 10, KeepScores: true)], "p", "l");
        var script = new JoinScript(keys.Join("m"), keys.Labels("m"), settings);
        const int Count = 10_000;
        for (var i = 0; i < Count; i++)
        {
            if (script.Count == JoinScript.MaxBatch)
            {
                await script.RunAsync(store.Connection.Database);
                script.Clear();
            }

            // A 20-character id, one monitor, a 2-letter segment: one bucket (15 s) holds them all.
            script.Prediction("p:0", i, $"pred-{i:D15}", 1_699_999_980_000 + i, "v1", JoinScript.Payload([0.5], [i % 2 == 0 ? "fr" : "de"]));
        }

        await script.RunAsync(store.Connection.Database);
        var bucket = (long)await store.Connection.Database.ExecuteAsync("MEMORY", "USAGE", $"{keys.Join("m")}:p:1699999980000", "SAMPLES", "0");
        var perPrediction = (double)bucket / Count;
        TestContext.Current.TestOutputHelper?.WriteLine($"bucket of {Count} predictions: {bucket} bytes, {perPrediction:0.0} per prediction");
        Assert.InRange(perPrediction, 40, 160);
    }
}

/// <summary>The join's script on embedded Garnet.</summary>
public sealed class JoinScriptGarnetTests(GarnetFixture store) : JoinScriptTests(store), IClassFixture<GarnetFixture>;
