using System.Globalization;
using System.Text;
using System.Text.Json;
using FeatureStore.Host.Supervision;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace FeatureStore.Cli.Commands;

/// <summary>
/// <c>run</c>'s console logs, one line per entry in both formats. An exception is written as its cause (type
/// and message, then each inner cause's, joined by ←), its stack trace only at the Debug level or below: a
/// job in a restart loop (a port in use, the broker or the store down) logs the same failure every backoff,
/// and ASP.NET's own "Hosting failed to start" entry carries a trace of ~3 KB each time.
/// </summary>
internal static class ConsoleLogs
{
    public const string SimpleName = "featurestore-simple";

    public const string JsonName = "featurestore-json";

    /// <summary>Adds the console logger with the <paramref name="format"/> (simple or json) formatter, at <paramref name="level"/>.</summary>
    public static void Add(ILoggingBuilder builder, string format, LogLevel level)
    {
        builder.AddConsole(o => o.FormatterName = format == "json" ? JsonName : SimpleName)
            .AddConsoleFormatter<SimpleFormatter, OneLineOptions>(o => o.Traces = level <= LogLevel.Debug)
            .AddConsoleFormatter<JsonFormatter, OneLineOptions>(o => o.Traces = level <= LogLevel.Debug)
            .SetMinimumLevel(level);
    }

    /// <summary>The exception as it is written: its cause on one line, or its whole text with traces.</summary>
    internal static string Exception(Exception exception, bool traces) => traces ? exception.ToString() : JobSupervisor.Cause(exception);

    /// <summary>Options of both formatters.</summary>
    internal sealed class OneLineOptions : ConsoleFormatterOptions
    {
        /// <summary>Write exceptions whole, with their stack traces (the level is Debug or below).</summary>
        public bool Traces { get; set; }
    }

    /// <summary><c>HH:mm:ss fail: Category[11] message (cause)</c>.</summary>
    internal sealed class SimpleFormatter(IOptionsMonitor<OneLineOptions> options) : ConsoleFormatter(SimpleName)
    {
        public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
        {
            var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
            if (message is null && logEntry.Exception is null)
            {
                return;
            }

            var line = new StringBuilder();
            line.Append(DateTime.Now.ToString("HH:mm:ss ", CultureInfo.InvariantCulture))
                .Append(Level(logEntry.LogLevel)).Append(": ")
                .Append(logEntry.Category).Append('[').Append(logEntry.EventId.Id.ToString(CultureInfo.InvariantCulture)).Append("] ")
                .Append(OneLine(message));
            if (logEntry.Exception is { } exception)
            {
                var text = Exception(exception, options.CurrentValue.Traces);
                line.Append(options.CurrentValue.Traces ? Environment.NewLine + text : $" ({text})");
            }

            textWriter.WriteLine(line.ToString());
        }

        private static string Level(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            LogLevel.Critical => "crit",
            _ => "none",
        };

        private static string OneLine(string? text) => text is null ? "" : text.ReplaceLineEndings(" ");
    }

    /// <summary>One JSON object per line: Timestamp, EventId, LogLevel, Category, Message, Exception (its cause), State.</summary>
    internal sealed class JsonFormatter(IOptionsMonitor<OneLineOptions> options) : ConsoleFormatter(JsonName)
    {
        public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
        {
            var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
            if (message is null && logEntry.Exception is null)
            {
                return;
            }

            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteString("Timestamp", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
                writer.WriteNumber("EventId", logEntry.EventId.Id);
                writer.WriteString("LogLevel", logEntry.LogLevel.ToString());
                writer.WriteString("Category", logEntry.Category);
                writer.WriteString("Message", message);
                if (logEntry.Exception is { } exception)
                {
                    writer.WriteString("Exception", Exception(exception, options.CurrentValue.Traces));
                }

                if (logEntry.State is IReadOnlyList<KeyValuePair<string, object?>> state)
                {
                    writer.WriteStartObject("State");
                    foreach (var (key, value) in state)
                    {
                        writer.WriteString(key, Convert.ToString(value, CultureInfo.InvariantCulture));
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndObject();
            }

            textWriter.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
        }
    }
}
