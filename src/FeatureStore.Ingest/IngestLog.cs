using Microsoft.Extensions.Logging;

namespace FeatureStore.Ingest;

/// <summary>The log messages of the ingest job (its consume loop, partitions and batch pipeline) and of the offline archiver, generated.</summary>
internal static partial class IngestLog
{
    [LoggerMessage(1, LogLevel.Information, "ingest started: group {Group}, topics {Topics}")]
    public static partial void Started(ILogger logger, string group, string topics);

    [LoggerMessage(2, LogLevel.Information, "ingest stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(3, LogLevel.Information, "assigned {Partitions}")]
    public static partial void Assigned(ILogger logger, string partitions);

    [LoggerMessage(4, LogLevel.Information, "{Partition} {Why}: buffered events dropped, its next owner resumes from the stored checkpoint")]
    public static partial void Dropped(ILogger logger, string partition, string why);

    [LoggerMessage(5, LogLevel.Information, "{Partition} resumes at offset {Offset}")]
    public static partial void Resuming(ILogger logger, string partition, long offset);

    [LoggerMessage(6, LogLevel.Warning, "online store or dead-letter topic unavailable ({Reason}); paused, retrying in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string reason, double delayMs);

    [LoggerMessage(7, LogLevel.Information, "resumed after the online store came back")]
    public static partial void Resumed(ILogger logger);

    [LoggerMessage(8, LogLevel.Warning, "{Partition} fenced: its checkpoint moved under us; reloading it")]
    public static partial void Fenced(ILogger logger, string partition);

    [LoggerMessage(10, LogLevel.Debug, "{Partition}: seek not accepted yet ({Reason}); retrying")]
    public static partial void SeekRetry(ILogger logger, string partition, string reason);

    [LoggerMessage(11, LogLevel.Warning, "topic {Topic} partitions {Partitions}: the online checkpoints do not belong to the topic as it is now ({Why}): the topic was recreated or the cluster replaced; reading those partitions from their beginning, their events counted after those already in the online store")]
    public static partial void NewIncarnation(ILogger logger, string topic, string partitions, string why);

    [LoggerMessage(12, LogLevel.Information, "ingest {Notice}")]
    public static partial void Version(ILogger logger, string notice);

    [LoggerMessage(13, LogLevel.Warning, "ingest follows registry version {Version}; apply the file to change it (the file given differs from it)")]
    public static partial void FileDiffers(ILogger logger, long version);

    [LoggerMessage(14, LogLevel.Warning, "the registry of project {Project} cannot be read now ({Reason}); reading it again in {DelayMs} ms")]
    public static partial void RegistryUnreadable(ILogger logger, string project, string reason, double delayMs);

    [LoggerMessage(15, LogLevel.Error, "registry version {Version} cannot be run ({Reason}); ingest goes on with version {Running}")]
    public static partial void VersionRefused(ILogger logger, long version, string reason, long running);

    [LoggerMessage(9, LogLevel.Warning, "kafka: {Code}: {Reason}")]
    public static partial void KafkaError(ILogger logger, string code, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "offline archiver started: group {Group}, topics {Topics}, folder {Folder}")]
    public static partial void ArchiverStarted(ILogger logger, string group, string topics, string folder);

    [LoggerMessage(Level = LogLevel.Information, Message = "offline archiver resumes {Partition} at offset {Offset}")]
    public static partial void ArchiverResuming(ILogger logger, string partition, long offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "offline archiver lost the claim on {Partition} at offset {Offset}: another member committed it; reloading")]
    public static partial void ArchiverFenced(ILogger logger, string partition, long offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "offline archiver: topic {Topic} partitions {Partitions}: the event log does not continue the topic as it is now ({Why}): the topic was recreated or the cluster replaced; archiving those partitions from their beginning, their offsets in the log counted on after those already there")]
    public static partial void ArchiverNewIncarnation(ILogger logger, string topic, string partitions, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "kafka error {Code}: {Reason}")]
    public static partial void ArchiverKafkaError(ILogger logger, string code, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "offline archiver write failed, retrying in {DelayMs} ms: {Message}")]
    public static partial void ArchiverRetrying(ILogger logger, string message, double delayMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "offline archiver stopped")]
    public static partial void ArchiverStopped(ILogger logger);
}
