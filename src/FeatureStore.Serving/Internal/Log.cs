using Microsoft.Extensions.Logging;

namespace FeatureStore.Serving.Internal;

/// <summary>Every log message of the serving host.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "serving project {Project}, registry version {Version}: {Views} feature views")]
    public static partial void RepositoryLoaded(this ILogger logger, string project, long version, int views);

    [LoggerMessage(2, LogLevel.Warning, "could not refresh the registry of {Project}; serving the version loaded before")]
    public static partial void RegistryRefreshFailed(this ILogger logger, string project, Exception exception);

    [LoggerMessage(3, LogLevel.Warning, "lookup failed: {Status} {Message}")]
    public static partial void LookupFailed(this ILogger logger, string status, string message);

    [LoggerMessage(5, LogLevel.Error, "a streamed lookup failed on the server")]
    public static partial void StreamedLookupCrashed(this ILogger logger, Exception exception);

    [LoggerMessage(4, LogLevel.Information, "listening: gRPC on {GrpcAddress}, HTTP on {HttpAddress}")]
    public static partial void Listening(this ILogger logger, Uri grpcAddress, Uri httpAddress);

    [LoggerMessage(6, LogLevel.Warning, "could not add the served-value counts to the online store ({Message}); kept for the next round")]
    public static partial void QualityFlushFailed(this ILogger logger, string message);

    [LoggerMessage(20, LogLevel.Information, "export {Id} finished: {Rows} rows × {Features} features in {Seconds:0.0} s")]
    public static partial void ExportFinished(this ILogger logger, string id, int rows, int features, double seconds);

    [LoggerMessage(21, LogLevel.Warning, "export {Id} failed: {Message}")]
    public static partial void ExportFailed(this ILogger logger, string id, string message);
}
