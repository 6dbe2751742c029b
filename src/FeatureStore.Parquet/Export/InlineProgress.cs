namespace FeatureStore.Parquet.Export;

/// <summary>
/// Reports on the caller's thread, at once. <see cref="Progress{T}"/> posts each report to the thread pool,
/// so a stage's late reports arrive after the next stage began and a console shows the stage again.
/// </summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
