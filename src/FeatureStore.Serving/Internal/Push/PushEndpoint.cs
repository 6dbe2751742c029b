using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using FeatureStore.Contracts.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace FeatureStore.Serving.Internal.Push;

/// <summary>
/// <c>POST /v1/push/{source}</c>: the HTTP face of <see cref="PushHandler"/>. The body is a JSON array of events
/// (<c>application/json</c>; a single object is one event) or JSON lines (<c>application/x-ndjson</c>,
/// <c>application/jsonl</c>), one event a line, blank lines skipped. Query: <c>wait=online</c> (answer once ingest
/// has applied them), <c>timeout=10s</c> (how long to wait, the server's default otherwise), <c>accept_valid=true</c>.
/// The answer is <see cref="PushEventsResponse"/> in protobuf's JSON mapping; a request refused for its rejected
/// events answers 400 with the same fields beside <c>code</c> and <c>message</c>.
/// </summary>
internal static class PushEndpoint
{
    /// <summary>Beyond the body limit, how much of a refused body is read and dropped so the client gets the 413.</summary>
    private const long DrainBytes = 64L << 20;

    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    public static async Task PushAsync(HttpContext http, string source, PushHandler handler)
    {
        try
        {
            var key = ApiKeyPolicy.FromHeaders(http.Request.Headers["x-api-key"], http.Request.Headers.Authorization);
            var settings = handler.Authorize(key);
            if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            {
                size.MaxRequestBodySize = settings.MaxBodyBytes + DrainBytes;
            }

            var lines = BodyKind(http.Request.ContentType);
            if (lines is null)
            {
                await WriteAsync(http, StatusCodes.Status415UnsupportedMediaType, "INVALID_ARGUMENT",
                    $"content type '{http.Request.ContentType}' is not accepted: send application/json (an array of events) or application/x-ndjson (one event a line)").ConfigureAwait(false);
                return;
            }

            var query = http.Request.Query;
            var wait = query["wait"].ToString() switch
            {
                "" or "none" => false,
                "online" => true,
                var other => ThrowHelper.ThrowInvalid<bool>($"wait must be 'online' or 'none', not '{ThrowHelper.Shown(other)}'"),
            };
            var acceptValid = query["accept_valid"].ToString() switch
            {
                "" or "false" => false,
                "true" => true,
                var other => ThrowHelper.ThrowInvalid<bool>($"accept_valid must be 'true' or 'false', not '{ThrowHelper.Shown(other)}'"),
            };
            var timeout = settings.DefaultWaitTimeout;
            if (query["timeout"].ToString() is { Length: > 0 } text)
            {
                if (!Core.Definitions.Duration.TryParse(text, out var ms, out var hint) || ms <= 0 || ms > TimeSpan.FromHours(1).TotalMilliseconds)
                {
                    ThrowHelper.ThrowInvalid($"timeout '{ThrowHelper.Shown(text)}' is not a duration from 1ms to 1h (e.g. 500ms, 10s){(hint is null ? "" : $": {hint}")}");
                }

                timeout = TimeSpan.FromMilliseconds(ms);
            }

            var body = await ReadBodyAsync(http, settings.MaxBodyBytes).ConfigureAwait(false);
            var (events, lineOf) = lines.Value ? SplitLines(body) : SplitArray(body);
            var call = new PushCall(source, events, wait, acceptValid, DateTime.UtcNow + timeout);
            var outcome = await handler.RunAsync(call, key, http.RequestAborted).ConfigureAwait(false);
            if (lineOf is not null)
            {
                foreach (var rejected in outcome.Response.Rejected)
                {
                    var line = $"line {lineOf[rejected.Index].ToString(CultureInfo.InvariantCulture)}";
                    rejected.Detail = rejected.Detail.Length == 0 ? line : $"{line}: {rejected.Detail}";
                }
            }

            var answer = JsonNode.Parse(Formatter.Format(outcome.Response))!.AsObject();
            if (outcome.Refused)
            {
                answer.Insert(0, "code", "INVALID_ARGUMENT");
                answer.Insert(1, "message", outcome.RefusalMessage());
                http.Response.StatusCode = StatusCodes.Status400BadRequest;
            }

            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(answer.ToJsonString(), http.RequestAborted).ConfigureAwait(false);
        }
        catch (LookupException ex)
        {
            await HttpEndpoints.WriteErrorAsync(http, ex).ConfigureAwait(false);
        }
    }

    /// <summary>True for JSON lines, false for a JSON array, null for a content type not accepted.</summary>
    internal static bool? BodyKind(string? contentType)
    {
        var media = (contentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        return media switch
        {
            "application/json" => false,
            "application/x-ndjson" or "application/ndjson" or "application/jsonl" or "application/x-jsonlines" or "application/jsonlines" => true,
            _ => null,
        };
    }

    /// <summary>The events of a JSON array (or the one event of a JSON object), each its own bytes of the body.</summary>
    internal static (ReadOnlyMemory<byte>[] Events, int[]? LineOf) SplitArray(ReadOnlyMemory<byte> body)
    {
        var events = new List<ReadOnlyMemory<byte>>();
        // Multiple values allowed so that content after the array is reported as such, not as a syntax error.
        var reader = new Utf8JsonReader(body.Span, new JsonReaderOptions { MaxDepth = 64, AllowMultipleValues = true });
        try
        {
            if (body.Span.Trim(" \t\r\n"u8).IsEmpty || !reader.Read())
            {
                ThrowHelper.ThrowInvalid("empty body: send a JSON array of events");
            }

            if (reader.TokenType == JsonTokenType.StartObject)
            {
                reader.Skip();
                events.Add(body[..(int)reader.BytesConsumed]);
            }
            else if (reader.TokenType == JsonTokenType.StartArray)
            {
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    var start = (int)reader.TokenStartIndex;
                    reader.Skip();
                    events.Add(body[start..(int)reader.BytesConsumed]);
                }
            }
            else
            {
                ThrowHelper.ThrowInvalid("the body must be a JSON array of event objects (or JSON lines with Content-Type application/x-ndjson)");
            }

            if (reader.Read())
            {
                ThrowHelper.ThrowInvalid($"malformed JSON body: more after the end of the array, at byte {reader.TokenStartIndex.ToString(CultureInfo.InvariantCulture)}");
            }
        }
        catch (JsonException ex)
        {
            ThrowHelper.ThrowInvalid($"malformed JSON body at line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}: {FirstSentence(ex.Message)}");
        }

        return ([.. events], null);
    }

    /// <summary>The events of JSON lines, one a line (blank lines skipped), and the line (1-based) each came from.</summary>
    internal static (ReadOnlyMemory<byte>[] Events, int[]? LineOf) SplitLines(ReadOnlyMemory<byte> body)
    {
        var events = new List<ReadOnlyMemory<byte>>();
        var lines = new List<int>();
        var line = 0;
        var rest = body;
        while (rest.Length > 0)
        {
            line++;
            var end = rest.Span.IndexOf((byte)'\n');
            var text = end < 0 ? rest : rest[..end];
            rest = end < 0 ? ReadOnlyMemory<byte>.Empty : rest[(end + 1)..];
            if (text.Span.Trim(" \t\r"u8).Length == 0)
            {
                continue;
            }

            events.Add(text.Span[^1] == (byte)'\r' ? text[..^1] : text);
            lines.Add(line);
        }

        return ([.. events], [.. lines]);
    }

    private static string FirstSentence(string message) => message.Split(" Path:", 2)[0].Split(" LineNumber:", 2)[0];

    /// <summary>The body, refused (413) past <paramref name="limit"/> bytes whether announced by Content-Length or counted as it arrives.</summary>
    private static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpContext http, int limit)
    {
        if (http.Request.ContentLength > limit)
        {
            throw TooLarge(limit);
        }

        var body = new ArrayBufferWriter<byte>((int)Math.Min(http.Request.ContentLength ?? 64 << 10, limit) + 1);
        try
        {
            while (true)
            {
                var memory = body.GetMemory(64 << 10);
                var read = await http.Request.Body.ReadAsync(memory, http.RequestAborted).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                if (body.WrittenCount + read > limit)
                {
                    throw TooLarge(limit);
                }

                body.Advance(read);
            }
        }
        catch (BadHttpRequestException ex)
        {
            ThrowHelper.ThrowInvalid($"malformed request body: {ex.Message}");
        }

        return body.WrittenMemory;
    }

    private static LookupException TooLarge(int limit) =>
        new(StatusCode.ResourceExhausted, $"request body over {limit} bytes ({limit >> 20} MiB): split the events over several requests");

    private static Task WriteAsync(HttpContext http, int status, string code, string message)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, string> { ["code"] = code, ["message"] = message }), http.RequestAborted);
    }
}
