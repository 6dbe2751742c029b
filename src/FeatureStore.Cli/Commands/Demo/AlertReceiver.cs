using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Cli.Commands.Demo;

/// <summary>An alert the receiver accepted: its signature matched. <see cref="Segment"/> is null for the whole model.</summary>
internal sealed record ReceivedAlert(string Id, string Event, string Model, string Version, string Column, string Method, double Value, double Threshold, string? Segment, DateTimeOffset At, string? View = null);

/// <summary>
/// The demo's webhook: a small Kestrel endpoint on a free local port that does what a real receiver
/// should: recompute the HMAC-SHA256 of the body with the shared secret, compare it in constant time with
/// <c>X-FeatureStore-Signature</c> (401 when it differs), and drop a repeated <c>Idempotency-Key</c>.
/// </summary>
internal sealed class AlertReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly byte[] _secret;
    private readonly ConcurrentDictionary<string, ReceivedAlert> _seen = new(StringComparer.Ordinal);
    private int _refused;

    private AlertReceiver(WebApplication app, byte[] secret)
    {
        _app = app;
        _secret = secret;
    }

    /// <summary>Where alerts are to be POSTed.</summary>
    public Uri Url { get; private set; } = new("http://127.0.0.1/");

    /// <summary>Alerts received with a valid signature, each once.</summary>
    public ConcurrentQueue<ReceivedAlert> Alerts { get; } = new();

    /// <summary>Requests refused because the signature was missing or wrong.</summary>
    public int Refused => _refused;

    public static async Task<AlertReceiver> StartAsync(string secret, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new AlertReceiver(app, Encoding.UTF8.GetBytes(secret));
        app.MapPost("/alerts", receiver.ReceiveAsync);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = new Uri(new Uri(address), "alerts");
        return receiver;
    }

    private async Task ReceiveAsync(HttpContext http)
    {
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body, http.RequestAborted);
        var bytes = body.ToArray();
        var header = http.Request.Headers["X-FeatureStore-Signature"].ToString();
        var expected = Encoding.ASCII.GetBytes("sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(_secret, bytes)));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(header)))
        {
            Interlocked.Increment(ref _refused);
            http.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        using var document = JsonDocument.Parse(bytes);
        var root = document.RootElement;
        var id = http.Request.Headers["Idempotency-Key"].ToString();
        var alert = new ReceivedAlert(
            id,
            http.Request.Headers["X-FeatureStore-Event"].ToString(),
            root.GetProperty("model").GetString()!,
            root.GetProperty("version").GetString()!,
            root.GetProperty("column").GetString()!,
            root.GetProperty("method").GetString()!,
            root.GetProperty("value").GetDouble(),
            root.GetProperty("threshold").GetDouble(),
            root.TryGetProperty("segment", out var segment) ? segment.GetString() : null,
            DateTimeOffset.UtcNow,
            root.TryGetProperty("view", out var view) ? view.GetString() : null);
        if (_seen.TryAdd(id, alert))
        {
            Alerts.Enqueue(alert);
        }

        http.Response.StatusCode = StatusCodes.Status200OK;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
