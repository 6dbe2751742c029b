using Microsoft.Extensions.Logging;

namespace FeatureStore.Monitor.Quality;

/// <summary>Every log message of the freshness and quality evaluator.</summary>
internal static partial class QualityLog
{
    [LoggerMessage(201, LogLevel.Information, "evaluating freshness of {Views} views and quality of {Monitors} views and sources every {Interval}")]
    public static partial void Started(ILogger logger, int views, int monitors, TimeSpan interval);

    [LoggerMessage(202, LogLevel.Warning, "{Key}: {Metric} {Value} over {Threshold}: incident opened")]
    public static partial void Opened(ILogger logger, string key, string metric, double value, double threshold);

    [LoggerMessage(203, LogLevel.Information, "{Key}: {Metric} {Value} back within {Threshold}: incident resolved")]
    public static partial void Resolved(ILogger logger, string key, string metric, double value, double threshold);

    [LoggerMessage(204, LogLevel.Information, "another evaluator changed the quality incidents first; read again")]
    public static partial void Conflict(ILogger logger);
}
