using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Serving.Tests.Helpers;
using Grpc.Core;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// The push API against the embedded Kafka cluster, a real redis-server and the real ingest job: read after write,
/// all-or-nothing validation by ingest's parser, deadlines, the write scope, and hostile requests.
/// </summary>
[Trait("Category", "Integration")]
public sealed class PushTests(PushFixture fixture) : IClassFixture<PushFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static string Payment(string user, double amount, long ts, string merchant = "m1") =>
        $$"""{"user_id":"{{user}}","merchant_id":"{{merchant}}","amount":{{amount.ToString(CultureInfo.InvariantCulture)}},"country":"FR","ts":{{ts}}}""";

    private static async Task<long?> CountOf(FeatureStoreClient client, string user) =>
        (await client.GetOnlineFeaturesAsync(["user_stats:n_all"], [new Dictionary<string, string> { ["user_id"] = user, ["merchant_id"] = "m1" }], cancellationToken: Ct))
        .GetInt64(0, "user_stats:n_all");

    [Fact]
    public async Task A_push_waiting_online_is_seen_by_the_lookup_made_right_after_it_over_grpc_and_http()
    {
        await using var push = fixture.NewCase();
        push.StartIngest();
        await using var server = await RunningServer.InProcessAsync(push.Options(), fixture.Redis.Connection.Multiplexer);
        using var client = server.Client();
        var now = NowMs;

        var answer = await client.PushEventsAsync("payments", [Payment("alice", 10, now - 3000), Payment("alice", 20, now - 2000), Payment("bob", 5, now - 1000)],
            waitOnline: true, timeout: TimeSpan.FromSeconds(60), cancellationToken: Ct);
        Assert.Equal(3, answer.Produced);
        Assert.True(answer.Applied);
        Assert.Equal(push.Topic, answer.Topic);
        Assert.Equal(3, answer.Offsets.Sum(o => o.NextOffset));
        Assert.Equal(2, await CountOf(client, "alice"));
        Assert.Equal(1, await CountOf(client, "bob"));

        // Each push is seen at once, not some pushes later: a run of single events, each looked up right after.
        for (var i = 1; i <= 5; i++)
        {
            using var http = server.Http();
            using var body = new StringContent("[" + Payment("carol", i, now - 500 + i) + "]", Encoding.UTF8, "application/json");
            using var response = await http.PostAsync("/v1/push/payments?wait=online&timeout=30s", body, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(1, json.RootElement.GetProperty("produced").GetInt32());
            Assert.True(json.RootElement.GetProperty("applied").GetBoolean());
            Assert.Equal(i, await CountOf(client, "carol"));
        }
    }

    [Fact]
    public async Task A_push_without_waiting_answers_once_kafka_has_the_events_and_says_they_are_not_yet_known_applied()
    {
        await using var push = fixture.NewCase();
        await using var server = await RunningServer.InProcessAsync(push.Options(), fixture.Redis.Connection.Multiplexer);
        using var client = server.Client();
        var answer = await client.PushEventsAsync("payments", [Payment("dave", 1, NowMs), Payment("erin", 2, NowMs)], cancellationToken: Ct);
        Assert.Equal(2, answer.Produced);
        Assert.False(answer.Applied);
        Assert.Equal(2, fixture.Count(push.Topic));
    }

    [Fact]
    public async Task A_bad_event_rejects_the_whole_request_with_each_index_and_reason_and_nothing_is_produced()
    {
        await using var push = fixture.NewCase();
        await using var server = await RunningServer.InProcessAsync(push.Options(), fixture.Redis.Connection.Multiplexer);
        using var client = server.Client();
        var now = NowMs;
        string[] events =
        [
            Payment("u1", 1, now),
            """{"merchant_id":"m1","amount":1,"country":"FR","ts":1}""",
            Payment("u2", 1, now).Replace("\"amount\":1", "\"amount\":\"lots\"", StringComparison.Ordinal),
            "{not json",
            Payment("u3", 1, now + (3 * 3_600_000)),
            Payment("u4", 1, now),
        ];
        var refused = await Assert.ThrowsAsync<PushRejectedException>(() => client.PushEventsAsync("payments", events, cancellationToken: Ct));
        Assert.Equal(StatusCode.InvalidArgument, ((RpcException)refused.InnerException!).StatusCode);
        Assert.Equal(4, refused.Response.RejectedCount);
        Assert.Equal(
            [(1, "missing_key", "user_id"), (2, "wrong_type", "amount"), (3, "malformed_json", ""), (4, "too_far_in_future", "ts")],
            refused.Response.Rejected.Select(r => (r.Index, r.Reason, r.Field)).ToArray());
        Assert.Contains("4 event(s) rejected, so nothing was produced", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, refused.Response.Produced);

        // The same over HTTP, as JSON lines: 400, the rejections with their lines.
        using var http = server.Http();
        using var body = new StringContent(string.Join("\n", events) + "\n", Encoding.UTF8, "application/x-ndjson");
        using var response = await http.PostAsync("/v1/push/payments", body, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal("INVALID_ARGUMENT", json.RootElement.GetProperty("code").GetString());
        var rejected = json.RootElement.GetProperty("rejected").EnumerateArray().ToList();
        Assert.Equal([1, 2, 3, 4], rejected.Select(r => r.GetProperty("index").GetInt32()));
        Assert.StartsWith("line 2", rejected[0].GetProperty("detail").GetString(), StringComparison.Ordinal);

        Assert.Equal(0, fixture.Count(push.Topic));
    }

    [Fact]
    public async Task Pushed_and_rejected_events_and_the_online_wait_are_counted_in_the_metrics()
    {
        await using var push = fixture.NewCase();
        push.StartIngest();
        await using var server = await RunningServer.InProcessAsync(push.Options(), fixture.Redis.Connection.Multiplexer);
        using var client = server.Client();
        using var http = server.Http();
        var before = Scrape(await http.GetStringAsync("/metrics", Ct));
        var now = NowMs;
        await client.PushEventsAsync("payments", [Payment("mia", 1, now), Payment("mia", 2, now)], waitOnline: true, timeout: TimeSpan.FromSeconds(60), cancellationToken: Ct);
        var request = new PushEventsRequest { Source = "payments", AcceptValid = true };
        request.Events.Add(Google.Protobuf.ByteString.CopyFromUtf8(Payment("noa", 1, now)));
        request.Events.Add(Google.Protobuf.ByteString.CopyFromUtf8("""{"user_id":"noa"}"""));
        request.Events.Add(Google.Protobuf.ByteString.CopyFromUtf8("{oops"));
        await client.PushEventsAsync(request, cancellationToken: Ct);

        // Other tests of this process push to a source of this name too: the counts grow by at least these.
        var after = Scrape(await http.GetStringAsync("/metrics", Ct));
        double Grew(string series) => after.GetValueOrDefault(series) - before.GetValueOrDefault(series);
        Assert.True(Grew("featurestore_push_events_total{source=\"payments\"}") >= 3);
        Assert.True(Grew("featurestore_push_rejected_total{source=\"payments\",reason=\"missing_timestamp\"}") >= 1);
        Assert.True(Grew("featurestore_push_rejected_total{source=\"payments\",reason=\"malformed_json\"}") >= 1);
        Assert.True(Grew("featurestore_push_wait_online_seconds_count{source=\"payments\",outcome=\"applied\"}") >= 1);
        Assert.True(after.ContainsKey("featurestore_push_wait_online_seconds_bucket{source=\"payments\",outcome=\"applied\",le=\"0.25\"}"));
    }

    private static Dictionary<string, double> Scrape(string text) =>
        text.Split('\n').Where(l => l.StartsWith("featurestore_push_", StringComparison.Ordinal))
            .Select(l => (Series: l[..l.LastIndexOf(' ')], Value: double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)))
            .ToDictionary(p => p.Series, p => p.Value);

    [Fact]
    public async Task Accept_valid_produces_the_valid_events_and_lists_the_rejected_ones()
    {
        await using var push = fixture.NewCase();
        await using var server = await RunningServer.InProcessAsync(push.Options(), fixture.Redis.Connection.Multiplexer);
        using var client = server.Client();
        var request = new PushEventsRequest { Source = "payments", AcceptValid = true };
        request.Events.Add(Google.Protobuf.ByteString.CopyFromUtf8(Payment("u1", 1, NowMs)));
        request.Events.Add(Google.Protobuf.ByteString.CopyFromUtf8("""{"user_id":"u2"}"""));
        var answer = await client.PushEventsAsync(request, cancellationToken: Ct);
        Assert.Equal(1, answer.Produced);
        Assert.Equal(1, answer.RejectedCount);
        Assert.Equal((1, "missing_timestamp"), (answer.Rejected[0].Index, answer.Rejected[0].Reason));
        Assert.Equal(1, fixture.Count(push.Topic));
    }

    [Fact]
    public async Task Waiting_online_while_ingest_is_not_running_ends_at_the_deadline_saying_the_events_were_produced_but_not_applied()
    {
        await using var push = fixture.NewCase();
        await using var server = await RunningServer.InProcessAsync(push.Options(), fixture.Redis.Connection.Multiplexer);
        using var client = server.Client();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var late = await Assert.ThrowsAsync<RpcException>(() => client.PushEventsAsync("payments", [Payment("u1", 1, NowMs)], waitOnline: true, timeout: TimeSpan.FromSeconds(2), cancellationToken: Ct));
        Assert.Equal(StatusCode.DeadlineExceeded, late.StatusCode);
        Assert.Contains("were produced", late.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("not applied", late.Status.Detail, StringComparison.Ordinal);
        Assert.InRange(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, 1, 10);

        using var http = server.Http();
        using var body = new StringContent("[" + Payment("u2", 1, NowMs) + "]", Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("/v1/push/payments?wait=online&timeout=300ms", body, Ct);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal("DEADLINE_EXCEEDED", json.RootElement.GetProperty("code").GetString());
        Assert.Equal(2, fixture.Count(push.Topic));
    }

    [Fact]
    public async Task Pushing_needs_a_key_with_the_write_scope_and_a_write_only_key_cannot_read()
    {
        await using var push = fixture.NewCase();
        ApiKey[] keys = [ApiKey.Parse("reader"), ApiKey.Parse("writer@write"), ApiKey.Parse("both@read+write")];
        await using var server = await RunningServer.InProcessAsync(push.Options(keys), fixture.Redis.Connection.Multiplexer);
        string[] events = [Payment("u1", 1, NowMs)];

        using (var reader = server.Client("reader"))
        {
            var denied = await Assert.ThrowsAsync<RpcException>(() => reader.PushEventsAsync("payments", events, cancellationToken: Ct));
            Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
            Assert.Contains("write scope", denied.Status.Detail, StringComparison.Ordinal);
        }

        using (var nobody = server.Client())
        {
            Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => nobody.PushEventsAsync("payments", events, cancellationToken: Ct))).StatusCode);
        }

        using (var writer = server.Client("writer"))
        {
            Assert.Equal(1, (await writer.PushEventsAsync("payments", events, cancellationToken: Ct)).Produced);
            var cannotRead = await Assert.ThrowsAsync<RpcException>(() => CountOf(writer, "u1"));
            Assert.Equal(StatusCode.PermissionDenied, cannotRead.StatusCode);
        }

        using (var both = server.Client("both"))
        {
            Assert.Equal(1, (await both.PushEventsAsync("payments", events, cancellationToken: Ct)).Produced);
            await CountOf(both, "u1");
        }

        using var http = server.Http();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/push/payments") { Content = new StringContent("[" + events[0] + "]", Encoding.UTF8, "application/json") };
        request.Headers.Add("x-api-key", "reader");
        using var response = await http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(2, fixture.Count(push.Topic));
    }

    [Fact]
    public async Task Hostile_requests_get_precise_statuses_and_produce_nothing()
    {
        await using var push = fixture.NewCase();
        await using var server = await RunningServer.InProcessAsync(push.Options(maxBodyBytes: 1 << 20), fixture.Redis.Connection.Multiplexer);
        using var http = server.Http();
        var one = "[" + Payment("u1", 1, NowMs) + "]";

        async Task<(HttpStatusCode Status, string Body)> PostAsync(string path, HttpContent content)
        {
            using (content)
            {
                using var response = await http.PostAsync(path, content, Ct);
                return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
            }
        }

        // Over the body limit, announced or not: 413.
        var huge = "[" + string.Join(",", Enumerable.Repeat(Payment("u1", 1, NowMs), 20_000)) + "]";
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await PostAsync("/v1/push/payments", new StringContent(huge, Encoding.UTF8, "application/json"))).Status);
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(huge)));
        chunked.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        chunked.Headers.ContentLength = null;
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await PostAsync("/v1/push/payments", chunked)).Status);

        // Wrong or missing content type: 415.
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await PostAsync("/v1/push/payments", new StringContent(one, Encoding.UTF8, "text/plain"))).Status);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await PostAsync("/v1/push/payments", new ByteArrayContent(Encoding.UTF8.GetBytes(one)))).Status);

        // Unknown source: 404, naming the sources there are.
        var unknown = await PostAsync("/v1/push/nope", new StringContent(one, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Contains("sources: payments", unknown.Body, StringComparison.Ordinal);

        // A body that is not a JSON array of events: 400 with where it breaks; empty: 400; bad parameters: 400.
        var broken = await PostAsync("/v1/push/payments", new StringContent("[{\"user_id\":\"u1\",\n  oops]", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, broken.Status);
        Assert.Contains("line 2", broken.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("/v1/push/payments", new StringContent("[]", Encoding.UTF8, "application/json"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("/v1/push/payments", new StringContent("\"x\"", Encoding.UTF8, "application/json"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("/v1/push/payments?wait=always", new StringContent(one, Encoding.UTF8, "application/json"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("/v1/push/payments?wait=online&timeout=soon", new StringContent(one, Encoding.UTF8, "application/json"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("/v1/push/payments", new StringContent("[" + one + "]", Encoding.UTF8, "application/json"))).Status);

        // gRPC: unknown source NOT_FOUND, no events INVALID_ARGUMENT.
        using var client = server.Client();
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => client.PushEventsAsync("nope", ["{}"], cancellationToken: Ct))).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => client.PushEventsAsync("payments", [], cancellationToken: Ct))).StatusCode);

        Assert.Equal(0, fixture.Count(push.Topic));
    }

    [Fact]
    public async Task A_server_started_without_kafka_answers_that_push_is_off()
    {
        await using var push = fixture.NewCase();
        await using var server = await RunningServer.InProcessAsync(push.Options(push: false), fixture.Redis.Connection.Multiplexer);
        using var client = server.Client();
        var off = await Assert.ThrowsAsync<RpcException>(() => client.PushEventsAsync("payments", [Payment("u1", 1, NowMs)], cancellationToken: Ct));
        Assert.Equal(StatusCode.Unimplemented, off.StatusCode);
        using var http = server.Http();
        using var body = new StringContent("[" + Payment("u1", 1, NowMs) + "]", Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("/v1/push/payments", body, Ct);
        Assert.Equal(HttpStatusCode.NotImplemented, response.StatusCode);
    }
}

/// <summary>
/// The largest push the server takes, 100 000 events in one request, and one more refused. Alone (not beside other
/// test classes): ten megabytes parsed and produced at once would slow the timing-sensitive tests running beside it.
/// </summary>
[Trait("Category", "Integration")]
[Collection(nameof(PushLoadCollection))]
public sealed class PushLoadTests(PushFixture fixture) : IClassFixture<PushFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static string Payment(string user, double amount, long ts, string merchant = "m1") =>
        $$"""{"user_id":"{{user}}","merchant_id":"{{merchant}}","amount":{{amount.ToString(CultureInfo.InvariantCulture)}},"country":"FR","ts":{{ts}}}""";

    [Fact]
    public async Task A_hundred_thousand_events_go_in_one_request_and_one_more_is_refused()
    {
        await using var push = fixture.NewCase();
        await using var server = await RunningServer.InProcessAsync(push.Options(), fixture.Redis.Connection.Multiplexer);
        var now = NowMs;
        var lines = new StringBuilder();
        for (var i = 0; i < 100_000; i++)
        {
            lines.Append(Payment("u" + (i % 997).ToString(CultureInfo.InvariantCulture), i % 50, now - (i % 3_600_000))).Append('\n');
        }

        using var http = server.Http();
        http.Timeout = TimeSpan.FromMinutes(3);
        using (var body = new StringContent(lines.ToString(), Encoding.UTF8, "application/x-ndjson"))
        {
            using var response = await http.PostAsync("/v1/push/payments", body, Ct);
            var text = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            using var json = JsonDocument.Parse(text);
            Assert.Equal(100_000, json.RootElement.GetProperty("produced").GetInt32());
        }

        Assert.Equal(100_000, fixture.Count(push.Topic));
        lines.Append(Payment("u1", 1, now)).Append('\n');
        using (var body = new StringContent(lines.ToString(), Encoding.UTF8, "application/x-ndjson"))
        {
            using var response = await http.PostAsync("/v1/push/payments", body, Ct);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }

        Assert.Equal(100_000, fixture.Count(push.Topic));
    }
}

[CollectionDefinition(nameof(PushLoadCollection), DisableParallelization = true)]
public sealed class PushLoadCollection;
