using Microsoft.Extensions.Logging;

namespace FeatureStore.Monitor.Job;

/// <summary>Every log message of the monitor job.</summary>
internal static partial class MonitorLog
{
    [LoggerMessage(1, LogLevel.Information, "monitoring {Topics}: {Baselines} model versions with a baseline")]
    public static partial void Started(ILogger logger, string topics, int baselines);

    [LoggerMessage(2, LogLevel.Warning, "no baseline for {Model}@{Version}: its predictions are skipped until `featurestore baseline` stores one")]
    public static partial void NoBaseline(ILogger logger, string model, string version);

    [LoggerMessage(3, LogLevel.Warning, "predictions of {Model} carry no field '{Field}' for monitor '{Column}': the monitor is skipped for them")]
    public static partial void MissingFeature(ILogger logger, string model, string field, string column);

    [LoggerMessage(4, LogLevel.Information, "{Model}@{Version} {Column}: window of {Count} {Verdict} ({Results})")]
    public static partial void Evaluated(ILogger logger, string model, string version, string column, long count, string verdict, string results);

    [LoggerMessage(5, LogLevel.Warning, "alert {Id} to webhook '{Webhook}' not delivered (attempt {Attempt}); next try in {Delay}")]
    public static partial void DeliveryFailed(ILogger logger, string id, string webhook, int attempt, TimeSpan delay);

    [LoggerMessage(6, LogLevel.Error, "alert {Id} refused by webhook '{Webhook}' (4xx); kept in the rejected outbox")]
    public static partial void Rejected(ILogger logger, string id, string webhook);

    [LoggerMessage(7, LogLevel.Warning, "webhook '{Webhook}': environment variable {Variable} is not set; alerts are signed with an empty secret")]
    public static partial void NoSecret(ILogger logger, string webhook, string variable);

    [LoggerMessage(8, LogLevel.Error, "online store error in the monitor; retrying")]
    public static partial void StoreError(ILogger logger, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "consuming predictions: {Reason}; still trying")]
    public static partial void ConsumeError(ILogger logger, string reason);

    [LoggerMessage(9, LogLevel.Information, "alert {Status} {Id} delivered to '{Webhook}'")]
    public static partial void Delivered(ILogger logger, string status, string id, string webhook);

    [LoggerMessage(11, LogLevel.Warning, "{Model}@{Version}: {Column} drifted in {Windows} consecutive windows; retraining requested (webhook {Webhook})")]
    public static partial void RetrainRequested(ILogger logger, string model, string version, string column, int windows, string webhook);

    [LoggerMessage(12, LogLevel.Warning, "writing the drift history to {Folder} failed; retrying")]
    public static partial void HistoryWriteError(ILogger logger, string folder, Exception exception);

    [LoggerMessage(13, LogLevel.Information, "partitions revoked: {Windows} open windows dropped and {Unread} predictions read ahead discarded; the partitions' next owner reads them again from the committed offsets")]
    public static partial void PartitionsGivenUp(ILogger logger, int windows, int unread);

    [LoggerMessage(14, LogLevel.Information, "project {Project}: {Keys} drift keys written without the hash tag moved to {Base}:…")]
    public static partial void LayoutUpgraded(ILogger logger, string project, int keys, string @base);

    [LoggerMessage(15, LogLevel.Warning, "drift key {Untagged} left in place: {Tagged} already holds other data, which the monitor uses")]
    public static partial void LayoutKept(ILogger logger, string untagged, string tagged);

    [LoggerMessage(16, LogLevel.Warning, "{Model}@{Version} degraded persistently: rolled back, {Restored} is production again ({Evidence})")]
    public static partial void DegradationRollback(ILogger logger, string model, string version, string restored, string evidence);

    [LoggerMessage(17, LogLevel.Warning, "{Model}@{Version} degraded persistently: retraining requested through {Webhook} ({Evidence})")]
    public static partial void DegradationRetrain(ILogger logger, string model, string version, string webhook, string evidence);

    [LoggerMessage(18, LogLevel.Warning, "{Model}@{Version} degraded persistently, but no earlier production version is registered to roll back to ({Evidence})")]
    public static partial void NothingToRestore(ILogger logger, string model, string version, string evidence);
}
