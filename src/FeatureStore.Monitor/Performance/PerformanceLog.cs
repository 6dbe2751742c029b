using Microsoft.Extensions.Logging;

namespace FeatureStore.Monitor.Performance;

/// <summary>Every log message of the performance job.</summary>
internal static partial class PerformanceLog
{
    [LoggerMessage(101, LogLevel.Information, "joining labels of {Models}: topics {Topics}")]
    public static partial void Started(ILogger logger, string models, string topics);

    [LoggerMessage(102, LogLevel.Information, "{Model}@{Version} [{Segment}] window {Start}: {Predictions} predictions, {Labelled} labelled, {Verdict} (closed by {ClosedBy})")]
    public static partial void Evaluated(ILogger logger, string model, string version, string segment, long start, long predictions, long labelled, string verdict, string closedBy);

    [LoggerMessage(103, LogLevel.Warning, "model {Model} declares labels but its prediction has no id_field: its performance monitors are skipped")]
    public static partial void NoIdField(ILogger logger, string model);
}
