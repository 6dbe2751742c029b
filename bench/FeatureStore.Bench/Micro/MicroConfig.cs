using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace FeatureStore.Bench.Micro;

/// <summary>Shared settings of the micro-benchmarks: short runs (the machines are small and noisy), in process.</summary>
public sealed class MicroConfig : ManualConfig
{
    public MicroConfig()
    {
        AddJob(Job.ShortRun.WithToolchain(BenchmarkDotNet.Toolchains.InProcess.Emit.InProcessEmitToolchain.Instance));
    }
}
