using FeatureStore.Core.Models;

namespace FeatureStore.Core.Tests.Models;

/// <summary>Stage changes and the retraining trigger, apart from any store.</summary>
public sealed class ModelRegistryUnitTests
{
    private static ModelVersionRecord V(string version, ModelStage stage) => new("fraud", version, ["v:f"], null, null, stage, 0, 0);

    [Fact]
    public void Promoting_to_production_archives_the_previous_production_version()
    {
        var changed = ModelStages.Promote([V("v1", ModelStage.Production), V("v2", ModelStage.Staging), V("v3", ModelStage.Staging)], "v2", ModelStage.Production, 42)!;
        Assert.Equal(2, changed.Count);
        Assert.Equal((ModelStage.Production, 42L), (changed.Single(r => r.Version == "v2").Stage, changed.Single(r => r.Version == "v2").StageChangedAtMs));
        Assert.Equal(ModelStage.Archived, changed.Single(r => r.Version == "v1").Stage);
    }

    [Fact]
    public void Other_stages_change_only_the_version_and_unknown_or_unchanged_are_reported()
    {
        var versions = new[] { V("v1", ModelStage.Production), V("v2", ModelStage.Staging) };
        Assert.Equal(["v1"], ModelStages.Promote(versions, "v1", ModelStage.Archived, 1)!.Select(r => r.Version));
        Assert.Empty(ModelStages.Promote(versions, "v2", ModelStage.Staging, 1)!);
        Assert.Null(ModelStages.Promote(versions, "v9", ModelStage.Production, 1));
    }

    [Theory]
    [InlineData("production", ModelStage.Production)]
    [InlineData("Staging", ModelStage.Staging)]
    [InlineData(" ARCHIVED ", ModelStage.Archived)]
    public void Stages_parse_by_name(string text, ModelStage expected)
    {
        Assert.True(ModelStages.TryParse(text, out var stage));
        Assert.Equal(expected, stage);
        Assert.Equal(expected, ModelStages.TryParse(ModelStages.Name(expected), out var back) ? back : (ModelStage)(-1));
    }

    [Fact]
    public void Retraining_fires_once_after_n_consecutive_drifted_windows_and_again_only_after_the_incident_clears()
    {
        var tracker = new RetrainTracker(afterWindows: 3);
        var fired = new List<RetrainRequest>();
        void Window(int i, bool drifted, string column = "score")
        {
            if (tracker.Observe("fraud", "v1", column, i * 100, (i + 1) * 100, drifted) is { } request)
            {
                fired.Add(request);
            }
        }

        Window(0, true);
        Window(1, true);
        Assert.Empty(fired);
        Window(2, true);
        Assert.Single(fired);
        Assert.Equal(new RetrainRequest("fraud", "v1", "score", 3, "fraud:v1:0", 0, 300), fired[0]);
        Window(3, true);
        Window(4, true);
        Window(5, true, "amount");
        Window(6, true, "amount");
        Window(7, true, "amount");
        Assert.Single(fired); // one persistent incident, one request, whichever columns persist

        Window(8, false); // score back, amount still drifting: the incident stays open
        Window(9, true);
        Window(10, true);
        Window(11, true);
        Assert.Single(fired);

        Window(12, false);
        Window(13, false, "amount"); // every column back: closed
        Window(14, true);
        Window(15, true);
        Window(16, true);
        Assert.Equal(2, fired.Count);
        Assert.Equal("fraud:v1:1400", fired[1].IncidentId);
    }

    [Fact]
    public void A_broken_streak_starts_over_and_versions_count_apart()
    {
        var tracker = new RetrainTracker(afterWindows: 2);
        Assert.Null(tracker.Observe("m", "v1", "c", 0, 1, drifted: true));
        Assert.Null(tracker.Observe("m", "v1", "c", 1, 2, drifted: false));
        Assert.Null(tracker.Observe("m", "v1", "c", 2, 3, drifted: true));
        Assert.Null(tracker.Observe("m", "v2", "c", 2, 3, drifted: true));
        Assert.NotNull(tracker.Observe("m", "v1", "c", 3, 4, drifted: true));
        Assert.NotNull(tracker.Observe("m", "v2", "c", 3, 4, drifted: true));
    }

    [Fact]
    public void A_restored_state_keeps_a_fired_incident_from_firing_again()
    {
        var first = new RetrainTracker(afterWindows: 1);
        Assert.NotNull(first.Observe("m", "v1", "c", 0, 1, drifted: true));
        var second = new RetrainTracker(afterWindows: 1);
        second.Restore("m", "v1", first.States[("m", "v1")]);
        Assert.Null(second.Observe("m", "v1", "c", 1, 2, drifted: true));
    }
}
