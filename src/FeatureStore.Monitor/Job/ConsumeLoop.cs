using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Monitor.Job;

/// <summary>The monitor's consumers' poll loop: records into a bounded channel, so the evaluator's pace holds the consumer back.</summary>
internal static class ConsumeLoop
{
    /// <summary>
    /// Consumes into <paramref name="writer"/> until <paramref name="cancellationToken"/> fires, then completes it. A
    /// non-fatal consume error (a topic not created yet) is logged once per reason and polled past.
    /// </summary>
    public static async Task RunAsync(IConsumer<byte[]?, byte[]?> consumer, ChannelWriter<ConsumeResult<byte[]?, byte[]?>> writer, TimeProvider timeProvider, ILogger logger, CancellationToken cancellationToken)
    {
        var warnings = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                ConsumeResult<byte[]?, byte[]?>? result;
                try
                {
                    result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                }
                catch (ConsumeException ex) when (!ex.Error.IsFatal)
                {
                    // e.g. the topic does not exist yet: keep polling, it may be created later.
                    if (warnings.Add(ex.Error.Reason))
                    {
                        MonitorLog.ConsumeError(logger, ex.Error.Reason);
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(500), timeProvider, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (result is not null && !result.IsPartitionEOF)
                {
                    await writer.WriteAsync(result, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
        finally
        {
            writer.TryComplete();
        }
    }
}
