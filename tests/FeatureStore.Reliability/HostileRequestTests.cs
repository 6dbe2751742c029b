using System.Diagnostics;
using System.Text;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Serving;
using FeatureStore.Testing;
using Google.Protobuf;
using Grpc.Core;

namespace FeatureStore.Reliability;

/// <summary>
/// Fuzzed lookups over real ports: random and oversized bodies, wrong types, unknown fields, malformed
/// JSON and protobuf, instants at the ends of the range. Every answer is a precise status within a
/// bound — never 500 or INTERNAL/UNKNOWN, never a hang.
/// </summary>
[Trait("Category", "Integration")]
public sealed class HostileRequestTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private const string Lookup = "featurestore.v1.OnlineFeatures/GetOnlineFeatures";
    private const string Noise = "{}[]\":,0123456789aZ\\ \u0000\u00e9";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private static readonly HashSet<int> PreciseHttp = [200, 400, 401, 403, 404, 405, 413, 415, 503];
    private static readonly HashSet<StatusCode> PreciseGrpc =
        [StatusCode.OK, StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.ResourceExhausted, StatusCode.Unauthenticated, StatusCode.PermissionDenied, StatusCode.Unimplemented];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<FeatureServer> StartAsync()
    {
        var repository = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("fuzz-requests"), "stest.yaml").Repository!;
        var server = FeatureServer.Create(new FeatureServerOptions
        {
            Repository = repository,
            KeyPrefix = "h" + Guid.NewGuid().ToString("N")[..8],
            GrpcPort = FreePort.Next(),
            HttpPort = FreePort.Next(),
            MaxEntities = 100,
            StoreTimeout = TimeSpan.FromSeconds(30), // not a test of timeouts (a loaded machine may hold a read past a second)
        }, redis.Connection.Multiplexer);
        await server.StartAsync(Ct);
        return server;
    }

    private static GetOnlineFeaturesRequest Valid()
    {
        var request = new GetOnlineFeaturesRequest { Features = { "user_stats:n_1h", "merchant_stats" } };
        request.Entities.Add(new EntityRow { JoinKeys = { ["user_id"] = "u1", ["merchant_id"] = "m1" } });
        return request;
    }

    [Fact]
    public async Task Fuzzed_http_lookups_get_precise_statuses_in_bounded_time()
    {
        await using var server = await StartAsync();
        using var http = new HttpClient { BaseAddress = server.HttpAddress, Timeout = Bound + TimeSpan.FromSeconds(5) };
        var random = new Random(71);
        var valid = JsonFormatter.Default.Format(Valid());
        var bodies = new List<(string What, HttpContent Content)>();
        for (var i = 0; i < 100; i++)
        {
            var bytes = new byte[random.Next(0, 2_000)];
            random.NextBytes(bytes);
            bodies.Add(("random bytes", new ByteArrayContent(bytes)));
        }

        for (var i = 0; i < 300; i++)
        {
            var chars = valid.ToCharArray();
            for (var m = 0; m < 1 + random.Next(3); m++)
            {
                chars[random.Next(chars.Length)] = Noise[random.Next(Noise.Length)];
            }

            bodies.Add(("mutated JSON", new StringContent(new string(chars), Encoding.UTF8, "application/json")));
        }

        foreach (var text in new[]
        {
            "", "{", "[]", "null", "\"x\"", "1", "{\"features\":5}", "{\"features\":[1,2]}", "{\"features\":\"user_stats\"}",
            "{\"entities\":{}}", "{\"entities\":[1]}", "{\"entities\":[{\"join_keys\":{\"user_id\":5}}],\"features\":[\"user_stats\"]}",
            "{\"entities\":[{\"join_keys\":[\"u1\"]}],\"features\":[\"user_stats\"]}", "{\"foo\":1}", "{\"features\":[\"user_stats\"],\"unknown_field\":true}",
            "{\"features\":[\"user_stats\"],\"as_of\":\"yesterday\"}", "{\"features\":[\"user_stats\"],\"as_of\":5}",
            "{\"features\":[\"user_stats\"],\"entities\":[{\"join_keys\":{\"user_id\":\"u1\"}}],\"as_of\":\"0001-01-01T00:00:00Z\"}",
            "{\"features\":[\"user_stats\"],\"entities\":[{\"join_keys\":{\"user_id\":\"u1\"}}],\"as_of\":\"9999-12-31T23:59:59.999999999Z\"}",
            "{\"features\":[\"user_stats\"],\"entities\":[{\"join_keys\":{\"user_id\":\"u1\"}}],\"as_of\":\"1970-01-01T00:00:00Z\"}",
            "{\"features\":[\"user_stats\"],\"entities\":[{\"join_keys\":{\"user_id\":\"\\u0000\"}}]}",
            "{\"features\":[\"" + new string('v', 1_000_000) + "\"]}",
            "{\"features\":[\"user_stats\"],\"entities\":[{\"join_keys\":{\"user_id\":\"" + new string('u', 1_000_000) + "\"}}]}",
            "{\"features\":[\"user_stats\"],\"entities\":[" + string.Join(',', Enumerable.Repeat("{\"join_keys\":{\"user_id\":\"u\"}}", 101)) + "]}",
            new string('[', 100_000) + new string(']', 100_000),
            "{\"features\":" + new string('[', 10_000) + new string(']', 10_000) + "}",
            "{\"features\":[\"user_stats\"]," + string.Concat(Enumerable.Repeat("\"model\":\"x\",", 10_000)) + "\"model\":\"fraud\"}",
        })
        {
            bodies.Add(("crafted JSON", new StringContent(text, Encoding.UTF8, "application/json")));
        }

        bodies.Add(("5 MB declared", new ByteArrayContent(new byte[5 << 20])));
        bodies.Add(("5 MB chunked", new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes("{\"features\":[\"" + new string('x', 5 << 20) + "\"]}")))));

        var statuses = new Dictionary<int, int>();
        var slowest = TimeSpan.Zero;
        foreach (var (what, content) in bodies)
        {
            using var body = content;
            var clock = Stopwatch.StartNew();
            using var response = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), body, Ct);
            var elapsed = clock.Elapsed;
            var status = (int)response.StatusCode;
            var text = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(PreciseHttp.Contains(status), $"{what}: HTTP {status} {text[..Math.Min(300, text.Length)]}");
            Assert.True(elapsed < Bound, $"{what}: {elapsed.TotalSeconds:0.0} s");
            if (status != 200)
            {
                Assert.Contains("\"code\"", text, StringComparison.Ordinal); // the error body names the status
            }

            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            slowest = elapsed > slowest ? elapsed : slowest;
        }

        // Other methods and paths are refused by the routing, precisely.
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/v1/features/online"), (HttpMethod.Put, "/v1/features/online"), (HttpMethod.Post, "/v1/../etc/passwd"), (HttpMethod.Get, "/%2e%2e/%2e%2e/etc/passwd") })
        {
            using var response = await http.SendAsync(new HttpRequestMessage(method, new Uri(path, UriKind.Relative)), Ct);
            Assert.True((int)response.StatusCode is 404 or 405, $"{method} {path}: {(int)response.StatusCode}");
        }

        Figures.Report("hostile input / HTTP lookups", $"requests={bodies.Count + 4} statuses {{{string.Join(", ", statuses.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}"))}}} 5xx=0 slowest={slowest.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task Fuzzed_grpc_calls_get_precise_statuses_in_bounded_time()
    {
        await using var server = await StartAsync();
        using var grpc = new RawGrpc(server.GrpcAddress);
        var random = new Random(72);
        var valid = Valid().ToByteArray();
        var calls = new List<(string What, string Method, byte[] Body)>();
        string[] methods = [Lookup, "featurestore.v1.Registry/ListFeatures", "featurestore.v1.Registry/DescribeFeature", "featurestore.v1.Registry/DescribeModel"];
        for (var i = 0; i < 100; i++)
        {
            var bytes = new byte[random.Next(0, 2_000)];
            random.NextBytes(bytes);
            calls.Add(("random bytes", methods[i % methods.Length], bytes));
        }

        for (var i = 0; i < 200; i++)
        {
            var bytes = (byte[])valid.Clone();
            for (var m = 0; m < 1 + random.Next(3); m++)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            calls.Add(("mutated protobuf", Lookup, bytes));
        }

        // Wrong wire types, unknown fields, truncations, the ends of the time range, too many rows, oversized.
        calls.Add(("features as varint", Lookup, [0x08, 0x05]));
        calls.Add(("unknown field 99", Lookup, [.. valid, 0x98, 0x06, 0x01]));
        calls.Add(("truncated", Lookup, valid[..(valid.Length / 2)]));
        foreach (var seconds in new[] { long.MinValue, -62_135_596_801, -62_135_596_800, 0, 253_402_300_799, 253_402_300_800, long.MaxValue })
        {
            var request = Valid();
            request.AsOf = new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = seconds, Nanos = seconds == long.MaxValue ? 999_999_999 : 0 };
            calls.Add(($"as_of {seconds} s", Lookup, request.ToByteArray()));
        }

        var negativeNanos = Valid();
        negativeNanos.AsOf = new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = 1, Nanos = -5 };
        calls.Add(("as_of negative nanos", Lookup, negativeNanos.ToByteArray()));
        var many = Valid();
        for (var i = 0; i < 100; i++)
        {
            many.Entities.Add(many.Entities[0]);
        }

        calls.Add(("101 rows", Lookup, many.ToByteArray()));
        var huge = Valid();
        huge.Features.Add(new string('f', 1_000_000));
        calls.Add(("1 MB reference", Lookup, huge.ToByteArray()));
        calls.Add(("17 MB message", Lookup, new GetOnlineFeaturesRequest { Model = new string('m', 17 << 20) }.ToByteArray()));
        calls.Add(("unknown method", "featurestore.v1.OnlineFeatures/Nope", valid));
        calls.Add(("unknown service", "featurestore.v1.Nothing/Nope", valid));

        var statuses = new Dictionary<StatusCode, int>();
        var slowest = TimeSpan.Zero;
        foreach (var (what, method, body) in calls)
        {
            var clock = Stopwatch.StartNew();
            var (status, detail) = await grpc.CallAsync(method, body, deadline: Bound);
            var elapsed = clock.Elapsed;
            Assert.True(PreciseGrpc.Contains(status), $"{what} → {method}: {status} {detail}");
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            slowest = elapsed > slowest ? elapsed : slowest;
        }

        Figures.Report("hostile input / gRPC lookups", $"calls={calls.Count} statuses {{{string.Join(", ", statuses.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}"))}}} INTERNAL/UNKNOWN=0 slowest={slowest.TotalMilliseconds:0} ms");
    }
}
