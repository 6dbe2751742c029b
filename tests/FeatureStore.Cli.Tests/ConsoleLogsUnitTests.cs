using System.Text.Json;
using FeatureStore.Cli.Commands;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace FeatureStore.Cli.Tests;

/// <summary><c>run</c>'s console logs: an exception is one line of causes, its trace only at Debug.</summary>
public sealed class ConsoleLogsUnitTests
{
    private static readonly Exception PortInUse = Thrown();

    [Fact]
    public void An_exception_is_written_as_its_causes_on_the_entrys_line()
    {
        var text = Format("simple", LogLevel.Information);
        Assert.Single(text.TrimEnd().Split('\n'));
        Assert.EndsWith("fail: Microsoft.Extensions.Hosting.Internal.Host[11] Hosting failed to start (IOException: Failed to bind to address http://127.0.0.1:6567: address already in use. ← SocketException: Address already in use)", text.TrimEnd(), StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", text, StringComparison.Ordinal);
        Assert.True(text.Length < 300, $"{text.Length} characters");
    }

    [Fact]
    public void In_json_the_exception_field_holds_the_causes()
    {
        var text = Format("json", LogLevel.Information);
        Assert.Single(text.TrimEnd().Split('\n'));
        var entry = JsonDocument.Parse(text).RootElement;
        Assert.Equal("IOException: Failed to bind to address http://127.0.0.1:6567: address already in use. ← SocketException: Address already in use", entry.GetProperty("Exception").GetString());
        Assert.Equal("Error", entry.GetProperty("LogLevel").GetString());
    }

    [Fact]
    public void At_debug_the_trace_is_written()
    {
        Assert.Contains(" at ", Format("simple", LogLevel.Debug), StringComparison.Ordinal);
        Assert.Contains(" at ", JsonDocument.Parse(Format("json", LogLevel.Debug)).RootElement.GetProperty("Exception").GetString(), StringComparison.Ordinal);
    }

    private static string Format(string format, LogLevel configured)
    {
        var options = new Monitor(new ConsoleLogs.OneLineOptions { Traces = configured <= LogLevel.Debug });
        ConsoleFormatter formatter = format == "json" ? new ConsoleLogs.JsonFormatter(options) : new ConsoleLogs.SimpleFormatter(options);
        using var writer = new StringWriter();
        formatter.Write(new LogEntry<string>(LogLevel.Error, "Microsoft.Extensions.Hosting.Internal.Host", new EventId(11), "Hosting failed to start", PortInUse, (s, _) => s), null, writer);
        return writer.ToString();
    }

    private static Exception Thrown()
    {
        try
        {
            throw new IOException("Failed to bind to address http://127.0.0.1:6567: address already in use.", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.AddressAlreadyInUse));
        }
        catch (IOException ex)
        {
            return ex;
        }
    }

    private sealed class Monitor(ConsoleLogs.OneLineOptions value) : IOptionsMonitor<ConsoleLogs.OneLineOptions>
    {
        public ConsoleLogs.OneLineOptions CurrentValue => value;

        public ConsoleLogs.OneLineOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<ConsoleLogs.OneLineOptions, string?> listener) => null;
    }
}
