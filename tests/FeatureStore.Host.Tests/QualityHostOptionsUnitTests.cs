using FeatureStore.Core.Definitions;
using FeatureStore.Host.Jobs;
using FeatureStore.Monitor.Quality;
using FeatureStore.Testing;

namespace FeatureStore.Host.Tests;

/// <summary>The freshness and quality evaluator's settings, and when the host runs it.</summary>
public sealed class QualityHostOptionsUnitTests
{
    [Fact]
    public void The_evaluation_period_and_link_come_from_the_monitor_settings_with_documented_defaults()
    {
        var defaults = HostJobOptions.Monitor(new HostSettings(), "b");
        Assert.Equal((TimeSpan.FromSeconds(30), "http://localhost:6567/v1/quality"), (defaults.QualityInterval, defaults.QualityUrl));

        var set = HostJobOptions.Monitor(new HostSettings { Jobs = { Monitor = { QualityInterval = "5s", QualityUrl = "https://fs.example.com/v1/quality" } } }, "b");
        Assert.Equal((TimeSpan.FromSeconds(5), "https://fs.example.com/v1/quality"), (set.QualityInterval, set.QualityUrl));
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("-1s")]
    [InlineData("")]
    [InlineData("0s")]
    public void A_wrong_period_is_refused_naming_its_key(string interval)
    {
        var ex = Assert.Throws<HostConfigurationException>(() => HostJobOptions.Monitor(new HostSettings { Jobs = { Monitor = { QualityInterval = interval } } }, "b"));
        Assert.Contains("jobs.monitor.qualityInterval", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_evaluator_runs_only_for_a_repository_that_declares_freshness_or_quality()
    {
        var plain = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("payments"), "featurestore.yaml").Repository!;
        Assert.False(QualityJob.Declared(plain));
        Assert.True(QualityJob.Declared(plain with { FeatureViews = [plain.FeatureViews[0] with { FreshnessMs = 60_000 }, .. plain.FeatureViews.Skip(1)] }));
        Assert.True(QualityJob.Declared(plain with { Sources = [plain.Sources[0] with { Quality = new SourceQualityDefinition(60_000, 1, 0.1) }] }));
    }
}
