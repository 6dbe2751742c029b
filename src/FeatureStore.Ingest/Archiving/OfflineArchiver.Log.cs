using Microsoft.Extensions.Logging;

namespace FeatureStore.Ingest.Archiving;

public sealed partial class OfflineArchiver
{
    [LoggerMessage(Level = LogLevel.Information, Message = "offline archiver started: group {Group}, topics {Topics}, folder {Folder}")]
    private partial void LogStarted(string group, string topics, string folder);

    [LoggerMessage(Level = LogLevel.Information, Message = "offline archiver resumes {Partition} at offset {Offset}")]
    private partial void LogResuming(string partition, long offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "offline archiver lost the claim on {Partition} at offset {Offset}: another member committed it; reloading")]
    private partial void LogFenced(string partition, long offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "offline archiver: topic {Topic} partitions {Partitions}: the event log does not continue the topic as it is now ({Why}): the topic was recreated or the cluster replaced; archiving those partitions from their beginning, their offsets in the log counted on after those already there")]
    private partial void LogNewIncarnation(string topic, string partitions, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "kafka error {Code}: {Reason}")]
    private partial void LogKafkaError(string code, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "offline archiver write failed, retrying in {DelayMs} ms: {Message}")]
    private partial void LogRetrying(string message, double delayMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "offline archiver stopped")]
    private partial void LogStopped();
}
