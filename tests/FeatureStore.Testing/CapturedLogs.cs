using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Testing;

/// <summary>Every log record of every category and level, formatted with its exception and state, kept for assertions.</summary>
public sealed class CapturedLogs : ILoggerProvider, ILogger
{
    private readonly ConcurrentQueue<string> _records = new();

    public IReadOnlyCollection<string> Records => _records;

    public string Text => string.Join('\n', _records);

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull
    {
        _records.Enqueue("scope: " + state);
        return null;
    }

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(", ", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
        _records.Enqueue($"{logLevel} {eventId}: {formatter(state, exception)} [{values}] {exception}");
    }

    public void Dispose()
    {
    }
}
