using System.Text.Json;
using FeatureStore.Core.Definitions;

namespace FeatureStore.Monitor.Tests.Performance;

/// <summary>The scenario's repository file declares what the in-memory scenario builds, so a process reading it runs the same join.</summary>
public sealed class PerformanceScenarioUnitTests
{
    [Fact]
    public void The_file_declares_the_labels_and_the_monitor_the_scenario_builds()
    {
        var loaded = FeatureRepositoryLoader.LoadFromText(PerformanceScenario.Yaml("p", "p-labels", "http://127.0.0.1:1/", MonitorScenario.SecretEnv), "test.yaml");
        Assert.True(loaded.Success, string.Join("\n", loaded.Diagnostics));
        var fromFile = loaded.Repository!.Models[0];
        var built = PerformanceScenario.Repository("p", "p-labels", "http://127.0.0.1:1/").Models[0];
        Assert.Equal(built.Prediction.IdField, fromFile.Prediction.IdField);
        Assert.Equal(built.Labels, fromFile.Labels);
        Assert.Equal(JsonSerializer.Serialize(built.PerformanceMonitors), JsonSerializer.Serialize(fromFile.PerformanceMonitors));
    }
}
