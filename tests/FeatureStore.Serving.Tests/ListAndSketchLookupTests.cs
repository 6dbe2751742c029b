using System.Globalization;
using FeatureStore.Contracts.V1;
using FeatureStore.Redis;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// percentile, last_n, last_n_distinct and top_k end to end: payments produced to the embedded broker,
/// applied by the real ingest job to a real redis-server, looked up over gRPC and HTTP/JSON on real ports,
/// and compared with the §4 reference (exactly: the sketch holds every value of these tiles).
/// </summary>
[Trait("Category", "Integration")]
public sealed class ListAndSketchLookupTests
{
    private const string Views = """
          - name: merchant_recent
            entity: merchant
            source: payments
            ttl: 1d
            features:
              - { name: amount_p90_1h, aggregation: percentile, p: 0.9, field: amount, window: 1h }
              - { name: last_users_1h, aggregation: last_n, n: 4, field: user_id, window: 1h }
              - { name: last_amounts, aggregation: last_n, n: 3, field: amount }
              - { name: countries_2h, aggregation: last_n_distinct, n: 3, field: country, window: 2h }
              - { name: top_users_2h, aggregation: top_k, k: 3, field: user_id, window: 2h }

        """;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task List_and_sketch_features_over_grpc_and_http_equal_the_reference()
    {
        await using var kafka = new EmbeddedKafkaFixture();
        await using var redis = new RedisServerFixture();
        await kafka.InitializeAsync();
        await redis.InitializeAsync();
        var scenario = new PaymentsScenario(kafka.CreateTopic("payments", partitions: 4), Views);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: 40, seed: 24, nowMs: now);
        await scenario.IngestAllAsync(kafka.BootstrapServers, redis.Connection.Database, Ct);
        await using var store = await OnlineStoreConnection.ConnectAsync(redis.Server.Endpoint, null, o => FeatureServer.ConfigureStoreClient(o, TimeSpan.FromSeconds(1)));
        await using var server = await RunningServer.OnPortsAsync((g, h) => new FeatureServerOptions
        {
            Repository = scenario.Repository,
            KeyPrefix = scenario.KeyPrefix,
            GrpcPort = g,
            HttpPort = h,
        }, store.Multiplexer);
        using var client = server.Client();
        using var http = server.Http();
        var view = scenario.Compiled.FindView("merchant_recent")!;
        var kinds = new HashSet<FeatureValue.ValueOneofCase>();
        foreach (var at in new[] { now, now - (50 * 60_000), now + (90 * 60_000), now + (3 * 3_600_000) })
        {
            var request = new GetOnlineFeaturesRequest { Features = { "merchant_recent" }, AsOf = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(at)) };
            for (var m = 0; m <= 20; m++)
            {
                request.Entities.Add(new EntityRow { JoinKeys = { ["merchant_id"] = "m" + m.ToString(CultureInfo.InvariantCulture) } });
            }

            var overGrpc = await client.GetOnlineFeaturesAsync(request, Ct);
            using var body = new StringContent(JsonFormatter.Default.Format(request), System.Text.Encoding.UTF8, "application/json");
            using var answer = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), body, Ct);
            var text = await answer.Content.ReadAsStringAsync(Ct);
            Assert.True(answer.IsSuccessStatusCode, text);
            Assert.Equal(overGrpc.Response, JsonParser.Default.Parse<GetOnlineFeaturesResponse>(text));
            for (var r = 0; r < request.Entities.Count; r++)
            {
                var merchant = request.Entities[r].JoinKeys["merchant_id"];
                var expected = scenario.Reference(view, merchant, at);
                for (var f = 0; f < expected.Length; f++)
                {
                    var actual = overGrpc.Response.Rows[r].Values[f];
                    ValueAssert.Equal(expected[f], actual, $"{view.Definition.Features[f].Name} of {merchant} at {at}");
                    kinds.Add(actual.ValueCase);
                }
            }

            // The client's typed accessors read the same lists.
            var first = overGrpc.Response.Rows[0].Values;
            Assert.Equal(first[1].StringListValue?.Values, overGrpc.GetStrings(0, "merchant_recent:last_users_1h"));
            Assert.Equal(first[2].DoubleListValue?.Values, overGrpc.GetDoubles(0, "merchant_recent:last_amounts"));
        }

        Assert.Superset(new HashSet<FeatureValue.ValueOneofCase>
        {
            FeatureValue.ValueOneofCase.DoubleValue, FeatureValue.ValueOneofCase.StringListValue, FeatureValue.ValueOneofCase.DoubleListValue,
            FeatureValue.ValueOneofCase.CountsValue, FeatureValue.ValueOneofCase.None,
        }, kinds);
    }
}
