using System.Globalization;
using System.Net;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Serving.Tests.Helpers;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// Request-time features looked up over gRPC (in process and on a real port) and HTTP/JSON against the real ingest
/// job's state in a real redis-server: each row's request context with the stored features they read (not asked
/// for), compared with values computed by hand from the §4 reference; bad contexts refused naming the field.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RequestFeatureLookupTests(IngestedStoreFixture data) : IClassFixture<IngestedStoreFixture>
{
    private const string RequestViews = """
        request_views:
          - name: payment
            context:
              amount: double
              country: string
              placed_at: timestamp
            features:
              - name: amount_vs_mean_2h
                type: double
                expression: amount / user_stats.mean_2h
              - name: new_country
                type: int
                expression: 'coalesce(user_stats.last_country, "") != country ? 1 : 0'
              - name: placed_hour
                type: int
                expression: hour(placed_at)
              - name: share_of_merchant_1h
                type: double
                expression: amount / (coalesce(merchant_stats.sum_1h, 0) + amount)
          - name: user_payment
            context: { amount: double, country: string, placed_at: timestamp, first: bool }
            features:
              - { name: amount_vs_mean_2h, type: double, expression: amount / user_stats.mean_2h }
              - { name: new_country_first, type: int, expression: 'coalesce(user_stats.last_country, "") != country && first == true ? 1 : 0' }
              - { name: placed_hour, type: int, expression: hour(placed_at) }

        """;

    // A model whose version lists request-time features: a lookup by its name computes them from the context sent.
    private const string RequestModel = """
          - name: fraud_rt
            prediction:
              topic: rt.predictions
              timestamp_field: ts
              fields:
                score: double
                ts: timestamp
            versions:
              - version: v1
                features: [payment:placed_hour, payment:new_country]

        """;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private FeatureRepository Repository()
    {
        var load = FeatureRepositoryLoader.LoadFromText(data.Scenario.RepositoryYaml.Replace("models:\n", RequestViews + "models:\n" + RequestModel, StringComparison.Ordinal), "payments.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        return load.Repository!;
    }

    private FeatureServerOptions Options(int grpcPort = 0, int httpPort = 0) => new()
    {
        Repository = Repository(),
        KeyPrefix = data.Scenario.KeyPrefix,
        GrpcPort = grpcPort,
        HttpPort = httpPort,
    };

    private static double Amount(int i) => 5 + (i * 7.25);

    private static string Country(int i) => i % 3 == 0 ? "FR" : "DE";

    private static long PlacedAt(int i) => 1_765_000_000_000 + (i * 3_600_000L);

    private GetOnlineFeaturesRequest Request(long asOfMs, params string[] features)
    {
        var request = new GetOnlineFeaturesRequest { AsOf = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(asOfMs)) };
        request.Features.AddRange(features);
        for (var i = 0; i <= 60; i++)
        {
            var row = new EntityRow
            {
                JoinKeys =
                {
                    ["user_id"] = "u" + i.ToString(CultureInfo.InvariantCulture),
                    ["merchant_id"] = "m" + (i % 21).ToString(CultureInfo.InvariantCulture),
                },
            };
            row.RequestContext["amount"] = Value.ForNumber(Amount(i));
            row.RequestContext["country"] = Value.ForString(Country(i));
            // Timestamps as RFC 3339 text on even rows and as epoch milliseconds on odd ones.
            row.RequestContext["placed_at"] = i % 2 == 0
                ? Value.ForString(DateTimeOffset.FromUnixTimeMilliseconds(PlacedAt(i)).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture))
                : Value.ForNumber(PlacedAt(i));
            request.Entities.Add(row);
        }

        return request;
    }

    /// <summary>Each request-time value against the one computed here from the reference values of what it reads.</summary>
    private void AssertExpected(GetOnlineFeaturesRequest request, GetOnlineFeaturesResponse response)
    {
        var scenario = data.Scenario;
        var at = (request.AsOf.Seconds * 1000) + (request.AsOf.Nanos / 1_000_000);
        var userStats = scenario.Compiled.FindView("user_stats")!;
        var merchantStats = scenario.Compiled.FindView("merchant_stats")!;
        var present = 0;
        for (var r = 0; r < response.Rows.Count; r++)
        {
            var user = scenario.Reference(userStats, request.Entities[r].JoinKeys["user_id"], at);
            var merchant = scenario.Reference(merchantStats, request.Entities[r].JoinKeys["merchant_id"], at);
            var mean = user[userStats.IndexOf("mean_2h")];
            var last = user[userStats.IndexOf("last_country")];
            var sum = merchant[merchantStats.IndexOf("sum_1h")];
            var amount = Amount(r);
            for (var c = 0; c < response.FeatureNames.Count; c++)
            {
                var expected = response.FeatureNames[c] switch
                {
                    "payment:amount_vs_mean_2h" => mean.Status == Core.Windows.ValueStatus.Present
                        ? CoreValue.Of(amount / mean.Double, mean.EventTimeMs) : CoreValue.Null(mean.Status, mean.EventTimeMs),
                    "payment:new_country" => CoreValue.Of((last.Status == Core.Windows.ValueStatus.Present ? last.Text : "") != Country(r) ? 1L : 0L, last.EventTimeMs),
                    "payment:placed_hour" => CoreValue.Of((long)DateTimeOffset.FromUnixTimeMilliseconds(PlacedAt(r)).Hour, null),
                    "payment:share_of_merchant_1h" => CoreValue.Of(amount / ((sum.Status == Core.Windows.ValueStatus.Present ? sum.Double : 0) + amount), sum.EventTimeMs),
                    var other => throw new InvalidOperationException(other),
                };
                ValueAssert.Equal(expected, response.Rows[r].Values[c], $"{response.FeatureNames[c]} of row {r + 1}");
                present += expected.Status == Core.Windows.ValueStatus.Present ? 1 : 0;
            }
        }

        Assert.True(present > 0);
    }

    [Fact]
    public async Task Request_time_features_over_grpc_in_process_equal_values_computed_from_the_reference()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var client = server.Client();
        foreach (var at in new[] { data.NowMs, data.NowMs + (90 * 60_000), data.NowMs + (25 * 3_600_000) })
        {
            var request = Request(at, "payment");
            var result = await client.GetOnlineFeaturesAsync(request, Ct);
            Assert.Equal(["payment:amount_vs_mean_2h", "payment:new_country", "payment:placed_hour", "payment:share_of_merchant_1h"], result.FeatureNames);
            AssertExpected(request, result.Response);
        }
    }

    [Fact]
    public async Task A_keyed_lookup_with_context_columns_answers_what_the_same_request_built_as_messages_does_unary_and_streamed()
    {
        await using var server = await RunningServer.OnPortsAsync((g, h) => Options(g, h), data.Store.Multiplexer);
        using var client = server.Client();
        var asOf = DateTimeOffset.FromUnixTimeMilliseconds(data.NowMs + (30 * 60_000));
        var users = Enumerable.Range(0, 60).Select(i => "u" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        var amounts = users.Select((_, i) => i % 5 == 0 ? null : (double?)Amount(i)).ToArray();
        var countries = users.Select((_, i) => i % 7 == 0 ? null : Country(i)).ToArray();
        var placed = users.Select((_, i) => DateTimeOffset.FromUnixTimeMilliseconds(PlacedAt(i))).ToArray();
        var first = users.Select((_, i) => i % 2 == 0).ToArray();
        var columns = new FeatureStore.Client.RequestContextColumns(users.Length)
            .Add("amount", amounts).Add("country", (IReadOnlyList<string?>)countries).Add("placed_at", placed).Add("first", first);
        string[] features = ["user_payment", "user_stats:n_1h"];

        var request = new GetOnlineFeaturesRequest { Features = { features }, AsOf = Timestamp.FromDateTimeOffset(asOf) };
        for (var i = 0; i < users.Length; i++)
        {
            var row = new EntityRow { JoinKeys = { ["user_id"] = users[i] } };
            row.RequestContext["amount"] = amounts[i] is { } a ? Value.ForNumber(a) : Value.ForNull();
            row.RequestContext["country"] = countries[i] is { } c ? Value.ForString(c) : Value.ForNull();
            row.RequestContext["placed_at"] = Value.ForNumber(placed[i].ToUnixTimeMilliseconds());
            row.RequestContext["first"] = Value.ForBool(first[i]);
            request.Entities.Add(row);
        }

        var expected = (await client.GetOnlineFeaturesAsync(request, Ct)).Response;
        Assert.Equal(["user_payment:amount_vs_mean_2h", "user_payment:new_country_first", "user_payment:placed_hour", "user_stats:n_1h"], expected.FeatureNames);
        Assert.Contains(expected.Rows, r => r.Values[0].Status == FeatureStatus.Present);
        Assert.Contains(expected.Rows, r => r.Values[0].Status != FeatureStatus.Present);
        Assert.Contains(expected.Rows, r => r.Values[1].Int64Value == 1);

        var keyed = await client.GetOnlineFeaturesAsync(features, "user_id", users, columns, asOf, Ct);
        Assert.Equal(expected, keyed.Response);
        await using var stream = client.OpenLookupStream();
        var streamed = await stream.GetOnlineFeaturesAsync(features, "user_id", users, columns, asOf, Ct);
        Assert.Equal(expected, streamed.Response);

        // A column of the wrong type is refused by the server naming it, as a message's value is.
        var wrong = new FeatureStore.Client.RequestContextColumns(users.Length)
            .Add("amount", (IReadOnlyList<string?>)countries).Add("country", (IReadOnlyList<string?>)countries).Add("placed_at", placed).Add("first", first);
        var refused = await Assert.ThrowsAsync<RpcException>(() => client.GetOnlineFeaturesAsync(features, "user_id", users, wrong, asOf, Ct));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("'amount'", refused.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_registry_lists_request_views_with_their_context_features_and_reads_over_grpc_and_http()
    {
        await using var server = await RunningServer.OnPortsAsync((g, h) => Options(g, h), data.Store.Multiplexer);
        using var client = server.Client();
        using var http = server.Http();
        var definitions = await client.ListDefinitionsAsync(Ct);
        var payment = definitions.RequestViews.Single(v => v.Name == "payment");
        Assert.Equal("payment", payment.Name);
        Assert.Equal(["amount:double", "country:string", "placed_at:timestamp"], payment.Context.Select(c => c.Name + ":" + c.Type));
        Assert.Equal(["payment:amount_vs_mean_2h:double", "payment:new_country:int64", "payment:placed_hour:int64", "payment:share_of_merchant_1h:double"],
            payment.Features.Select(f => f.Reference + ":" + f.ValueType));
        Assert.Equal("hour(placed_at)", payment.Features[2].Expression);
        Assert.Equal(["user_stats:mean_2h", "user_stats:last_country", "merchant_stats:sum_1h"], payment.StoredFeatures);
        Assert.Empty(payment.Reads);
        Assert.Equal(["payment:placed_hour", "payment:new_country"], definitions.Models.Single(m => m.Name == "fraud_rt").Versions[0].Features);

        var mirrored = Google.Protobuf.JsonParser.Default.Parse<ListDefinitionsResponse>(await http.GetStringAsync(new Uri("/v1/registry", UriKind.Relative), Ct));
        Assert.Equal(definitions.RequestViews, mirrored.RequestViews);
        Assert.Equal(["payment", "user_payment"], definitions.RequestViews.Select(v => v.Name));
    }

    [Fact]
    public async Task A_lookup_by_a_model_listing_request_time_features_computes_them_from_the_context()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var client = server.Client();
        var request = Request(data.NowMs);
        request.Model = "fraud_rt";
        var result = await client.GetOnlineFeaturesAsync(request, Ct);
        Assert.Equal(["payment:placed_hour", "payment:new_country"], result.FeatureNames);
        AssertExpected(request, result.Response);

        // Without the context the model's request-time features need, the lookup is refused naming the field.
        request.Entities[0].RequestContext.Remove("placed_at");
        var refused = await Assert.ThrowsAsync<RpcException>(() => client.GetOnlineFeaturesAsync(request, Ct));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("placed_at", refused.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_time_and_stored_features_mixed_answer_in_request_order_over_grpc_and_http_on_real_ports()
    {
        await using var server = await RunningServer.OnPortsAsync((g, h) => Options(g, h), data.Store.Multiplexer);
        var request = Request(data.NowMs + (30 * 60_000), "user_stats:n_1h", "payment:amount_vs_mean_2h", "merchant_stats:mean_1h", "payment:placed_hour");
        using var client = server.Client();
        var overGrpc = await client.GetOnlineFeaturesAsync(request, Ct);
        Assert.Equal(["user_stats:n_1h", "payment:amount_vs_mean_2h", "merchant_stats:mean_1h", "payment:placed_hour"], overGrpc.FeatureNames);

        using var http = server.Http();
        using var body = new StringContent(JsonFormatter.Default.Format(request), System.Text.Encoding.UTF8, "application/json");
        using var answer = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), body, Ct);
        var text = await answer.Content.ReadAsStringAsync(Ct);
        Assert.True(answer.IsSuccessStatusCode, text);
        Assert.Equal(overGrpc.Response, JsonParser.Default.Parse<GetOnlineFeaturesResponse>(text));

        // The stored columns equal a lookup without request-time features.
        var plain = request.Clone();
        plain.Features.Clear();
        plain.Features.Add(["user_stats:n_1h", "merchant_stats:mean_1h"]);
        var stored = await client.GetOnlineFeaturesAsync(plain, Ct);
        for (var r = 0; r < request.Entities.Count; r++)
        {
            Assert.Equal(stored.Response.Rows[r].Values[0], overGrpc.Response.Rows[r].Values[0]);
            Assert.Equal(stored.Response.Rows[r].Values[1], overGrpc.Response.Rows[r].Values[2]);
        }
    }

    [Fact]
    public async Task Hand_written_json_sends_numbers_text_and_timestamps_as_json_values()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var http = server.Http();
        var json = $$$"""
            {"features": ["payment:placed_hour", "payment:new_country"], "as_of": "{{{DateTimeOffset.FromUnixTimeMilliseconds(data.NowMs):yyyy-MM-dd'T'HH:mm:ss'Z'}}}",
             "entities": [{"join_keys": {"user_id": "nobody", "merchant_id": "m1"}, "request_context": {"amount": 12.5, "country": "FR", "placed_at": "2026-12-07T18:30:00Z"}}]}
            """;
        using var body = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var answer = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), body, Ct);
        var text = await answer.Content.ReadAsStringAsync(Ct);
        Assert.True(answer.IsSuccessStatusCode, text);
        var response = JsonParser.Default.Parse<GetOnlineFeaturesResponse>(text);
        Assert.Equal(18, response.Rows[0].Values[0].Int64Value);
        // A user never seen: the stored country is NOT_FOUND, read as null and coalesced to "".
        Assert.Equal((FeatureStatus.Present, 1L), (response.Rows[0].Values[1].Status, response.Rows[0].Values[1].Int64Value));
    }

    [Theory]
    [InlineData("missing", "no request context field 'country'")]
    [InlineData("text amount", "request context field 'amount' (request view 'payment') is double: it must be a number, not the string '12'")]
    [InlineData("bad time", "request context field 'placed_at' (request view 'payment') is timestamp")]
    [InlineData("list", "request context field 'country' (request view 'payment') is string: it must be a string, not a list or a structure")]
    public async Task A_missing_or_mistyped_context_field_is_invalid_argument_over_grpc_and_400_over_http_naming_it(string fault, string message)
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        var request = Request(data.NowMs, "payment:amount_vs_mean_2h", "payment:new_country");
        var row = request.Entities[3];
        switch (fault)
        {
            case "missing":
                row.RequestContext.Remove("country");
                break;
            case "text amount":
                row.RequestContext["amount"] = Value.ForString("12");
                break;
            case "bad time":
                row.RequestContext["placed_at"] = Value.ForString("yesterday");
                break;
            default:
                row.RequestContext["country"] = Value.ForList(Value.ForString("FR"));
                break;
        }

        using var client = server.Client();
        var error = await Assert.ThrowsAsync<RpcException>(() => client.GetOnlineFeaturesAsync(request, Ct));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("entity row 4", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(message, error.Status.Detail, StringComparison.Ordinal);

        using var http = server.Http();
        using var body = new StringContent(JsonFormatter.Default.Format(request), System.Text.Encoding.UTF8, "application/json");
        using var answer = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), body, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
        using var problem = System.Text.Json.JsonDocument.Parse(await answer.Content.ReadAsStringAsync(Ct));
        Assert.Equal("INVALID_ARGUMENT", problem.RootElement.GetProperty("code").GetString());
        Assert.Contains(message, problem.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_request_time_feature_is_invalid_argument_listing_the_view_s_features()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var client = server.Client();
        var error = await Assert.ThrowsAsync<RpcException>(() => client.GetOnlineFeaturesAsync(Request(data.NowMs, "payment:amount_vs_mean"), Ct));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("unknown feature 'amount_vs_mean' in request view 'payment' (features: amount_vs_mean_2h,", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_lookup_without_request_time_features_needs_no_context()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var client = server.Client();
        var request = new GetOnlineFeaturesRequest { Features = { "user_stats:n_all" }, Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } };
        Assert.Equal(1, (await client.GetOnlineFeaturesAsync(request, Ct)).RowCount);
    }
}
