using System.Diagnostics;
using System.Text.Json;
using FeatureStore.Contracts.V1;
using FeatureStore.Redis;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Serving.Tests;

/// <summary>Every refusal of a lookup: its gRPC status and message, and the HTTP mirror's status and body.</summary>
[Trait("Category", "Integration")]
public sealed class LookupErrorTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly PaymentsScenario Scenario = new("unused-topic");

    private static FeatureServerOptions Options(int maxEntities = 1000, IReadOnlyList<ApiKey>? keys = null) => new()
    {
        Repository = Scenario.Repository,
        KeyPrefix = "e" + Guid.NewGuid().ToString("N")[..8],
        MaxEntities = maxEntities,
        ApiKeys = keys ?? [],
    };

    private static GetOnlineFeaturesRequest Request(string[] features, int rows = 1, string model = "")
    {
        var request = new GetOnlineFeaturesRequest { Model = model };
        request.Features.AddRange(features);
        for (var i = 0; i < rows; i++)
        {
            request.Entities.Add(new EntityRow { JoinKeys = { ["user_id"] = $"u{i}", ["merchant_id"] = "m1" } });
        }

        return request;
    }

    private async Task<RpcException> RefusedAsync(GetOnlineFeaturesRequest request, FeatureServerOptions? options = null, string? apiKey = null)
    {
        await using var server = await RunningServer.InProcessAsync(options ?? Options(), redis.Connection.Multiplexer);
        using var client = server.Client(apiKey);
        return await Assert.ThrowsAsync<RpcException>(() => client.GetOnlineFeaturesAsync(request, Ct));
    }

    [Fact]
    public async Task Over_kestrel_malformed_and_refused_calls_keep_their_statuses_between_answered_ones_on_one_connection()
    {
        // Kestrel reuses a connection's streams (and their features) from call to call: the mark of a call that
        // reached its service must not carry over to a later call whose message does not decode.
        await using var server = await RunningServer.OnPortsAsync((grpc, http) => new FeatureServerOptions
        {
            Repository = Scenario.Repository, KeyPrefix = "k" + Guid.NewGuid().ToString("N")[..8], GrpcPort = grpc, HttpPort = http,
        }, redis.Connection.Multiplexer);
        using var channel = server.Channel();
        var invoker = channel.CreateCallInvoker();
        var raw = Marshallers.Create(static (byte[] b) => b, static b => b);
        var unary = new Method<byte[], byte[]>(MethodType.Unary, "featurestore.v1.OnlineFeatures", "GetOnlineFeatures", raw, raw);
        var describe = new Method<byte[], byte[]>(MethodType.Unary, "featurestore.v1.Registry", "DescribeEntity", raw, raw);
        var valid = Request(["user_stats"]).ToByteArray();
        var unknownView = Request(["nope:n_1h"]).ToByteArray();
        for (var round = 0; round < 10; round++)
        {
            var answer = GetOnlineFeaturesResponse.Parser.ParseFrom(await invoker.AsyncUnaryCall(unary, null, new CallOptions(cancellationToken: Ct), valid));
            Assert.Single(answer.Rows);
            var malformed = await Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(unary, null, new CallOptions(cancellationToken: Ct), [0x0A, 0x7F, 0x01]));
            Assert.Equal(StatusCode.InvalidArgument, malformed.StatusCode);
            var refused = await Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(unary, null, new CallOptions(cancellationToken: Ct), unknownView));
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
            Assert.Contains("unknown feature view 'nope'", refused.Status.Detail, StringComparison.Ordinal);
            var entity = EntityInfo.Parser.ParseFrom(await invoker.AsyncUnaryCall(describe, null, new CallOptions(cancellationToken: Ct), new DescribeRequest { Name = "user" }.ToByteArray()));
            Assert.Equal("user", entity.Name);
            var badDescribe = await Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(describe, null, new CallOptions(cancellationToken: Ct), [0x0A, 0x7F, 0x01]));
            Assert.Equal(StatusCode.InvalidArgument, badDescribe.StatusCode);
            var missing = await Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(describe, null, new CallOptions(cancellationToken: Ct), new DescribeRequest { Name = "nope" }.ToByteArray()));
            Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        }
    }

    [Fact]
    public async Task An_unknown_view_is_an_invalid_argument_naming_it()
    {
        var error = await RefusedAsync(Request(["user_stats:n_1h", "user_statz:n_1h"]));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("unknown feature view 'user_statz' in 'user_statz:n_1h' (views: ", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_feature_is_an_invalid_argument_naming_it_and_its_view()
    {
        var error = await RefusedAsync(Request(["user_stats:n_2h"]));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("unknown feature 'n_2h' in view 'user_stats' (features: n_1h, sum_1h, mean_2h, max_30m, last_country, n_all)", error.Status.Detail);
    }

    [Fact]
    public async Task An_unknown_model_and_an_empty_feature_list_are_invalid_arguments()
    {
        var model = await RefusedAsync(Request([], model: "fraud@v9"));
        Assert.Equal(StatusCode.InvalidArgument, model.StatusCode);
        Assert.Equal("unknown model 'fraud@v9' (models: fraud)", model.Status.Detail);

        var none = await RefusedAsync(Request([]));
        Assert.Equal(StatusCode.InvalidArgument, none.StatusCode);
        Assert.Equal("no features asked for: give feature references (view:feature or view) or a model", none.Status.Detail);
    }

    [Fact]
    public async Task A_missing_or_empty_join_key_is_an_invalid_argument_naming_the_row_and_key()
    {
        var request = Request(["user_stats:n_1h", "merchant_stats:n_1h"], rows: 3);
        request.Entities[2].JoinKeys.Remove("merchant_id");
        var missing = await RefusedAsync(request);
        Assert.Equal(StatusCode.InvalidArgument, missing.StatusCode);
        Assert.Equal("entity row 3 has no join key 'merchant_id' (entity 'merchant' of view 'merchant_stats')", missing.Status.Detail);

        request = Request(["user_stats:n_1h"], rows: 2);
        request.Entities[1].JoinKeys["user_id"] = "";
        var empty = await RefusedAsync(request);
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Equal("entity row 2 has no value for join key 'user_id' (entity 'user' of view 'user_stats')", empty.Status.Detail);
    }

    [Fact]
    public async Task More_rows_than_the_limit_is_resource_exhausted()
    {
        var options = Options(maxEntities: 10);
        await using var server = await RunningServer.InProcessAsync(options, redis.Connection.Multiplexer);
        using var client = server.Client();
        var ok = await client.GetOnlineFeaturesAsync(Request(["user_stats"], rows: 10), Ct);
        Assert.Equal(10, ok.RowCount);
        var error = await Assert.ThrowsAsync<RpcException>(() => client.GetOnlineFeaturesAsync(Request(["user_stats"], rows: 11), Ct));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal("11 entity rows asked for; this server answers at most 10 per lookup (split the request)", error.Status.Detail);
    }

    [Fact]
    public async Task Api_keys_refuse_missing_and_unknown_keys_and_views_a_key_may_not_read()
    {
        var options = Options(keys: [new ApiKey("all-views"), ApiKey.Parse("users-only:user_stats,user_spend")]);
        await using var server = await RunningServer.InProcessAsync(options, redis.Connection.Multiplexer);
        var request = Request(["user_stats:n_1h", "merchant_stats:n_1h"]);

        using (var anonymous = server.Client())
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => anonymous.GetOnlineFeaturesAsync(request, Ct));
            Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
            Assert.Equal("an API key is required: send it in the x-api-key header", error.Status.Detail);
            var registry = await Assert.ThrowsAsync<RpcException>(() => anonymous.ListDefinitionsAsync(Ct));
            Assert.Equal(StatusCode.Unauthenticated, registry.StatusCode);
        }

        using (var wrong = server.Client("all-views-"))
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => wrong.GetOnlineFeaturesAsync(request, Ct));
            Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
            Assert.Equal("the API key is not valid", error.Status.Detail);
        }

        using (var limited = server.Client("users-only"))
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => limited.GetOnlineFeaturesAsync(request, Ct));
            Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
            Assert.Equal("this API key may not read feature view 'merchant_stats'", error.Status.Detail);
            var allowed = await limited.GetOnlineFeaturesAsync(Request(["user_stats:n_1h", "user_spend"]), Ct);
            Assert.Equal(FeatureStatus.NotFound, allowed.Response.Rows[0].Values[0].Status);
        }

        using (var full = server.Client("all-views"))
        {
            var answer = await full.GetOnlineFeaturesAsync(request, Ct);
            Assert.Equal(2, answer.FeatureNames.Count);
        }

        using var http = server.Http();
        using var unauthenticated = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), Json(request), Ct);
        await AssertHttpErrorAsync(unauthenticated, 401, "UNAUTHENTICATED", "an API key is required: send it in the x-api-key header");
        using var bearer = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/features/online", UriKind.Relative)) { Content = Json(request) };
        bearer.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "users-only");
        using var denied = await http.SendAsync(bearer, Ct);
        await AssertHttpErrorAsync(denied, 403, "PERMISSION_DENIED", "this API key may not read feature view 'merchant_stats'");
    }

    [Fact]
    public async Task The_http_mirror_answers_errors_with_their_status_and_a_json_body()
    {
        await using var server = await RunningServer.InProcessAsync(Options(maxEntities: 2), redis.Connection.Multiplexer);
        using var http = server.Http();
        var uri = new Uri("/v1/features/online", UriKind.Relative);

        using (var unknown = await http.PostAsync(uri, Json(Request(["user_stats:nope"])), Ct))
        {
            await AssertHttpErrorAsync(unknown, 400, "INVALID_ARGUMENT", "unknown feature 'nope' in view 'user_stats' (features: n_1h, sum_1h, mean_2h, max_30m, last_country, n_all)");
        }

        using (var tooMany = await http.PostAsync(uri, Json(Request(["user_stats"], rows: 3)), Ct))
        {
            await AssertHttpErrorAsync(tooMany, 413, "RESOURCE_EXHAUSTED", "3 entity rows asked for; this server answers at most 2 per lookup (split the request)");
        }

        using var malformed = await http.PostAsync(uri, new StringContent("{\"features\": [\"user_stats\"", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(400, (int)malformed.StatusCode);
        using var body = JsonDocument.Parse(await malformed.Content.ReadAsStringAsync(Ct));
        Assert.Equal("INVALID_ARGUMENT", body.RootElement.GetProperty("code").GetString());
        Assert.StartsWith("malformed request: ", body.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_dead_online_store_gives_unavailable_at_once_and_lookups_resume_when_it_returns(bool streamed)
    {
        await using var store = await RedisServer.StartAsync(cancellationToken: Ct);
        await using var connection = await OnlineStoreConnection.ConnectAsync(store.Endpoint, null, o => FeatureServer.ConfigureStoreClient(o, TimeSpan.FromSeconds(1)));
        await using var server = await RunningServer.InProcessAsync(Options(), connection.Multiplexer);
        using var client = server.Client();
        await using var stream = client.OpenLookupStream();
        var request = Request(["user_stats", "merchant_stats"], rows: 5);
        Task<Client.OnlineFeatureSet> LookupAsync() => streamed ? stream.GetOnlineFeaturesAsync(request, Ct) : client.GetOnlineFeaturesAsync(request, Ct);
        Assert.Equal(5, (await LookupAsync()).RowCount);

        store.Kill();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var clock = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<RpcException>(LookupAsync);
            clock.Stop();
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            Assert.StartsWith("the online store ", error.Status.Detail, StringComparison.Ordinal);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1.5), $"UNAVAILABLE took {clock.Elapsed.TotalMilliseconds:0} ms");
        }

        using (var http = server.Http())
        {
            using var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct);
            Assert.Equal(503, (int)ready.StatusCode);
            using var live = await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);
            Assert.Equal(200, (int)live.StatusCode);
        }

        await store.RestartAsync(Ct);
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                return (await LookupAsync()).RowCount == 5;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(20), "lookups answered again after redis-server restarted", Ct);
    }

    [Fact]
    public async Task A_streamed_lookup_fails_alone_with_its_status_and_message_and_the_stream_goes_on()
    {
        var options = Options(maxEntities: 10, keys: [new ApiKey("all-views"), ApiKey.Parse("users-only:user_stats,user_spend")]);
        await using var server = await RunningServer.InProcessAsync(options, redis.Connection.Multiplexer);
        using var client = server.Client("users-only");
        await using var stream = client.OpenLookupStream();

        var unknown = await Assert.ThrowsAsync<RpcException>(() => stream.GetOnlineFeaturesAsync(Request(["user_stats:n_1h", "user_statz:n_1h"]), Ct));
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        Assert.StartsWith("unknown feature view 'user_statz' in 'user_statz:n_1h' (views: ", unknown.Status.Detail, StringComparison.Ordinal);

        var missing = Request(["user_stats:n_1h"], rows: 2);
        missing.Entities[1].JoinKeys.Remove("user_id");
        var noKey = await Assert.ThrowsAsync<RpcException>(() => stream.GetOnlineFeaturesAsync(missing, Ct));
        Assert.Equal(StatusCode.InvalidArgument, noKey.StatusCode);
        Assert.Equal("entity row 2 has no join key 'user_id' (entity 'user' of view 'user_stats')", noKey.Status.Detail);

        var tooMany = await Assert.ThrowsAsync<RpcException>(() => stream.GetOnlineFeaturesAsync(Request(["user_stats"], rows: 11), Ct));
        Assert.Equal(StatusCode.ResourceExhausted, tooMany.StatusCode);
        Assert.Equal("11 entity rows asked for; this server answers at most 10 per lookup (split the request)", tooMany.Status.Detail);

        var denied = await Assert.ThrowsAsync<RpcException>(() => stream.GetOnlineFeaturesAsync(Request(["user_stats:n_1h", "merchant_stats:n_1h"]), Ct));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Equal("this API key may not read feature view 'merchant_stats'", denied.Status.Detail);

        // Refused and answered lookups sent at once come back each to its own caller.
        var mixed = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            try
            {
                return (await stream.GetOnlineFeaturesAsync(Request(i % 2 == 0 ? ["user_stats"] : ["user_stats:nope"], rows: 1 + (i % 5)), Ct)).RowCount;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument)
            {
                return -1;
            }
        }));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i % 2 == 0 ? 1 + (i % 5) : -1), mixed);

        // The stream is the same one throughout: it went on after every refusal.
        var answered = await stream.GetOnlineFeaturesAsync(Request(["user_stats:n_1h", "user_spend"], rows: 3), Ct);
        Assert.Equal(3, answered.RowCount);
        Assert.Equal(FeatureStatus.NotFound, answered.Response.Rows[0].Values[0].Status);
    }

    [Fact]
    public async Task A_lookup_stream_without_a_valid_api_key_is_refused_when_it_opens()
    {
        var options = Options(keys: [new ApiKey("all-views")]);
        await using var server = await RunningServer.InProcessAsync(options, redis.Connection.Multiplexer);
        // Many times over: the refusal races the client's first write, and the status must win either way.
        var cases = new[] { ((string?)null, "an API key is required: send it in the x-api-key header"), ("all-views-", "the API key is not valid") };
        foreach (var (key, message) in Enumerable.Repeat(cases, 25).SelectMany(c => c))
        {
            using var client = server.Client(key);
            await using var stream = client.OpenLookupStream();
            var error = await Assert.ThrowsAsync<RpcException>(() => stream.GetOnlineFeaturesAsync(Request(["user_stats"]), Ct));
            Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
            Assert.Equal(message, error.Status.Detail);
        }
    }

    [Fact]
    public async Task A_malformed_message_ends_the_stream_with_invalid_argument_after_the_lookups_before_it_are_answered()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), redis.Connection.Multiplexer);
        using var channel = server.Channel();
        var raw = new Method<byte[], byte[]>(MethodType.DuplexStreaming, "featurestore.v1.OnlineFeatures", "StreamOnlineFeatures",
            Marshallers.Create(static b => b, static b => b), Marshallers.Create(static b => b, static b => b));
        using var call = channel.CreateCallInvoker().AsyncDuplexStreamingCall(raw, null, new CallOptions(cancellationToken: Ct));
        var batch = new LookupBatch { Lookups = { Request(["user_stats"], rows: 2), Request(["user_stats:nope"]) } };
        await call.RequestStream.WriteAsync(batch.ToByteArray(), Ct);
        await call.RequestStream.WriteAsync([0x0A, 0x7F, 0x01], Ct); // a lookup of 127 bytes, cut off after one
        Assert.True(await call.ResponseStream.MoveNext(Ct));
        var first = LookupBatchResult.Parser.ParseFrom(call.ResponseStream.Current);
        Assert.Equal(2, first.Results.Count);
        Assert.Equal(StreamedLookup.ResultOneofCase.Response, first.Results[0].ResultCase);
        Assert.Equal(2, first.Results[0].Response.Rows.Count);
        Assert.Equal((int)StatusCode.InvalidArgument, first.Results[1].Error.Code);
        Assert.StartsWith("unknown feature 'nope' in view 'user_stats'", first.Results[1].Error.Message, StringComparison.Ordinal);
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(Ct));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("runs past the message's end", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_lookup_stream_whose_server_stops_fails_no_lookup_silently_and_the_next_lookup_opens_a_new_stream()
    {
        var template = Options();
        FeatureServerOptions OnPorts(int grpc, int http) => new()
        {
            Repository = template.Repository,
            KeyPrefix = template.KeyPrefix,
            GrpcPort = grpc,
            HttpPort = http,
        };

        var first = await RunningServer.OnPortsAsync(OnPorts, redis.Connection.Multiplexer);
        var (grpcPort, httpPort) = (first.Server.GrpcAddress.Port, first.Server.HttpAddress.Port);
        using var client = first.Client();
        await using var stream = client.OpenLookupStream();
        Assert.Equal(2, (await stream.GetOnlineFeaturesAsync(Request(["user_stats"], rows: 2), Ct)).RowCount);

        // The host stops at once, not after its shutdown timeout: the open stream ends as the host stops.
        var clock = Stopwatch.StartNew();
        await first.DisposeAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the host took {clock.Elapsed.TotalSeconds:0.0} s to stop with a lookup stream open");
        var error = await Assert.ThrowsAsync<RpcException>(() => stream.GetOnlineFeaturesAsync(Request(["user_stats"]), Ct));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);

        await using var second = await RunningServer.OnPortsAsync((_, _) => OnPorts(grpcPort, httpPort), redis.Connection.Multiplexer);
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                return (await stream.GetOnlineFeaturesAsync(Request(["user_stats"], rows: 3), Ct)).RowCount == 3;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(20), "the stream's lookups answered by the restarted server", Ct);
    }

    [Theory]
    [InlineData(20)]
    [InlineData(40)]
    public async Task A_chunked_body_over_the_size_cap_is_refused_with_413_and_the_json_error_and_no_stack_trace_logged(int megabytes)
    {
        var logs = new CapturedLogs();
        var template = Options();
        await using var server = await RunningServer.OnPortsAsync(
            (grpc, http) => new FeatureServerOptions { Repository = template.Repository, KeyPrefix = template.KeyPrefix, GrpcPort = grpc, HttpPort = http },
            redis.Connection.Multiplexer,
            builder => builder.Logging.AddProvider(logs));
        using var http = server.Http();

        // Under the cap, a chunked body is answered as any other.
        using (var small = await http.SendAsync(Chunked(1), Ct))
        {
            Assert.Equal(200, (int)small.StatusCode);
        }

        var clock = Stopwatch.StartNew();
        using var large = await http.SendAsync(Chunked(megabytes), Ct);
        await AssertHttpErrorAsync(large, 413, "RESOURCE_EXHAUSTED", "request body over 4194304 bytes (4 MiB): split the lookup");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the refusal took {clock.Elapsed.TotalMilliseconds:0} ms");
        Assert.DoesNotContain(logs.Records, r => r.Contains("   at ", StringComparison.Ordinal));

        static HttpRequestMessage Chunked(int megabytes)
        {
            var content = new StreamContent(new PaddedLookupBody((long)megabytes << 20));
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/features/online", UriKind.Relative)) { Content = content };
            request.Headers.TransferEncodingChunked = true;
            return request;
        }
    }

    [Fact]
    public async Task Http_error_messages_show_plain_quotes()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), redis.Connection.Multiplexer);
        using var http = server.Http();
        using var unknown = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), Json(Request(["user_stats:nope"])), Ct);
        var text = await unknown.Content.ReadAsStringAsync(Ct);
        Assert.Contains("unknown feature 'nope' in view 'user_stats'", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u0027", text, StringComparison.Ordinal);
    }

    private static StringContent Json(GetOnlineFeaturesRequest request) =>
        new(Google.Protobuf.JsonFormatter.Default.Format(request), System.Text.Encoding.UTF8, "application/json");

    private static async Task AssertHttpErrorAsync(HttpResponseMessage response, int status, string code, string message)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(status == (int)response.StatusCode, $"expected HTTP {status}, got {(int)response.StatusCode}: {text}");
        using var body = JsonDocument.Parse(text);
        Assert.Equal(code, body.RootElement.GetProperty("code").GetString());
        Assert.Equal(message, body.RootElement.GetProperty("message").GetString());
    }

    /// <summary>A valid lookup's JSON padded with spaces to a given size, produced as it is read (no length known: sent chunked).</summary>
    private sealed class PaddedLookupBody(long size) : Stream
    {
        private static readonly byte[] Head = System.Text.Encoding.UTF8.GetBytes("{\"features\": [\"user_stats:n_1h\"], \"entities\": [{\"join_keys\": {\"user_id\": \"u1\"}}]");
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, size - _position);
            for (var i = 0; i < n; i++, _position++)
            {
                buffer[offset + i] = _position < Head.Length ? Head[_position] : _position == size - 1 ? (byte)'}' : (byte)' ';
            }

            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
