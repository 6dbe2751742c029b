using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Testing;

/// <summary>
/// The part of Confluent Schema Registry's REST API that its clients use to write and read events, served by Kestrel
/// on a free 127.0.0.1 port: <c>POST /subjects/{subject}/versions</c> registers a schema (the same text under any
/// subject gets the same id, as the registry does) and <c>GET /schemas/ids/{id}</c> answers it, or 404 with error code
/// 40403. No registry server installs on this machine; the real Confluent client and serializers talk to this one.
/// Requests per id are counted, and the endpoint can be stopped and started again on its port.
/// </summary>
public sealed class SchemaRegistryEndpoint : IAsyncDisposable
{
    private readonly ConcurrentDictionary<int, (string Schema, string Type)> _byId = new();
    private readonly ConcurrentDictionary<string, int> _idByText = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, int> _fetches = new();
    private readonly Lock _gate = new();
    private WebApplication? _app;
    private int _nextId = 100;

    private SchemaRegistryEndpoint(int port) => Port = port;

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    /// <summary>Its base URL.</summary>
    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Starts an endpoint on a free port.</summary>
    public static async Task<SchemaRegistryEndpoint> StartAsync(CancellationToken cancellationToken)
    {
        var endpoint = new SchemaRegistryEndpoint(FreePort.Next());
        await endpoint.StartAgainAsync(cancellationToken);
        return endpoint;
    }

    /// <summary>Registers <paramref name="schema"/> as a client would; its id.</summary>
    public int Register(string schema, string type = "AVRO")
    {
        lock (_gate)
        {
            var key = type + "\n" + schema;
            if (!_idByText.TryGetValue(key, out var id))
            {
                id = ++_nextId;
                _idByText[key] = id;
                _byId[id] = (schema, type);
            }

            return id;
        }
    }

    /// <summary>How many times <c>GET /schemas/ids/{id}</c> was asked for <paramref name="id"/>.</summary>
    public int FetchesOf(int id) => _fetches.GetValueOrDefault(id);

    /// <summary>Every id asked for, with its count.</summary>
    public IReadOnlyDictionary<int, int> Fetches => _fetches;

    /// <summary>Stops listening: clients are refused a connection until <see cref="StartAgainAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>Listens again on the same port, with the same schemas.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, Port));
        var app = builder.Build();
        app.MapGet("/schemas/ids/{id:int}", (int id) =>
        {
            _fetches.AddOrUpdate(id, 1, (_, n) => n + 1);
            if (!_byId.TryGetValue(id, out var found))
            {
                return Results.Json(new JsonObject { ["error_code"] = 40403, ["message"] = $"Schema {id} not found" }, statusCode: 404);
            }

            var answer = new JsonObject { ["schema"] = found.Schema };
            if (found.Type != "AVRO")
            {
                answer["schemaType"] = found.Type; // the registry leaves it out for Avro
            }

            return Results.Json(answer);
        });
        app.MapPost("/subjects/{subject}/versions", async (string subject, HttpRequest request) =>
        {
            var body = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            var schema = body?["schema"]?.GetValue<string>();
            if (schema is null)
            {
                return Results.Json(new JsonObject { ["error_code"] = 42201, ["message"] = "Invalid schema" }, statusCode: 422);
            }

            return Results.Json(new JsonObject { ["id"] = Register(schema, body?["schemaType"]?.GetValue<string>() ?? "AVRO") });
        });
        app.MapFallback((HttpContext context) =>
            Results.Json(new JsonObject { ["error_code"] = 40400, ["message"] = $"not served here: {context.Request.Method} {context.Request.Path}" }, statusCode: 404));
        await app.StartAsync(cancellationToken);
        _app = app;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => new(StopAsync());
}
