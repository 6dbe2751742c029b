using System.Buffers;
using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;
using FeatureStore.Contracts.V1;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// The HTTP/JSON mirror of the lookup and the registry: <c>POST /v1/features/online</c> takes and returns
/// the gRPC messages in protobuf's JSON mapping, <c>GET /v1/registry</c> answers as
/// <c>Registry/ListDefinitions</c>; errors come back as <c>{"code": "INVALID_ARGUMENT", "message": …}</c>
/// with the matching HTTP status.
/// </summary>
internal static class HttpEndpoints
{
    /// <summary>The largest lookup body, however it is sent (with a Content-Length or chunked).</summary>
    public const int MaxBodyBytes = 4 << 20;

    /// <summary>
    /// The most of an oversized body the server reads and drops after refusing it, so that the client, which
    /// sends its whole body before it reads the answer, gets the 413; past it the connection is closed.
    /// </summary>
    private const long DrainBytes = 64L << 20;

    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(false));

    // Error messages quote names with apostrophes; the default encoder would send them as \u0027. The body is
    // JSON served as application/json, never inlined into HTML, so the relaxed encoder is safe here.
    private static readonly JsonSerializerOptions ErrorJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/v1/features/online", LookupAsync);
        endpoints.MapGet("/v1/registry", RegistryAsync);
        endpoints.MapPost("/v1/push/{source}", Push.PushEndpoint.PushAsync);
    }

    private static async Task LookupAsync(HttpContext http, OnlineLookup lookup)
    {
        var start = Stopwatch.GetTimestamp();
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            // The lookup reads at most MaxBodyBytes itself; this is the server's own limit, up to which the rest of
            // a refused body is read and dropped after the answer (instead of the connection closing under the client).
            size.MaxRequestBodySize = DrainBytes;
        }

        LookupRequest request;
        try
        {
            request = LookupRequest.From(Parser.Parse<GetOnlineFeaturesRequest>(await ReadBodyAsync(http).ConfigureAwait(false)));
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or LookupException)
        {
            // Refused before the lookup runs, and counted all the same: every lookup asked for shows in the metrics.
            var refusal = ex as LookupException ?? LookupException.Invalid($"malformed request: {ex.Message}");
            lookup.Refused(refusal, "http", start);
            await WriteErrorAsync(http, refusal).ConfigureAwait(false);
            return;
        }

        try
        {
            var key = ApiKeyPolicy.FromHeaders(http.Request.Headers["x-api-key"], http.Request.Headers.Authorization);
            var answer = await lookup.RunAsync(request, key, "http", http.RequestAborted, start).ConfigureAwait(false);
            GetOnlineFeaturesResponse response;
            try
            {
                response = answer.ToResponse();
            }
            finally
            {
                answer.Release();
            }

            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(JsonFormatter.Default.Format(response), http.RequestAborted).ConfigureAwait(false);
        }
        catch (LookupException ex)
        {
            await WriteErrorAsync(http, ex).ConfigureAwait(false);
        }
    }

    private static async Task RegistryAsync(HttpContext http, ViewBuilds builds, ApiKeyPolicy keys)
    {
        http.Response.Headers.CacheControl = "no-store";
        try
        {
            keys.Authenticate(ApiKeyPolicy.FromHeaders(http.Request.Headers["x-api-key"], http.Request.Headers.Authorization));
            var definitions = await builds.DefinitionsAsync(http.RequestAborted).ConfigureAwait(false);
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(JsonFormatter.Default.Format(definitions), http.RequestAborted).ConfigureAwait(false);
        }
        catch (LookupException ex)
        {
            await WriteErrorAsync(http, ex).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The request body as text, refused past <see cref="MaxBodyBytes"/>. Content-Length announces an
    /// oversized body at once; a chunked body announces nothing, so it is counted as it arrives and refused
    /// as soon as it passes the cap, without parsing any of it.
    /// </summary>
    private static async Task<string> ReadBodyAsync(HttpContext http)
    {
        if (http.Request.ContentLength > MaxBodyBytes)
        {
            throw TooLarge();
        }

        using var body = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(64 << 10);
        try
        {
            int read;
            while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted).ConfigureAwait(false)) > 0)
            {
                if (body.Length + read > MaxBodyBytes)
                {
                    throw TooLarge();
                }

                body.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException ex)
        {
            // A broken chunked encoding, a body cut off: the client's fault, said as such.
            ThrowHelper.ThrowInvalid($"malformed request body: {ex.Message}");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        body.Position = 0;
        using var reader = new StreamReader(body);
        return await reader.ReadToEndAsync(http.RequestAborted).ConfigureAwait(false);
    }

    private static LookupException TooLarge() =>
        new LookupException(Grpc.Core.StatusCode.ResourceExhausted, $"request body over {MaxBodyBytes} bytes ({MaxBodyBytes >> 20} MiB): split the lookup");

    internal static Task WriteErrorAsync(HttpContext http, LookupException error)
    {
        http.Response.StatusCode = error.HttpStatus;
        http.Response.ContentType = "application/json";
        var body = JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["code"] = StatusNames.Of(error.Status),
            ["message"] = error.Message,
        }, ErrorJson);
        return http.Response.WriteAsync(body, http.RequestAborted);
    }
}
