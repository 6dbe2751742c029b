using System.Security.Cryptography;
using System.Text;
using Confluent.Kafka;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Monitor.Tests;

/// <summary>The monitor job end to end: embedded Kafka over TCP, embedded Garnet, a real HTTP webhook receiver.</summary>
[Trait("Category", "Integration")]
public sealed class MonitorJobTests(EmbeddedKafkaFixture kafka, GarnetFixture store)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<GarnetFixture>
{
    private const string Secret = "s3cret-for-tests";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_shift_fires_one_signed_drift_alert_then_a_resolved_one_and_bad_predictions_are_dead_lettered()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("predictions", partitions: 2);
        kafka.Cluster.CreateTopic(topic + ".dlq", 1);
        var historyDirectory = Directory.CreateTempSubdirectory("fs-history-").FullName;
        await using var monitor = await StartAsync(topic, receiver.Url, historyDirectory: historyDirectory);
        using var producer = kafka.CreateProducer();
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // Three windows drawn from the training distribution (fresh seeds): evaluated, none drifted, no alert.
        for (var w = 0; w < 3; w++)
        {
            MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 100 + w, count: MonitorScenario.Window, mean: 0.3), start - 30_000 + (w * 10_000));
        }

        await Eventually.TrueAsync(async () => (await monitor.Job.Store.HistoryAsync("scorer", "v1")).Count >= 6, TimeSpan.FromSeconds(60), "three baseline-like windows recorded", Ct);
        var calm = await monitor.Job.Store.HistoryAsync("scorer", "v1");
        Assert.Equal(6, calm.Count);
        Assert.All(calm, h => Assert.False(h.Drifted, $"{h.Column} drifted on a window from the training distribution"));
        Assert.Equal(0, await monitor.Job.Outbox.PendingAsync());
        Assert.Empty(receiver.Requests);

        // A window shifted by three standard deviations: one drift alert (psi and ks each open an incident).
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 2, count: MonitorScenario.Window, mean: 0.6), start);
        await Eventually.TrueAsync(() => receiver.Requests.Count >= 2, TimeSpan.FromSeconds(60), "two drift alerts (psi, ks)", Ct);
        foreach (var request in receiver.Requests)
        {
            Assert.Equal("drift", request.Event);
            Assert.Equal("sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), request.Body)), request.Signature);
        }

        var alert = receiver.Alerts.Single(a => a.GetProperty("method").GetString() == "psi");
        Assert.Equal("scorer", alert.GetProperty("model").GetString());
        Assert.Equal("v1", alert.GetProperty("version").GetString());
        Assert.Equal("score", alert.GetProperty("column").GetString());
        Assert.Equal(0.2, alert.GetProperty("threshold").GetDouble());
        Assert.True(alert.GetProperty("value").GetDouble() >= 0.2);
        Assert.StartsWith("scorer@v1#", alert.GetProperty("baseline_id").GetString(), StringComparison.Ordinal);
        Assert.Contains("model=scorer", alert.GetProperty("history").GetString(), StringComparison.Ordinal);
        Assert.Equal(alert.GetProperty("id").GetString(), receiver.Requests.Single(r => r.Text.Contains("\"psi\"", StringComparison.Ordinal)).IdempotencyKey);

        // Still shifted: the incident is open, so no new alert. Then back to normal: resolved.
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 3, count: MonitorScenario.Window, mean: 0.6), start + 10_000);
        await Eventually.TrueAsync(() => monitor.Metrics.Windows >= 10, TimeSpan.FromSeconds(60), "second shifted window evaluated", Ct);
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 4, count: MonitorScenario.Window, mean: 0.3), start + 20_000);
        await Eventually.TrueAsync(() => receiver.Requests.Count >= 4, TimeSpan.FromSeconds(60), "two resolved alerts", Ct);
        Assert.Equal(2, receiver.Requests.Count(r => r.Event == "drift"));
        Assert.Equal(2, receiver.Requests.Count(r => r.Event == "resolved"));

        // A malformed prediction: dead-lettered with its reason, nothing else happens.
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "bad", Value = """{"model_version":"v1","event_time":1,"score":"high","segment":"a"}""" }, Ct);
        await Eventually.TrueAsync(() => monitor.Metrics.DeadLettered == 1, TimeSpan.FromSeconds(30), "one dead letter", Ct);
        using var dlq = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest }).Build();
        dlq.Subscribe(topic + ".dlq");
        var dead = dlq.Consume(TimeSpan.FromSeconds(30));
        Assert.NotNull(dead);
        Assert.Equal("wrong_type", Encoding.UTF8.GetString(dead.Message.Headers.GetLastBytes("fs-reason")));
        Assert.Equal("score", Encoding.UTF8.GetString(dead.Message.Headers.GetLastBytes("fs-field")));
        dlq.Close();

        var history = await monitor.Job.Store.HistoryAsync("scorer", "v1");
        Assert.Equal(12, history.Count); // six windows × two columns
        Assert.Equal([false, false, false, true, true, false], history.Where(h => h.Column == "score").Select(h => h.Drifted));
        Assert.Equal(0, await monitor.Job.Outbox.PendingAsync());

        // The whole history is also on disk as Parquet: a row per window, column and method.
        var rows = new List<(string Column, string Method, bool Drifted)>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(historyDirectory, "scorer", "v1"), "*.parquet", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain(".tmp-", file, StringComparison.Ordinal);
            await using var reader = await global::Parquet.ParquetReader.CreateAsync(file, cancellationToken: Ct);
            var fields = reader.Schema.DataFields;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var n = (int)group.RowCount;
                string?[] columns = new string?[n], methods = new string?[n];
                var drifted = new bool?[n];
                await group.ReadAsync(fields.Single(f => f.Name == "column"), columns.AsMemory(), cancellationToken: Ct);
                await group.ReadAsync(fields.Single(f => f.Name == "method"), methods.AsMemory(), cancellationToken: Ct);
                await group.ReadAsync(fields.Single(f => f.Name == "drifted"), drifted.AsMemory(), cancellationToken: Ct);
                rows.AddRange(Enumerable.Range(0, n).Select(i => (columns[i]!, methods[i]!, drifted[i]!.Value)));
            }
        }

        Assert.Equal(18, rows.Count); // six windows × (score: psi, ks; segment: chi2)
        Assert.Equal(2, rows.Count(r => r.Column == "score" && r.Method == "psi" && r.Drifted)); // the two shifted windows
        Assert.Equal(6, rows.Count(r => r.Column == "segment" && r.Method == "chi2"));
        Directory.Delete(historyDirectory, recursive: true);
    }

    [Fact]
    public async Task A_prediction_over_a_megabyte_is_dead_lettered_cut_to_a_prefix_with_its_size_and_the_monitor_goes_on()
    {
        // The prediction topic takes it (its producer raised message.max.bytes); the dead-letter producer's limit
        // is 1 MB, so sent whole the dead letter would be refused and the job would stop on it at every restart.
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("huge-predictions", partitions: 1);
        kafka.Cluster.CreateTopic(topic + ".dlq", 1);
        await using var monitor = await StartAsync(topic, receiver.Url);
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = kafka.BootstrapServers, MessageMaxBytes = 2 << 20 }).Build();
        var huge = $$"""{"model_version":"v1","event_time":1,"score":"{{new string('x', 1_100_000)}}","segment":"a"}""";
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "huge", Value = huge }, Ct);
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "bad", Value = """{"model_version":"v1","event_time":1,"score":"high","segment":"a"}""" }, Ct);
        await Eventually.TrueAsync(() => monitor.Metrics.DeadLettered == 2, TimeSpan.FromSeconds(30), "both dead-lettered", Ct);

        using var dlq = new ConsumerBuilder<string, byte[]>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest }).Build();
        dlq.Subscribe(topic + ".dlq");
        var letters = new List<Message<string, byte[]>>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (letters.Count < 2 && DateTime.UtcNow < deadline)
        {
            if (dlq.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
            {
                letters.Add(result.Message);
            }
        }

        dlq.Close();
        Assert.Equal(["huge", "bad"], letters.Select(m => m.Key));
        Assert.Equal(Encoding.UTF8.GetBytes(huge).AsSpan(0, 4096).ToArray(), letters[0].Value);
        Assert.Equal(Encoding.UTF8.GetByteCount(huge).ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.UTF8.GetString(letters[0].Headers.GetLastBytes("fs-payload-bytes")));
        Assert.Equal("wrong_type", Encoding.UTF8.GetString(letters[1].Headers.GetLastBytes("fs-reason")));
    }

    [Fact]
    public async Task An_alert_raised_while_the_webhook_is_down_is_retried_and_delivered_later()
    {
        var port = FreePort.Next();
        var url = $"http://127.0.0.1:{port}/alerts/";
        var topic = kafka.CreateTopic("predictions-down", partitions: 1);
        await using var monitor = await StartAsync(topic, url);
        using var producer = kafka.CreateProducer();
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 5, count: MonitorScenario.Window, mean: 0.6), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await Eventually.TrueAsync(() => monitor.Metrics.DeliveryFailures >= 2, TimeSpan.FromSeconds(60), "deliveries failing while nothing listens", Ct);
        Assert.Equal(2, await monitor.Job.Outbox.PendingAsync());

        await using var receiver = new WebhookReceiver(port);
        await Eventually.TrueAsync(() => receiver.Requests.Count >= 2, TimeSpan.FromSeconds(60), "both alerts delivered once the webhook is up", Ct);
        await Eventually.TrueAsync(async () => await monitor.Job.Outbox.PendingAsync() == 0, TimeSpan.FromSeconds(10), "outbox empty", Ct);
        Assert.All(receiver.Requests, r => Assert.Equal("drift", r.Event));
        Assert.Equal(2, receiver.Requests.Select(r => r.IdempotencyKey).Distinct().Count());
    }

    [Fact]
    public async Task A_time_window_closes_when_a_prediction_past_its_end_arrives()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("predictions-time", partitions: 1);
        await using var monitor = await StartAsync(topic, receiver.Url, "size: 1m");
        using var producer = kafka.CreateProducer();
        var minute = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 60_000 * 60_000) - (10 * 60_000);
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 6, count: 300, mean: 0.6), minute);
        await Eventually.TrueAsync(() => monitor.Metrics.Predictions >= 300, TimeSpan.FromSeconds(60), "first minute read", Ct);
        Assert.Equal(0, monitor.Metrics.Windows); // still open: nothing past its end yet

        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 7, count: 1, mean: 0.3), minute + 60_000);
        await Eventually.TrueAsync(() => receiver.Requests.Count >= 2, TimeSpan.FromSeconds(60), "drift alerts for the closed minute", Ct);
        var alert = receiver.Alerts.First();
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(minute), DateTimeOffset.Parse(alert.GetProperty("window_start").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(minute + 60_000), DateTimeOffset.Parse(alert.GetProperty("window_end").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        var history = await monitor.Job.Store.HistoryAsync("scorer", "v1");
        Assert.Equal(300, history.Single(h => h.Column == "score").Count);
    }

    [Fact]
    public async Task A_member_joining_while_a_window_is_half_full_loses_and_doubles_no_prediction()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("predictions-rebalance", partitions: 2);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var group = "monitor-" + Guid.NewGuid().ToString("N");
        const int Total = 5 * MonitorScenario.Window;
        using var producer = kafka.CreateProducer();
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scores = MonitorScenario.Scores(seed: 9, count: Total, mean: 0.3).ToArray();
        var first = await StartAsync(topic, receiver.Url, prefix: prefix, group: group);
        RunningMonitor? second = null;
        try
        {
            // A window and a half over both partitions: the first member evaluates one window per column and
            // holds 200 predictions of each partition-spanning window in memory.
            MonitorScenario.Produce(producer, topic, scores.Take(600), start);
            await Eventually.TrueAsync(() => first.Metrics.Windows >= 2 && first.Metrics.Predictions >= 600, TimeSpan.FromSeconds(60), "first window evaluated, second half full", Ct);

            // A second member joins: every partition is revoked, the first member drops its open windows, and
            // each partition's new owner reads it again from the committed offset, so the second member reads
            // the half-full window's predictions of its partition before anything new is produced.
            second = await StartAsync(topic, receiver.Url, prefix: prefix, group: group);
            await Eventually.TrueAsync(() => second.Metrics.Predictions > 0, TimeSpan.FromSeconds(60), "the second member owns a partition", Ct);
            MonitorScenario.Produce(producer, topic, scores.Skip(600), start + 600);
            await Eventually.TrueAsync(async () => Unread() < 2 * MonitorScenario.Window && (await first.Job.Store.HistoryAsync("scorer", "v1")).Count >= 6,
                TimeSpan.FromSeconds(90), "both partitions read and committed up to their open windows", Ct);
        }
        finally
        {
            await first.DisposeAsync();
            if (second is not null)
            {
                await second.DisposeAsync();
            }
        }

        // Every prediction is in exactly one evaluated window of each column, or past the committed offset
        // (in a window still open when the members stopped, to be read again by the next run).
        var history = await first.Job.Store.HistoryAsync("scorer", "v1");
        var unread = Unread();
        foreach (var column in new[] { "score", "segment" })
        {
            var windows = history.Where(h => h.Column == column).ToList();
            Assert.True(windows.Count >= 3, $"{column}: {windows.Count} windows");
            Assert.All(windows, h => Assert.Equal(MonitorScenario.Window, h.Count));
            Assert.Equal(Total, windows.Sum(h => h.Count) + unread);
        }

        long Unread()
        {
            using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = group }).Build();
            var partitions = new[] { new TopicPartition(topic, 0), new TopicPartition(topic, 1) };
            return consumer.Committed(partitions, TimeSpan.FromSeconds(10))
                .Sum(c => consumer.QueryWatermarkOffsets(c.TopicPartition, TimeSpan.FromSeconds(10)).High.Value - Math.Max(0, c.Offset.Value));
        }
    }

    [Fact]
    public async Task A_restarted_monitor_keeps_closed_time_windows_closed()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("predictions-time-restart", partitions: 1);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var group = "monitor-" + Guid.NewGuid().ToString("N");
        using var producer = kafka.CreateProducer();
        var minute = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 60_000 * 60_000) - (10 * 60_000);
        await using (var first = await StartAsync(topic, receiver.Url, "size: 1m", prefix: prefix, group: group))
        {
            // Minute 0 closes when the first prediction of minute 1 arrives; minute 1 stays open.
            MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 6, count: 300, mean: 0.3), minute);
            MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 7, count: 50, mean: 0.3), minute + 60_000);
            await Eventually.TrueAsync(() => first.Metrics.Predictions >= 350 && first.Metrics.Windows >= 1, TimeSpan.FromSeconds(60), "minute 0 evaluated", Ct);
        }

        await using var second = await StartAsync(topic, receiver.Url, "size: 1m", prefix: prefix, group: group);

        // Late for minute 0, which the first run closed: too late, not a second window for minute 0.
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 8, count: 5, mean: 0.3), minute + 1_000);
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 10, count: 1, mean: 0.3), minute + 120_000);
        await Eventually.TrueAsync(async () => (await second.Job.Store.HistoryAsync("scorer", "v1")).Count(h => h.Column == "score") >= 2,
            TimeSpan.FromSeconds(60), "minute 1 evaluated by the second run", Ct);
        var windows = (await second.Job.Store.HistoryAsync("scorer", "v1")).Where(h => h.Column == "score").ToList();
        Assert.Equal([(minute, 300L), (minute + 60_000, 50L)], windows.Select(h => (h.WindowStartMs, h.Count)));
        // The score monitor skips the 300 predictions its persisted window counted (read again because the
        // segment monitor's count window, never closed, holds the committed offset at 0) and the 5 late ones.
        Assert.Equal(305, second.Metrics.Skipped);
    }

    [Fact]
    public async Task Non_finite_predictions_are_counted_in_their_window_and_a_window_below_min_samples_is_insufficient_data_without_an_alert()
    {
        await using var receiver = new WebhookReceiver(FreePort.Next());
        var topic = kafka.CreateTopic("predictions-nan", partitions: 1);
        kafka.Cluster.CreateTopic(topic + ".dlq", 1);
        var historyDirectory = Directory.CreateTempSubdirectory("fs-history-").FullName;
        await using var monitor = await StartAsync(topic, receiver.Url, "size: 1m", historyDirectory: historyDirectory);
        using var producer = kafka.CreateProducer();
        var minute = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 60_000 * 60_000) - 600_000;

        // Minute 0: 300 scores like training, and three non-finite ones as Python's json.dumps writes them
        // (bare NaN and -Infinity) and as text.
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 21, count: 300, mean: 0.3), minute);
        foreach (var score in new[] { "NaN", "-Infinity", "\"inf\"" })
        {
            await producer.ProduceAsync(topic, new Message<string, string>
            {
                Key = score,
                Value = $$"""{"model_version":"v1","event_time":{{minute + 400}},"score":{{score}},"segment":"low"}""",
            }, Ct);
        }

        // Minute 1: only 20 predictions, far off the training scores; minute 2 closes it.
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 22, count: 20, mean: 0.9), minute + 60_000);
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 23, count: 1, mean: 0.3), minute + 120_000);
        await Eventually.TrueAsync(async () => (await monitor.Job.Store.HistoryAsync("scorer", "v1")).Count(h => h.Column == "score") >= 2,
            TimeSpan.FromSeconds(60), "minutes 0 and 1 evaluated", Ct);

        var entries = (await store.Connection.Database.SortedSetRangeByRankAsync(monitor.Job.Store.HistoryKey("scorer", "v1")))
            .Select(m => System.Text.Json.JsonDocument.Parse(m.ToString()).RootElement)
            .Where(e => e.GetProperty("column").GetString() == "score")
            .OrderBy(e => e.GetProperty("window_start_ms").GetInt64())
            .ToList();
        var full = entries[0];
        Assert.Equal(300, full.GetProperty("count").GetInt64());
        Assert.Equal(1, full.GetProperty("non_finite").GetProperty("nan").GetInt64());
        Assert.Equal(1, full.GetProperty("non_finite").GetProperty("positive_infinity").GetInt64());
        Assert.Equal(1, full.GetProperty("non_finite").GetProperty("negative_infinity").GetInt64());
        Assert.Equal("no_drift", full.GetProperty("verdict").GetString());
        Assert.Equal(2, full.GetProperty("results").GetArrayLength());

        var tiny = entries[1];
        Assert.Equal(20, tiny.GetProperty("count").GetInt64());
        Assert.Equal("insufficient_data", tiny.GetProperty("verdict").GetString());
        Assert.Equal(100, tiny.GetProperty("min_samples").GetInt64());
        Assert.False(tiny.GetProperty("drifted").GetBoolean());
        Assert.Equal(0, tiny.GetProperty("results").GetArrayLength());

        Assert.Equal(0, monitor.Metrics.DeadLettered);
        Assert.Equal(0, await monitor.Job.Outbox.PendingAsync());
        Assert.Empty(receiver.Requests);

        // The Parquet history keeps the window with too few values too: one row, no method.
        var rows = new List<(string? Method, string? Verdict)>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(historyDirectory, "scorer", "v1"), "*.parquet", SearchOption.AllDirectories))
        {
            await using var reader = await global::Parquet.ParquetReader.CreateAsync(file, cancellationToken: Ct);
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var n = (int)group.RowCount;
                string?[] methods = new string?[n], verdicts = new string?[n], columns = new string?[n];
                await group.ReadAsync(reader.Schema.DataFields.Single(f => f.Name == "method"), methods.AsMemory(), cancellationToken: Ct);
                await group.ReadAsync(reader.Schema.DataFields.Single(f => f.Name == "verdict"), verdicts.AsMemory(), cancellationToken: Ct);
                await group.ReadAsync(reader.Schema.DataFields.Single(f => f.Name == "column"), columns.AsMemory(), cancellationToken: Ct);
                rows.AddRange(Enumerable.Range(0, n).Where(i => columns[i] == "score").Select(i => (methods[i], verdicts[i])));
            }
        }

        Assert.Equal([(null, "insufficient_data"), ("ks", "no_drift"), ("psi", "no_drift")], rows.OrderBy(r => r.Verdict).ThenBy(r => r.Method));
        Directory.Delete(historyDirectory, recursive: true);
    }

    private async Task<RunningMonitor> StartAsync(string topic, string url, string? window = null, string? historyDirectory = null, string? prefix = null, string? group = null)
    {
        var repository = MonitorScenario.Repository(topic, url, MonitorScenario.SecretEnv, window);
        prefix ??= "t" + Guid.NewGuid().ToString("N")[..8];
        await new DriftStore(store.Connection.Database, prefix, repository.Project).SaveBaselineAsync(MonitorScenario.Baseline(repository));

        var metrics = new MonitorMetrics();
        var options = MonitorScenario.Options(kafka.BootstrapServers, group ?? "monitor-" + Guid.NewGuid().ToString("N"), Secret, historyDirectory);
        var job = new MonitorJob(repository, store.Connection.Database, prefix, options, metrics, NullLogger.Instance);
        return RunningMonitor.Start(job, metrics, Ct);
    }
}
