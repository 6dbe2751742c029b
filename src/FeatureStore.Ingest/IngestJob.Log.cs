using Microsoft.Extensions.Logging;

namespace FeatureStore.Ingest;

public sealed partial class IngestJob
{
    [LoggerMessage(1, LogLevel.Information, "ingest started: group {Group}, topics {Topics}")]
    private partial void LogStarted(string group, string topics);

    [LoggerMessage(2, LogLevel.Information, "ingest stopped")]
    private partial void LogStopped();

    [LoggerMessage(3, LogLevel.Information, "assigned {Partitions}")]
    private partial void LogAssigned(string partitions);

    [LoggerMessage(4, LogLevel.Information, "{Partition} {Why}: buffered events dropped, its next owner resumes from the stored checkpoint")]
    private partial void LogDropped(string partition, string why);

    [LoggerMessage(5, LogLevel.Information, "{Partition} resumes at offset {Offset}")]
    private partial void LogResuming(string partition, long offset);

    [LoggerMessage(6, LogLevel.Warning, "online store or dead-letter topic unavailable ({Reason}); paused, retrying in {DelayMs} ms")]
    private partial void LogRetrying(string reason, double delayMs);

    [LoggerMessage(7, LogLevel.Information, "resumed after the online store came back")]
    private partial void LogResumed();

    [LoggerMessage(8, LogLevel.Warning, "{Partition} fenced: its checkpoint moved under us; reloading it")]
    private partial void LogFenced(string partition);

    [LoggerMessage(10, LogLevel.Debug, "{Partition}: seek not accepted yet ({Reason}); retrying")]
    private partial void LogSeekRetry(string partition, string reason);

    [LoggerMessage(11, LogLevel.Warning, "topic {Topic} partitions {Partitions}: the online checkpoints do not belong to the topic as it is now ({Why}): the topic was recreated or the cluster replaced; reading those partitions from their beginning, their events counted after those already in the online store")]
    private partial void LogNewIncarnation(string topic, string partitions, string why);

    [LoggerMessage(9, LogLevel.Warning, "kafka: {Code}: {Reason}")]
    private partial void LogKafkaError(string code, string reason);
}
