namespace FeatureStore.Core.Tests;
public class SmokeUnitTests { [Fact] public void Runs() => Assert.Equal(2, 1 + 1); }
