using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;

namespace FeatureStore.Monitor.Tests;

/// <summary>An HTTP listener on a local port that records every POST it receives (body and headers).</summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public WebhookReceiver(int port)
    {
        Url = $"http://127.0.0.1:{port}/alerts/";
        _listener.Prefixes.Add(Url);
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public string Url { get; }

    public ConcurrentQueue<Received> Requests { get; } = new();

    public IReadOnlyList<JsonElement> Alerts => [.. Requests.Select(r => JsonDocument.Parse(r.Body).RootElement)];

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var reader = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(reader);
            Requests.Enqueue(new Received(
                reader.ToArray(),
                context.Request.Headers["X-FeatureStore-Signature"],
                context.Request.Headers["Idempotency-Key"],
                context.Request.Headers["X-FeatureStore-Event"]));
            context.Response.StatusCode = 200;
            context.Response.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();

        // Close alone: after Stop, Close looks the endpoint up again and binds the port anew, which fails when another
        // test has taken the free port meanwhile.
        _listener.Close();
        await _loop;
        _stop.Dispose();
    }

    internal sealed record Received(byte[] Body, string? Signature, string? IdempotencyKey, string? Event)
    {
        public string Text => Encoding.UTF8.GetString(Body);
    }
}
