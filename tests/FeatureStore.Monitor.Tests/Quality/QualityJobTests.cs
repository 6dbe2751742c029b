using FeatureStore.Core.Definitions;
using FeatureStore.Core.Quality;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Quality;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Quality;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Monitor.Tests.Quality;

/// <summary>
/// The quality evaluator against a real redis-server: the ingest status and counts it reads, the incidents and
/// alerts it writes, with several evaluators at once and across a restart.
/// </summary>
[Trait("Category", "Integration")]
public sealed class QualityJobTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly FeatureRepository Repository = FeatureRepositoryLoader.LoadFromText("""
        project: quality
        entities:
          - { name: user, join_keys: [user_id] }
        sources:
          - name: payments
            kafka: { topic: payments }
            timestamp_field: ts
            fields: { user_id: string, amount: double, ts: timestamp }
            quality: { window: 1m, min_events: 10, max_dead_letter_rate: 0.1 }
            alert: hook
        feature_views:
          - name: user_payments
            entity: user
            source: payments
            ttl: 1h
            freshness: 1m
            alert: hook
            quality: { window: 1m, min_lookups: 10, max_not_found_rate: 0.5, ranges: { amount_sum: { min: 0, max: 100 } } }
            features:
              - { name: amount_sum, aggregation: sum, field: amount, window: 10m }
        alerts:
          webhooks:
            - { name: hook, url: "http://127.0.0.1:9/alerts", secret_env: HOOK_SECRET, cooldown: 1s }
        """, "repo.yaml").Repository!;

    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..8];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Each evaluator on a clock of its own, as separate processes are: their incidents' ids would differ.
    private QualityJob Job(int clockOffsetMs = 0) => new(Repository, redis.Connection.Database, _prefix,
        new MonitorOptions { BootstrapServers = "unused", TimeProvider = new OffsetClock(clockOffsetMs) }, MonitorMetrics.ForQuality(), NullLogger.Instance);

    private void Status(long newestEventMs) =>
        new IngestStatusStore(redis.Connection.Database, new OnlineKeys(_prefix, "quality"), "ingest").Write(
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), [new PartitionStatus("payments", 0, 3, newestEventMs, newestEventMs)]);

    private async Task<List<DriftAlert>> OutboxAsync(QualityJob job) =>
        [.. (await job.Outbox.DueAsync(long.MaxValue, 100)).Select(a => a.Alert).OrderBy(a => a.CreatedAtMs)];

    [Fact]
    public async Task Several_evaluators_at_once_raise_one_freshness_incident_and_one_alert_and_a_restart_does_not_repeat_it()
    {
        Status(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 3_600_000);
        var jobs = Enumerable.Range(0, 4).Select(i => Job(i * 7)).ToList();
        var reports = await Task.WhenAll(jobs.Select(j => j.EvaluateAsync(Ct)));
        Assert.Contains(reports, r => r is not null);

        var alert = Assert.Single(await OutboxAsync(jobs[0]));
        Assert.Equal((AlertStatus.Freshness, "freshness", "user_payments", "age_seconds", 60.0, 60_000L, "hook"),
            (alert.Status, alert.Kind, alert.View, alert.Metric, alert.Threshold, alert.WindowMs, alert.Webhook));
        Assert.InRange(alert.Value, 3_600, 3_700);
        Assert.StartsWith("freshness:user_payments:", alert.Id, StringComparison.Ordinal);

        // Evaluated again, by the same evaluators and by one that starts afresh: the incident is open already.
        await Task.WhenAll(jobs.Select(j => j.EvaluateAsync(Ct)));
        Assert.NotNull(await Job().EvaluateAsync(Ct));
        Assert.Single(await OutboxAsync(jobs[0]));

        // Fresh again: one resolved, with the incident's id.
        Status(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await Task.WhenAll(jobs.Select(j => j.EvaluateAsync(Ct)));
        var alerts = await OutboxAsync(jobs[0]);
        Assert.Equal(2, alerts.Count);
        var resolved = Assert.Single(alerts, a => a.Status == AlertStatus.Resolved);
        Assert.Equal(("freshness", alert.Id[..^"freshness".Length] + "resolved"), (resolved.Kind, resolved.Id));
    }

    [Fact]
    public async Task Served_and_dead_letter_rates_are_judged_over_the_counts_every_replica_added()
    {
        Status(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var counts = new QualityCounts(redis.Connection.Database, new QualityKeys(_prefix, "quality"));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // Two serving replicas' flushes add up: 12 values, 7 not found (over 0.5), 1 of 5 present ones out of range (over 0).
        await counts.AddServedAsync(now, [new("user_payments:amount_sum:total", 6), new("user_payments:amount_sum:not_found", 4)]);
        await counts.AddServedAsync(now, [new("user_payments:amount_sum:total", 6), new("user_payments:amount_sum:not_found", 3), new("user_payments:amount_sum:out_of_range", 1)]);
        // Ingest: 9 events consumed, all dead-lettered, is under min_events: no verdict.
        await counts.AddSourcesAsync(now, [new("payments:consumed", 9), new("payments:dead:missing_key", 9)]);

        var report = (await Job().EvaluateAsync(Ct))!;
        var checks = report.Checks.ToDictionary(c => c.Key);
        Assert.Equal((QualityVerdict.Breach, 7.0 / 12, 12L), (checks["quality:view:user_payments:amount_sum:not_found_rate"].Verdict, checks["quality:view:user_payments:amount_sum:not_found_rate"].Value, checks["quality:view:user_payments:amount_sum:not_found_rate"].Count));
        Assert.Equal((QualityVerdict.Breach, 1.0 / 12), (checks["quality:view:user_payments:amount_sum:out_of_range_rate"].Verdict, checks["quality:view:user_payments:amount_sum:out_of_range_rate"].Value));
        Assert.Equal(QualityVerdict.InsufficientData, checks["quality:source:payments:missing_key"].Verdict);
        Assert.Equal(QualityVerdict.Ok, checks["freshness:user_payments"].Verdict);

        var alerts = await OutboxAsync(Job());
        Assert.Equal(["not_found_rate", "out_of_range_rate"], alerts.Select(a => a.Metric!).Order(StringComparer.Ordinal));
        Assert.All(alerts, a => Assert.Equal((AlertStatus.Quality, "quality", "user_payments", "amount_sum"), (a.Status, a.Kind, a.View, a.Feature)));

        // One more consumed event: ten, the source is judged.
        await counts.AddSourcesAsync(now, [new("payments:consumed", 1)]);
        checks = (await Job().EvaluateAsync(Ct))!.Checks.ToDictionary(c => c.Key);
        Assert.Equal((QualityVerdict.Breach, 0.9), (checks["quality:source:payments:missing_key"].Verdict, checks["quality:source:payments:missing_key"].Value));
        var deadLetters = Assert.Single(await OutboxAsync(Job()), a => a.Source is not null);
        Assert.Equal(("payments", "missing_key", "dead_letter_rate", (string?)null), (deadLetters.Source, deadLetters.Reason, deadLetters.Metric, deadLetters.View));
    }

    private sealed class OffsetClock(int offsetMs) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow().AddMilliseconds(offsetMs);
    }
}
