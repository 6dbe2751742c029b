using FeatureStore.Contracts.V1;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// The HTTP/JSON mirror of the lookup: <c>POST /v1/features/online</c> takes and returns the gRPC
/// messages in protobuf's JSON mapping; errors come back as <c>{"code": "INVALID_ARGUMENT", "message": …}</c>
/// with the matching HTTP status.
/// </summary>
internal static class HttpEndpoints
{
    private const int MaxBodyBytes = 4 << 20;
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(false));

    public static void MapLookup(IEndpointRouteBuilder endpoints) =>
        endpoints.MapPost("/v1/features/online", async (HttpContext http, OnlineLookup lookup) =>
        {
            GetOnlineFeaturesRequest request;
            try
            {
                if (http.Request.ContentLength > MaxBodyBytes)
                {
                    throw new LookupException(Grpc.Core.StatusCode.ResourceExhausted, $"request body over {MaxBodyBytes} bytes");
                }

                using var reader = new StreamReader(http.Request.Body);
                request = Parser.Parse<GetOnlineFeaturesRequest>(await reader.ReadToEndAsync(http.RequestAborted).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException)
            {
                await WriteErrorAsync(http, ThrowHelper.Invalid($"malformed request: {ex.Message}")).ConfigureAwait(false);
                return;
            }
            catch (LookupException ex)
            {
                await WriteErrorAsync(http, ex).ConfigureAwait(false);
                return;
            }

            try
            {
                var key = ApiKeyPolicy.FromHeaders(http.Request.Headers["x-api-key"], http.Request.Headers.Authorization);
                var answer = await lookup.RunAsync(LookupRequest.From(request), key, "http", http.RequestAborted).ConfigureAwait(false);
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
        });

    internal static Task WriteErrorAsync(HttpContext http, LookupException error)
    {
        http.Response.StatusCode = error.HttpStatus;
        http.Response.ContentType = "application/json";
        var body = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["code"] = StatusNames.Of(error.Status),
            ["message"] = error.Message,
        });
        return http.Response.WriteAsync(body, http.RequestAborted);
    }
}
