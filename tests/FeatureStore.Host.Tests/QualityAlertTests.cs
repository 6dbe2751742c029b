using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;
using FeatureStore.Core.Events;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Tests;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Host.Tests;

/// <summary>
/// Freshness objectives and data-quality monitors end to end (docs/quality.md): hosts running ingest, serve and the
/// monitor's quality evaluator over the embedded Kafka cluster and a real redis-server, alerting a local webhook.
/// </summary>
[Trait("Category", "Integration")]
public sealed class QualityAlertTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>, IAsyncLifetime
{
    private const string Secret = "quality-secret";
    private const double ObjectiveSeconds = 5;
    private const double PeriodSeconds = 1;

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-quality-").FullName;
    private readonly string _topic = EmbeddedKafkaFixture.UniqueTopic("payments");
    private readonly WebhookReceiver _webhook = new(FreePort.Next());
    private readonly string _group = "quality-" + Guid.NewGuid().ToString("N");
    private RedisServer? _redis;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        if (!RedisServer.IsInstalled)
        {
            throw ServiceRequirement.Missing(RedisServer.NotInstalled);
        }

        _redis = await RedisServer.StartAsync(cancellationToken: Ct);
        File.WriteAllText(Path.Combine(_dir, "featurestore.yaml"), $"""
            project: quality
            entities:
              - name: user
                join_keys: [user_id]
            sources:
              - name: payments
                kafka: {"{"} topic: {_topic} {"}"}
                timestamp_field: ts
                fields: {"{"} user_id: string, amount: double, ts: timestamp {"}"}
                quality: {"{"} window: 30s, min_events: 20, max_dead_letter_rate: 0.2 {"}"}
                alert: hook
            feature_views:
              - name: user_payments
                entity: user
                source: payments
                ttl: 1h
                freshness: {ObjectiveSeconds.ToString(CultureInfo.InvariantCulture)}s
                alert: hook
                quality: {"{"} window: 30s, min_lookups: 20, max_not_found_rate: 0.5 {"}"}
                features:
                  - {"{"} name: payment_count, aggregation: count, window: 10m {"}"}
            alerts:
              webhooks:
                - {"{"} name: hook, url: "{_webhook.Url}", secret_env: QUALITY_SECRET, cooldown: 1s {"}"}
            """);
    }

    public async ValueTask DisposeAsync()
    {
        await _webhook.DisposeAsync();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Ingest_stopped_raises_a_freshness_alert_within_the_objective_and_one_period_and_resumed_resolves_it()
    {
        var http = FreePort.Next();
        await using var evaluator = await RunningHost.StartAsync(Config("evaluator", ingest: false, http), Ct);
        var ingest = await RunningHost.StartAsync(Config("ingest-1", ingest: true, serveHttp: null, monitor: false), Ct);
        using var stopProducing = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var producing = ProduceAsync(stopProducing.Token);
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http.ToString(CultureInfo.InvariantCulture)}") };
            await Eventually.TrueAsync(async () => await FreshnessVerdictAsync(client) == "ok", TimeSpan.FromSeconds(60), "the view fresh while ingest runs", Ct);
            Assert.Empty(Alerts("freshness"));

            await ingest.DisposeAsync();
            var stopped = Stopwatch.StartNew();
            await Eventually.TrueAsync(() => Alerts("freshness").Count > 0, TimeSpan.FromSeconds(30), "a freshness alert", Ct);
            var elapsed = stopped.Elapsed.TotalSeconds;

            // The newest event was applied at most when ingest stopped: the breach shows at the first evaluation after
            // the objective passed, and is delivered at once (two seconds for the round trip on a loaded machine).
            Assert.InRange(elapsed, 0, ObjectiveSeconds + PeriodSeconds + 2);
            var (alert, received) = Assert.Single(Alerts("freshness"));
            Assert.Equal(WebhookSender.Sign(received.Body, Secret), received.Signature);
            Assert.Equal(alert.GetProperty("id").GetString(), received.IdempotencyKey);
            Assert.Equal(("freshness", "user_payments", "age_seconds", ObjectiveSeconds), (alert.GetProperty("kind").GetString(), alert.GetProperty("view").GetString(),
                alert.GetProperty("metric").GetString(), alert.GetProperty("threshold").GetDouble()));
            Assert.True(alert.GetProperty("value").GetDouble() > ObjectiveSeconds);
            Assert.Equal("breach", await FreshnessVerdictAsync(client));

            // A new member of the group picks up where the first left off: fresh again, resolved.
            await using var resumed = await RunningHost.StartAsync(Config("ingest-2", ingest: true, serveHttp: null, monitor: false), Ct);
            await Eventually.TrueAsync(() => Resolved("freshness").Count > 0, TimeSpan.FromSeconds(60), "the freshness incident resolved", Ct);
            var (resolved, _) = Assert.Single(Resolved("freshness"));
            Assert.Equal(alert.GetProperty("id").GetString()![..^"freshness".Length] + "resolved", resolved.GetProperty("id").GetString());
            Assert.Single(Alerts("freshness")); // one incident, one alert
        }
        finally
        {
            await stopProducing.CancelAsync();
            await producing;
            await ingest.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_burst_of_unknown_entities_raises_the_not_found_rate_alert_and_known_lookups_resolve_it()
    {
        var http = FreePort.Next();
        await using var host = await RunningHost.StartAsync(Config("all", ingest: true, http), Ct);
        using var producer = kafka.CreateProducer();
        for (var i = 0; i < 5; i++)
        {
            await producer.ProduceAsync(_topic, Event($"u{i}", DateTimeOffset.UtcNow), Ct);
        }

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http.ToString(CultureInfo.InvariantCulture)}") };
        for (var i = 0; i < 5; i++)
        {
            var user = $"u{i}";
            await Eventually.TrueAsync(async () => await StatusOfAsync(client, user) == "PRESENT", TimeSpan.FromSeconds(60), user + " ingested", Ct);
        }

        // 40 lookups of entities that never had an event among 10 of known ones: 80 % NOT_FOUND, over 50 %.
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(i % 5 == 0 ? "PRESENT" : "NOT_FOUND", await StatusOfAsync(client, i % 5 == 0 ? "u1" : $"stranger-{i}"));
        }

        await Eventually.TrueAsync(() => Alerts("quality").Count > 0, TimeSpan.FromSeconds(30), "a not-found rate alert", Ct);
        var (alert, received) = Assert.Single(Alerts("quality"));
        Assert.Equal(WebhookSender.Sign(received.Body, Secret), received.Signature);
        Assert.Equal(("quality", "user_payments", "payment_count", "not_found_rate", 0.5, 30_000L),
            (alert.GetProperty("kind").GetString(), alert.GetProperty("view").GetString(), alert.GetProperty("feature").GetString(),
             alert.GetProperty("metric").GetString(), alert.GetProperty("threshold").GetDouble(), alert.GetProperty("window_ms").GetInt64()));
        Assert.InRange(alert.GetProperty("value").GetDouble(), 0.5, 1);

        // /metrics shows the served values by status (added to the counters with each flush) and the rate the evaluator measured.
        await Eventually.TrueAsync(async () =>
        {
            var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
            var notFound = metrics.Split('\n').SingleOrDefault(l => l.StartsWith("featurestore_serving_served_values_total{view=\"user_payments\",feature=\"payment_count\",status=\"not_found\"}", StringComparison.Ordinal));
            return notFound is not null && double.Parse(notFound.Split(' ')[1], CultureInfo.InvariantCulture) >= 40 // and the lookups made while waiting for the events
                && metrics.Contains("featurestore_quality_rate{scope=\"view\",name=\"user_payments\",key=\"payment_count\",metric=\"not_found_rate\"}", StringComparison.Ordinal)
                // once ingest published a status with the newest event (every 2 s) and an evaluation read it
                && metrics.Contains("featurestore_quality_freshness_age_seconds{view=\"user_payments\"}", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(10), "the 40 not-found values, the rate and the freshness in /metrics", Ct);

        // Known entities only, until the window holds mostly them: resolved.
        await Eventually.TrueAsync(async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                await StatusOfAsync(client, $"u{i % 5}");
            }

            return Resolved("quality").Count > 0;
        }, TimeSpan.FromSeconds(60), "the not-found incident resolved", Ct);
        Assert.Single(Alerts("quality"));
    }

    [Fact]
    public async Task A_burst_of_malformed_events_raises_the_dead_letter_rate_alert_for_its_reason()
    {
        await using var host = await RunningHost.StartAsync(Config("all", ingest: true, serveHttp: null), Ct);
        using var producer = kafka.CreateProducer();
        for (var i = 0; i < 30; i++)
        {
            await producer.ProduceAsync(_topic, i % 3 == 0 ? Event($"u{i}", DateTimeOffset.UtcNow) : new Message<string, string> { Key = "x", Value = "{not json" }, Ct);
        }

        await Eventually.TrueAsync(() => Alerts("quality").Count > 0, TimeSpan.FromSeconds(60), "a dead-letter rate alert", Ct);

        var (alert, _) = Assert.Single(Alerts("quality"));
        Assert.Equal(("quality", "payments", "malformed_json", "dead_letter_rate", 0.2),
            (alert.GetProperty("kind").GetString(), alert.GetProperty("source").GetString(), alert.GetProperty("reason").GetString(),
             alert.GetProperty("metric").GetString(), alert.GetProperty("threshold").GetDouble()));
        // 20 of 30 dead-lettered: the rejects count with their batch's accepted events, never before them.
        Assert.InRange(alert.GetProperty("value").GetDouble(), 0.6, 0.7);
        Assert.DoesNotContain(Alerts("quality"), a => a.Alert.GetProperty("reason").GetString() != "malformed_json");
        Assert.False(alert.TryGetProperty("view", out _));
    }

    private HostSettings Config(string name, bool ingest, int? serveHttp, bool monitor = true)
    {
        var path = Path.Combine(_dir, name + ".yaml");
        File.WriteAllText(path, $"""
            repository: {Path.Combine(_dir, "featurestore.yaml")}
            redis: {"{"} configuration: "{_redis!.Endpoint}" {"}"}
            kafka: {"{"} bootstrapServers: "{kafka.BootstrapServers}", sessionTimeout: 6s {"}"}
            offline: {"{"} directory: "{Path.Combine(_dir, "offline")}" {"}"}
            jobs:
              ingest: {"{"} enabled: {(ingest ? "true" : "false")}, group: {_group} {"}"}
              offline: {"{"} enabled: false {"}"}
              serve: {"{"} enabled: {(serveHttp is null ? "false" : "true")}, grpcPort: {FreePort.Next()}, httpPort: {serveHttp ?? 0} {"}"}
              monitor: {"{"} enabled: {(monitor ? "true" : "false")}, group: {_group}-monitor, qualityInterval: {PeriodSeconds.ToString(CultureInfo.InvariantCulture)}s {"}"}
            """);
        return HostConfiguration.Load(path);
    }

    private async Task ProduceAsync(CancellationToken cancellationToken)
    {
        using var producer = kafka.CreateProducer();
        try
        {
            for (var i = 0; !cancellationToken.IsCancellationRequested; i++)
            {
                await producer.ProduceAsync(_topic, Event($"u{i % 5}", DateTimeOffset.UtcNow), cancellationToken);
                await Task.Delay(200, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            // stopped
        }
    }

    private static Message<string, string> Event(string user, DateTimeOffset at) => new()
    {
        Key = user,
        Value = $$"""{"user_id":"{{user}}","amount":1.5,"ts":"{{Rfc3339.Format(at.ToUnixTimeMilliseconds())}}"}""",
    };

    private static async Task<string?> FreshnessVerdictAsync(HttpClient client)
    {
        var answer = await client.GetFromJsonAsync<JsonElement>(new Uri("/v1/quality", UriKind.Relative), Ct);
        if (answer.GetProperty("report").ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        return answer.GetProperty("report").GetProperty("checks").EnumerateArray()
            .Where(c => c.GetProperty("kind").GetString() == "freshness").Select(c => c.GetProperty("verdict").GetString()).SingleOrDefault();
    }

    private static async Task<string?> StatusOfAsync(HttpClient client, string user)
    {
        using var response = await client.PostAsJsonAsync(new Uri("/v1/features/online", UriKind.Relative),
            new { features = new[] { "user_payments:payment_count" }, entities = new[] { new { join_keys = new { user_id = user } } } }, Ct);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        return body.GetProperty("rows")[0].GetProperty("values")[0].GetProperty("status").GetString();
    }

    private List<(JsonElement Alert, WebhookReceiver.Received Received)> Alerts(string @event) =>
        [.. _webhook.Requests.Where(r => r.Event == @event).Select(r => (JsonDocument.Parse(r.Body).RootElement, r))];

    private List<(JsonElement Alert, WebhookReceiver.Received Received)> Resolved(string kind) =>
        [.. _webhook.Requests.Where(r => r.Event == "resolved").Select(r => (JsonDocument.Parse(r.Body).RootElement, r)).Where(a => a.Item1.GetProperty("kind").GetString() == kind)];

    /// <summary>A host running until disposed, with the webhook secret and a quick alert poll.</summary>
    private sealed class RunningHost : IAsyncDisposable
    {
        private readonly FeatureStoreHost _host;
        private readonly CancellationTokenSource _stop;
        private readonly Task _run;
        private bool _disposed;

        private RunningHost(FeatureStoreHost host, CancellationTokenSource stop, Task run) => (_host, _stop, _run) = (host, stop, run);

        public static async Task<RunningHost> StartAsync(HostSettings settings, CancellationToken cancellationToken)
        {
            var extensions = new HostExtensions { WebhookSecrets = _ => Secret, AlertPollInterval = TimeSpan.FromMilliseconds(100) };
            var host = await FeatureStoreHost.CreateAsync(settings, NullLoggerFactory.Instance, extensions: extensions, cancellationToken: cancellationToken);
            var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            return new RunningHost(host, stop, host.RunAsync(stop.Token));
        }

        public async ValueTask DisposeAsync()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            await _stop.CancelAsync();
            await _run.WaitAsync(TimeSpan.FromSeconds(60));
            await _host.DisposeAsync();
            _stop.Dispose();
        }
    }
}
