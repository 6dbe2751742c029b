using FeatureStore.Core.Drift;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Job;

namespace FeatureStore.Monitor.Tests;

/// <summary>Incidents and the retraining trigger without a broker or a store: the alerts each window raises.</summary>
public sealed class IncidentTrackerUnitTests
{
    private static readonly Core.Definitions.FeatureRepository Repository = MonitorScenario.Repository("incidents", "http://127.0.0.1:1/hook", "FS_TEST_SECRET");

    [Fact]
    public void A_drifted_window_opens_one_incident_and_alerts_once_and_the_first_window_back_resolves_it()
    {
        var time = new ManualTime(DateTimeOffset.FromUnixTimeMilliseconds(1_000_000));
        var tracker = new IncidentTracker(Repository, Options(time));
        var alerts = new List<DriftAlert>();

        tracker.Observe(Window(0, drifted: true), alerts);
        tracker.Observe(Window(1, drifted: true), alerts);
        Assert.Equal([AlertStatus.Drift], alerts.Select(a => a.Status));
        Assert.Equal("scorer:v1:score:psi:0:drift", alerts[0].Id);

        tracker.Observe(Window(2, drifted: false), alerts);
        Assert.Equal([AlertStatus.Drift, AlertStatus.Resolved], alerts.Select(a => a.Status));
        Assert.Equal("scorer:v1:score:psi:0:resolved", alerts[1].Id);

        var touched = Assert.Single(tracker.Touched([Window(2, drifted: false)]));
        Assert.Equal("scorer:v1:score:psi", touched.Key);
        Assert.False(touched.Value.Open);
        Assert.Equal(3000, touched.Value.ResolvedMs);
    }

    [Fact]
    public void An_incident_reopened_within_the_webhook_cooldown_is_tracked_silently()
    {
        var time = new ManualTime(DateTimeOffset.FromUnixTimeMilliseconds(1_000_000));
        var tracker = new IncidentTracker(Repository, Options(time));
        var alerts = new List<DriftAlert>();

        tracker.Observe(Window(0, drifted: true), alerts);
        tracker.Observe(Window(1, drifted: false), alerts);
        tracker.Observe(Window(2, drifted: true), alerts); // the cooldown is 1 s and no time passed
        Assert.Equal([AlertStatus.Drift, AlertStatus.Resolved], alerts.Select(a => a.Status));

        tracker.Observe(Window(3, drifted: false), alerts); // its drift alert did not go out: nor does a resolved one
        time.Now = time.Now.AddSeconds(2);
        tracker.Observe(Window(4, drifted: true), alerts);
        Assert.Equal([AlertStatus.Drift, AlertStatus.Resolved, AlertStatus.Drift], alerts.Select(a => a.Status));
    }

    [Fact]
    public void A_run_of_drifted_windows_raises_one_retrain_alert_and_insufficient_data_does_not_break_it()
    {
        var options = Options(new ManualTime(DateTimeOffset.UnixEpoch), retrainAfter: 2, retrainWebhook: "hook");
        var trigger = new RetrainTrigger(options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var alerts = new List<DriftAlert>();

        trigger.Observe(Window(0, drifted: true), alerts);
        trigger.Observe(Window(1, drifted: false) with { Verdict = DriftVerdict.InsufficientData }, alerts);
        Assert.Empty(alerts);
        trigger.Observe(Window(2, drifted: true), alerts);
        trigger.Observe(Window(3, drifted: true), alerts);

        var alert = Assert.Single(alerts);
        Assert.Equal(AlertStatus.Retrain, alert.Status);
        Assert.Equal("retrain:scorer:v1:0", alert.Id);
        var touched = Assert.Single(trigger.Touched([Window(3, drifted: true)]));
        Assert.Equal(("scorer", "v1"), (touched.Model, touched.Version));
    }

    private static MonitorOptions Options(TimeProvider time, int retrainAfter = 0, string? retrainWebhook = null) => new()
    {
        BootstrapServers = "127.0.0.1:1",
        TimeProvider = time,
        RetrainAfterWindows = retrainAfter,
        RetrainWebhook = retrainWebhook,
    };

    private static DriftEvaluation Window(int index, bool drifted) => new(
        "scorer",
        "v1",
        "score",
        "b1",
        index * 1000,
        (index + 1) * 1000,
        500,
        [new DriftResult(DriftMethod.Psi, drifted ? 0.5 : 0.01, 0, 0.2, drifted)],
        drifted,
        drifted ? DriftVerdict.Drifted : DriftVerdict.NoDrift);

    private sealed class ManualTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
