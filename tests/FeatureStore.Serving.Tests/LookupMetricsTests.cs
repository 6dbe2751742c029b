using System.Globalization;
using System.Text.RegularExpressions;
using FeatureStore.Contracts.V1;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Google.Protobuf;
using Grpc.Core;

namespace FeatureStore.Serving.Tests;

/// <summary>Serving metrics are process-wide: the tests that count them exactly run alone.</summary>
[CollectionDefinition(nameof(MetricsCollection), DisableParallelization = true)]
public sealed class MetricsCollection;

/// <summary>Every lookup is counted with its outcome, including those refused before they could run.</summary>
[Trait("Category", "Integration")]
[Collection(nameof(MetricsCollection))]
public sealed class LookupMetricsTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Lookups_refused_while_parsing_are_counted_with_their_outcome_like_the_others()
    {
        var scenario = new PaymentsScenario("unused-topic");
        await using var server = await RunningServer.InProcessAsync(
            new FeatureServerOptions { Repository = scenario.Repository, KeyPrefix = "c" + Guid.NewGuid().ToString("N")[..8] }, redis.Connection.Multiplexer);
        using var http = server.Http();
        var before = await CountsAsync(http);
        var uri = new Uri("/v1/features/online", UriKind.Relative);
        const string Valid = """{"features": ["user_stats:n_1h"], "entities": [{"join_keys": {"user_id": "u1"}}]}""";
        var bodies = new[]
        {
            Valid,                                                                                  // OK
            """{"features": ["user_stats:nope"], "entities": [{"join_keys": {"user_id": "u1"}}]}""", // INVALID_ARGUMENT, in the lookup
            """{"features": ["user_stats:n_1h"], "entities": [""",                                   // INVALID_ARGUMENT: not JSON
            """{"features": ["user_stats:n_1h"], "entitiez": []}""",                                 // INVALID_ARGUMENT: unknown field
            """{"features": ["user_stats:n_1h"], "entities": [{"join_keys": {"user_id": "u1"}}], "as_of": "10000-01-01T00:00:00Z"}""", // INVALID_ARGUMENT: as_of
            Valid + new string(' ', 4 << 20),                                                   // RESOURCE_EXHAUSTED: body over the cap
        };
        foreach (var body in bodies)
        {
            using var response = await http.PostAsync(uri, new StringContent(body, System.Text.Encoding.UTF8, "application/json"), Ct);
        }

        // A unary gRPC lookup whose message is not valid protobuf, and a lookup stream whose second message is not.
        using var channel = server.Channel();
        var invoker = channel.CreateCallInvoker();
        var raw = Marshallers.Create(static (byte[] b) => b, static b => b);
        var unary = new Method<byte[], byte[]>(MethodType.Unary, "featurestore.v1.OnlineFeatures", "GetOnlineFeatures", raw, raw);
        var malformed = await Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(unary, null, new CallOptions(cancellationToken: Ct), [0x0A, 0x7F, 0x01]));
        Assert.Equal(StatusCode.InvalidArgument, malformed.StatusCode);
        var streamed = new Method<byte[], byte[]>(MethodType.DuplexStreaming, "featurestore.v1.OnlineFeatures", "StreamOnlineFeatures", raw, raw);
        using (var call = invoker.AsyncDuplexStreamingCall(streamed, null, new CallOptions(cancellationToken: Ct)))
        {
            var batch = new LookupBatch { Lookups = { new GetOnlineFeaturesRequest { Features = { "user_stats" }, Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } } } };
            await call.RequestStream.WriteAsync(batch.ToByteArray(), Ct);
            await call.RequestStream.WriteAsync([0x0A, 0x7F, 0x01], Ct);
            Assert.True(await call.ResponseStream.MoveNext(Ct));
            var ended = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(Ct));
            Assert.Equal(StatusCode.InvalidArgument, ended.StatusCode);
        }

        var after = await CountsAsync(http);
        int Delta(string transport, string status) => (int)(after.GetValueOrDefault((transport, status)) - before.GetValueOrDefault((transport, status)));
        Assert.Equal(1, Delta("http", "OK"));
        Assert.Equal(4, Delta("http", "INVALID_ARGUMENT"));
        Assert.Equal(1, Delta("http", "RESOURCE_EXHAUSTED"));
        Assert.Equal(1, Delta("grpc", "INVALID_ARGUMENT"));
        Assert.Equal(1, Delta("grpc-stream", "OK"));
        Assert.Equal(1, Delta("grpc-stream", "INVALID_ARGUMENT"));
    }

    [Fact]
    public async Task Each_transports_lookup_series_exists_from_start()
    {
        var scenario = new PaymentsScenario("unused-topic");
        await using var server = await RunningServer.InProcessAsync(
            new FeatureServerOptions { Repository = scenario.Repository, KeyPrefix = "s" + Guid.NewGuid().ToString("N")[..8] }, redis.Connection.Multiplexer);
        using var http = server.Http();
        var counts = await CountsAsync(http);
        foreach (var transport in new[] { "grpc", "grpc-stream", "http" })
        {
            Assert.True(counts.ContainsKey((transport, "OK")), $"no featurestore_serving_lookups_total series for {transport}");
        }
    }

    [Fact]
    public async Task Only_the_stores_and_the_runtimes_meters_are_exported_not_one_series_per_http_request()
    {
        var scenario = new PaymentsScenario("unused-topic");
        await using var server = await RunningServer.InProcessAsync(
            new FeatureServerOptions { Repository = scenario.Repository, KeyPrefix = "m" + Guid.NewGuid().ToString("N")[..8] }, redis.Connection.Multiplexer);
        using var http = server.Http();
        using var channel = server.Channel();
        var client = new OnlineFeatures.OnlineFeaturesClient(channel);
        for (var i = 0; i < 3; i++)
        {
            await client.GetOnlineFeaturesAsync(new GetOnlineFeaturesRequest { Features = { "user_stats" }, Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } }, cancellationToken: Ct);
            using var response = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative),
                new StringContent("""{"features": ["user_stats"], "entities": [{"join_keys": {"user_id": "u1"}}]}""", System.Text.Encoding.UTF8, "application/json"), Ct);
            response.EnsureSuccessStatusCode();
        }

        var names = (await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct)).Split('\n')
            .Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split('{', ' ')[0]).Distinct().ToList();
        Assert.Contains("featurestore_serving_lookups_total", names);
        Assert.Contains(names, n => n.StartsWith("system_runtime_", StringComparison.Ordinal));
        // ASP.NET Core's, Kestrel's and HttpClient's meters record every request: a tenth of a lookup's CPU time.
        Assert.DoesNotContain(names, n => n.StartsWith("microsoft_aspnetcore_", StringComparison.Ordinal)
            || n.StartsWith("system_net_", StringComparison.Ordinal) || n.Contains("kestrel", StringComparison.Ordinal));
    }

    private static async Task<Dictionary<(string Transport, string Status), double>> CountsAsync(HttpClient http)
    {
        var text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
        return Regex.Matches(text, "^featurestore_serving_lookups_total\\{transport=\"([^\"]+)\",status=\"([^\"]+)\"\\} (\\S+)$", RegexOptions.Multiline)
            .ToDictionary(m => (m.Groups[1].Value, m.Groups[2].Value), m => double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture));
    }
}
