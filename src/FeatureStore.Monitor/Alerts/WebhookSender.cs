using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FeatureStore.Monitor.Internal;
using Polly;
using Polly.Retry;

namespace FeatureStore.Monitor.Alerts;

/// <summary>What became of one delivery attempt.</summary>
public enum DeliveryOutcome
{
    /// <summary>The webhook answered 2xx.</summary>
    Delivered,

    /// <summary>Unreachable, timed out, 5xx, 408 or 429: try again later.</summary>
    RetryLater,

    /// <summary>Any other 4xx, or a redirect (never followed): the webhook refuses this alert; retrying will not help.</summary>
    Rejected,
}

/// <summary>
/// POSTs an alert's JSON to its webhook with headers <c>X-FeatureStore-Signature: sha256=HEX</c>
/// (HMAC-SHA256 of the exact body bytes with the webhook's secret), <c>Idempotency-Key</c> (the alert id)
/// and <c>X-FeatureStore-Event</c> (drift or resolved). Each delivery makes up to three quick attempts
/// (exponential backoff from 200 ms); the outbox retries the rest later.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    /// <summary>The signature header.</summary>
    public const string SignatureHeader = "X-FeatureStore-Signature";

    /// <summary>The idempotency header.</summary>
    public const string IdempotencyHeader = "Idempotency-Key";

    /// <summary>The event header.</summary>
    public const string EventHeader = "X-FeatureStore-Event";

    private readonly HttpClient _http;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;

    /// <summary>A sender with its own client; <paramref name="timeout"/> bounds each attempt.</summary>
    public WebhookSender(TimeSpan? timeout = null, TimeSpan? firstRetryDelay = null)
    {
        // A webhook is its configured URL and nothing else: a redirect elsewhere is not followed (the
        // alert would be POSTed to an address nobody configured), it counts as a refusal.
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = timeout ?? TimeSpan.FromSeconds(10) };
        _pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = 2,
                BackoffType = DelayBackoffType.Exponential,
                Delay = firstRetryDelay ?? TimeSpan.FromMilliseconds(200),
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<TaskCanceledException>()
                    .HandleResult(r => IsTransient(r.StatusCode)),
            })
            .Build();
    }

    /// <summary>The signature header's value for <paramref name="body"/>.</summary>
    public static string Sign(ReadOnlySpan<byte> body, string secret) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    /// <summary>One delivery of <paramref name="alert"/> to <paramref name="url"/>.</summary>
    public async Task<DeliveryOutcome> SendAsync(DriftAlert alert, string url, string secret, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var body = JsonSerializer.SerializeToUtf8Bytes(alert, DriftJson.Options);
        var signature = Sign(body, secret);
        try
        {
            using var response = await _pipeline.ExecuteAsync(async token =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.Add(SignatureHeader, signature);
                request.Headers.Add(IdempotencyHeader, alert.Id);
                request.Headers.Add(EventHeader, EventName(alert.Status));
                return await _http.SendAsync(request, token).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? DeliveryOutcome.Delivered
                : IsTransient(response.StatusCode) ? DeliveryOutcome.RetryLater
                : DeliveryOutcome.Rejected;
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return DeliveryOutcome.RetryLater;
        }
    }

    /// <summary>The <see cref="EventHeader"/> value of a status: <c>drift</c>, <c>resolved</c>, <c>retrain</c>, <c>performance</c>, <c>rollback</c>, <c>freshness</c> or <c>quality</c>.</summary>
    public static string EventName(AlertStatus status) => status switch
    {
        AlertStatus.Drift => "drift",
        AlertStatus.Retrain => "retrain",
        AlertStatus.Performance => "performance",
        AlertStatus.Rollback => "rollback",
        AlertStatus.Freshness => "freshness",
        AlertStatus.Quality => "quality",
        _ => "resolved",
    };

    private static bool IsTransient(HttpStatusCode status) =>
        (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}
