using System.Diagnostics;

namespace FeatureStore.Testing;

/// <summary>Awaits a condition with a deadline instead of sleeping a fixed time.</summary>
public static class Eventually
{
    /// <summary>
    /// Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes, then fails
    /// with <paramref name="what"/>. The poll interval grows from 5 ms to 100 ms.
    /// </summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var clock = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(5);
        Exception? last = null;
        while (clock.Elapsed < timeout)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                last = ex;
            }

            await Task.Delay(delay, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(100, delay.TotalMilliseconds * 2));
        }

        throw new TimeoutException($"not within {timeout.TotalSeconds:0.#} s: {what}" + (last is null ? "" : $" (last error: {last.Message})"), last);
    }

    /// <summary>Synchronous-condition overload of <see cref="TrueAsync(Func{Task{bool}}, TimeSpan, string, CancellationToken)"/>.</summary>
    public static Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what, CancellationToken cancellationToken = default) =>
        TrueAsync(() => Task.FromResult(condition()), timeout, what, cancellationToken);
}
