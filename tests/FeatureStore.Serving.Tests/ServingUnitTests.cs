using FeatureStore.Contracts.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using FeatureStore.Serving.Internal;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Grpc.Core;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;

namespace FeatureStore.Serving.Tests;

public sealed class ServingUnitTests
{
    [Fact]
    public void Api_keys_parse_with_and_without_a_view_list()
    {
        Assert.Equal(new ApiKey("secret"), ApiKey.Parse("secret"));
        var limited = ApiKey.Parse(" k1 : user_stats, user_spend ");
        Assert.Equal("k1", limited.Key);
        Assert.Equal(["user_stats", "user_spend"], limited.Views);
        Assert.Throws<ArgumentException>(() => ApiKey.Parse(":user_stats"));
    }

    [Fact]
    public void Api_keys_come_from_x_api_key_or_a_bearer_token()
    {
        Assert.Equal("a", ApiKeyPolicy.FromHeaders("a", "Bearer b"));
        Assert.Equal("b", ApiKeyPolicy.FromHeaders(null, "Bearer b"));
        Assert.Null(ApiKeyPolicy.FromHeaders("", "Basic xyz"));
        var policy = new ApiKeyPolicy([new ApiKey("k", ["v"])]);
        Assert.Equal(["v"], policy.Authenticate("k")!);
        Assert.Equal(StatusCode.Unauthenticated, Assert.Throws<LookupException>(() => policy.Authenticate("K")).Status);
        Assert.Null(new ApiKeyPolicy([]).Authenticate(null));
    }

    [Theory]
    [InlineData(1_700_000_000_123L, 1_700_000_000L, 123_000_000)]
    [InlineData(0L, 0L, 0)]
    [InlineData(-1L, -1L, 999_000_000)]
    [InlineData(-1_000L, -1L, 0)]
    public void Event_times_become_protobuf_timestamps_with_nanos_never_negative(long ms, long seconds, int nanos)
    {
        var wire = LookupAnswer.ToWire(CoreValue.Of(2.5, ms));
        Assert.Equal((seconds, nanos), (wire.EventTimestamp.Seconds, wire.EventTimestamp.Nanos));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(ms), wire.EventTimestamp.ToDateTimeOffset());
    }

    [Fact]
    public void Values_keep_their_type_and_status()
    {
        Assert.Equal(7, LookupAnswer.ToWire(CoreValue.Of(7L, 1)).Int64Value);
        Assert.Equal("FR", LookupAnswer.ToWire(CoreValue.Of("FR", 1)).StringValue);
        var missing = LookupAnswer.ToWire(CoreValue.Null(Core.Windows.ValueStatus.NotFound));
        Assert.Equal((FeatureStatus.NotFound, FeatureValue.ValueOneofCase.None), (missing.Status, missing.ValueCase));
        Assert.Null(missing.EventTimestamp);
    }

    [Fact]
    public void An_int_list_travels_as_int64s_over_the_wire_the_client_and_json()
    {
        var wire = LookupAnswer.ToWire(CoreValue.OfInt64s([9_007_199_254_740_993, -3], 1));
        Assert.Equal(FeatureValue.ValueOneofCase.Int64ListValue, wire.ValueCase);
        Assert.Equal([9_007_199_254_740_993, -3], wire.Int64ListValue.Values);

        // JSON writes int64s as strings (protobuf's JSON mapping), so no digit is lost to a double.
        Assert.Contains("\"int64ListValue\": { \"values\": [ \"9007199254740993\", \"-3\" ] }", Google.Protobuf.JsonFormatter.Default.Format(wire), StringComparison.Ordinal);

        var values = System.Buffers.ArrayPool<CoreValue>.Shared.Rent(1);
        values[0] = CoreValue.OfInt64s([9_007_199_254_740_993, -3, 0], 1L);
        var answer = new LookupAnswer(["v:quantities"], [0], values, 1, 1, 1_700_000_000_999L, 1);
        var written = LookupAnswerEncoding.Encode(answer);
        Assert.Equal(answer.ToResponse().ToByteArray(), written);
        answer.Release();
        var received = Client.OnlineFeatureSet.FromWire(new System.Buffers.ReadOnlySequence<byte>(written));
        Assert.Equal([9_007_199_254_740_993, -3, 0], received.GetInt64s(0, "v:quantities")!);
        Assert.Null(received.GetDoubles(0, "v:quantities"));
    }

    [Fact]
    public void A_building_feature_goes_out_as_BUILDING_with_no_value_and_the_client_reads_no_value()
    {
        var wire = LookupAnswer.ToWire(CoreValue.Null(Core.Windows.ValueStatus.Building));
        Assert.Equal((FeatureStatus.Building, 6, FeatureValue.ValueOneofCase.None), (wire.Status, (int)wire.Status, wire.ValueCase));
        Assert.Contains("\"status\": \"BUILDING\"", Google.Protobuf.JsonFormatter.Default.Format(wire), StringComparison.Ordinal);
        Assert.Equal(FeatureStatus.Inexact, LookupAnswer.WireStatus(Core.Windows.ValueStatus.Inexact));

        var values = System.Buffers.ArrayPool<CoreValue>.Shared.Rent(2); // the answer returns it to the pool
        values[0] = CoreValue.Null(Core.Windows.ValueStatus.Building);
        values[1] = CoreValue.Of(3L, 1L);
        var answer = new LookupAnswer(["v:new", "v:kept"], [0, 1], values, 1, 2, 1_700_000_000_999L, 1);
        var written = LookupAnswerEncoding.Encode(answer);
        Assert.Equal(answer.ToResponse().ToByteArray(), written);
        answer.Release();

        var received = Client.OnlineFeatureSet.FromWire(new System.Buffers.ReadOnlySequence<byte>(written));
        Assert.Equal(FeatureStatus.Building, received[0, "v:new"].Status);
        Assert.Equal((null, null, (string?)null), (received.GetDouble(0, "v:new"), received.GetInt64(0, "v:new"), received.GetString(0, "v:new")));
        Assert.Equal(3, received.GetInt64(0, "v:kept"));
    }

    [Theory]
    [InlineData(0L, 3)]
    [InlineData(42L, 0)]
    [InlineData(-7L, 2)]
    public void Answers_are_written_as_the_generated_response_writes_them(long version, int rows)
    {
        CoreValue[] cells =
        [
            CoreValue.Of(2.5, 1_700_000_000_123L), CoreValue.Of(0.0, 0L), CoreValue.Of(-1e300, -1L),
            CoreValue.Of(7L, 1_000L), CoreValue.Of(-3L, null), CoreValue.Of(long.MaxValue, 1L),
            CoreValue.Of("FR", 5L), CoreValue.Of("", null), CoreValue.Of("zürich ✓ 日本", 999L),
            CoreValue.Null(Core.Windows.ValueStatus.NullValue, 12L), CoreValue.Null(Core.Windows.ValueStatus.NotFound),
            CoreValue.Null(Core.Windows.ValueStatus.OutsideTtl, -1_000L), new(Core.Windows.ValueStatus.Present, Core.Windows.ValueKind.String, 0, 0, null, null),
            CoreValue.OfStrings(["FR", "", "zürich ✓ 日本"], 3L), CoreValue.OfDoubles([1.5, -0.0, 1e300], null), CoreValue.OfDoubles([], 4L),
            CoreValue.OfCounts([new("m1", 3), new("", 2), new("日本", 1)], 5L), CoreValue.OfStrings([], null),
            CoreValue.OfInt64s([5, -1, long.MinValue, 0, long.MaxValue], 6L), CoreValue.OfInt64s([], null),
        ];
        Assert.True(cells.Length <= 20);
        const int Stride = 20;
        var values = System.Buffers.ArrayPool<CoreValue>.Shared.Rent(Math.Max(1, rows * Stride));
        for (var e = 0; e < rows; e++)
        {
            for (var c = 0; c < cells.Length; c++)
            {
                values[(e * Stride) + c] = cells[(c + e) % cells.Length];
            }
        }

        string[] names = [.. Enumerable.Range(0, cells.Length).Select(c => $"view_{c % 3}:feature_{c}é")];
        var offsets = Enumerable.Range(0, cells.Length).Reverse().ToArray(); // columns need not follow the stored order
        var answer = new LookupAnswer(names, offsets, values, rows, Stride, 1_700_000_000_999L, version);

        var expected = answer.ToResponse();
        var written = LookupAnswerEncoding.Encode(answer);

        Assert.Equal(expected.ToByteArray(), written);
        Assert.Equal(expected, GetOnlineFeaturesResponse.Parser.ParseFrom(written));
        answer.Release();
        Assert.Throws<ObjectDisposedException>(() => answer.Value(0, 0));
    }

    [Fact]
    public void The_client_reads_the_encoded_answer_as_protobuf_does()
    {
        var response = new GetOnlineFeaturesResponse
        {
            FeatureNames = { "v:a", "v:b", "v:c", "v:d", "v:a" },
            EvaluatedAt = new Timestamp { Seconds = 1_700_000_000, Nanos = 5_000_000 },
            RegistryVersion = 9,
        };
        FeatureValue[] cells =
        [
            new() { Status = FeatureStatus.Present, DoubleValue = -2.5, EventTimestamp = new Timestamp { Seconds = -3, Nanos = 1 } },
            new() { Status = FeatureStatus.Present, Int64Value = -4 },
            new() { Status = FeatureStatus.Present, StringValue = "zürich ✓" },
            new() { Status = FeatureStatus.NullValue },
            new() { Status = FeatureStatus.OutsideTtl, Int64Value = 0 },
            new() { Status = FeatureStatus.Present, BoolValue = true },
            new() { Status = (FeatureStatus)17, DoubleValue = 1 },
        ];
        for (var e = 0; e < 4; e++)
        {
            var row = new FeatureRow();
            for (var c = 0; c < 5; c++)
            {
                row.Values.Add(cells[(e + c) % cells.Length]);
            }

            response.Rows.Add(row);
        }

        var bytes = response.ToByteArray();
        var received = Client.OnlineFeatureSet.FromWire(new System.Buffers.ReadOnlySequence<byte>(bytes));
        var built = new Client.OnlineFeatureSet(response);

        Assert.Equal(built.FeatureNames, received.FeatureNames);
        Assert.Equal((built.RowCount, built.EvaluatedAt), (received.RowCount, received.EvaluatedAt));
        foreach (var name in new[] { "v:a", "v:b", "v:c", "v:d" })
        {
            for (var e = 0; e < built.RowCount; e++)
            {
                Assert.Equal(built.GetDouble(e, name), received.GetDouble(e, name));
                Assert.Equal(built.GetInt64(e, name), received.GetInt64(e, name));
                Assert.Equal(built.GetString(e, name), received.GetString(e, name));
            }
        }

        Assert.Equal(response, received.Response);
        Assert.Same(received.Response, received.Response);
        Assert.Null(received.GetStrings(0, "v:a"));
        Assert.Equal(cells[1], received[0, "v:b"]);
        Assert.Throws<ArgumentOutOfRangeException>(() => received.GetDouble(4, "v:a"));
        Assert.Throws<KeyNotFoundException>(() => received.GetDouble(0, "v:e"));
        Assert.Throws<InvalidDataException>(() => Client.OnlineFeatureSet.FromWire(new System.Buffers.ReadOnlySequence<byte>(bytes.AsMemory(0, bytes.Length - 3))));
    }

    [Fact]
    public void Lists_and_counts_reach_the_client_in_order_and_read_as_nothing_else()
    {
        var response = new GetOnlineFeaturesResponse { FeatureNames = { "v:last", "v:amounts", "v:top", "v:empty" } };
        var counts = new ValueCounts();
        counts.Counts.Add("m9", 7);
        counts.Counts.Add("m1", 7);
        counts.Counts.Add("m3", 2);
        response.Rows.Add(new FeatureRow
        {
            Values =
            {
                new FeatureValue { Status = FeatureStatus.Present, StringListValue = new StringList { Values = { "b", "a", "b" } } },
                new FeatureValue { Status = FeatureStatus.Present, DoubleListValue = new DoubleList { Values = { 2.5, -1 } } },
                new FeatureValue { Status = FeatureStatus.Present, CountsValue = counts },
                new FeatureValue { Status = FeatureStatus.NullValue },
            },
        });
        var received = Client.OnlineFeatureSet.FromWire(new System.Buffers.ReadOnlySequence<byte>(response.ToByteArray()));

        Assert.Equal(["b", "a", "b"], received.GetStrings(0, "v:last")!);
        Assert.Equal([2.5, -1], received.GetDoubles(0, "v:amounts")!);
        Assert.Equal([new("m9", 7L), new("m1", 7L), new KeyValuePair<string, long>("m3", 2)], received.GetCounts(0, "v:top")!);
        Assert.Equal((null, null, (string?)null), (received.GetDouble(0, "v:last"), received.GetInt64(0, "v:top"), received.GetString(0, "v:amounts")));
        Assert.Null(received.GetDoubles(0, "v:last"));
        Assert.Null(received.GetCounts(0, "v:empty"));
    }

    [Fact]
    public void References_resolve_views_features_and_models_once()
    {
        var served = new ServingRepository(new PaymentsScenario("t").Repository, null, 3, null);
        Assert.Equal(6, served.Resolve("user_stats")!.Length);
        Assert.Equal("user_spend:sd_2h", served.Resolve("user_spend:sd_2h")!.Single().Reference);
        Assert.Null(served.Resolve("user_stats:"));
        Assert.Equal(["user_stats:n_1h", "user_spend:sum_2h", "merchant_stats:mean_1h"], served.ResolveModel("fraud", null)!.Select(c => c.Reference));
        Assert.Equal(2, served.ResolveModel("fraud@v1", null)!.Length);
        Assert.Null(served.ResolveModel("fraud@v3", null));
        Assert.Equal(3, served.Definitions.Repository.Version);
    }

    [Fact]
    public void A_changed_view_reads_each_feature_from_its_group_slot_and_a_building_one_from_none()
    {
        var first = Core.Definitions.FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("t"), "t.yaml").Repository!;
        var yaml = PaymentsRepository.Yaml("t");
        // merchant_stats: sum_1h removed (its slot dies), max_1h added first (building).
        var changed = yaml.Replace(
            "      - { name: n_1h, aggregation: count, window: 1h }\n      - { name: sum_1h, aggregation: sum, field: amount, window: 1h }\n",
            "      - { name: max_1h, aggregation: max, field: amount, window: 1h }\n      - { name: n_1h, aggregation: count, window: 1h }\n",
            StringComparison.Ordinal).Replace("merchant_stats:sum_1h", "merchant_stats:mean_1h", StringComparison.Ordinal);
        Assert.NotEqual(yaml, changed);
        var next = Core.Definitions.FeatureRepositoryLoader.LoadFromText(changed, "t.yaml").Repository!;
        var layout = Core.Definitions.StateLayout.Next(first, Core.Definitions.StateLayout.Default(first), next, 2);
        var served = new ServingRepository(next, layout, 2, null);
        var v = Array.FindIndex(served.Views, x => x.Name == "merchant_stats");
        var reading = served.Reading[v];

        Assert.False(reading.Direct);
        Assert.True(reading.Building);
        Assert.Equal([-1, 0, 0], reading.GroupOf); // max_1h, n_1h, mean_1h
        Assert.Equal([1, -1, 2], reading.FeatureOfSlot[0]); // n_1h, the dead sum_1h, mean_1h
        Assert.Equal([0], reading.FeatureOfSlot[1]);
        Assert.True(reading.Reads(ViewReading.Bit(0), 0));
        Assert.False(reading.Reads(ViewReading.Bit(1), 1)); // a building group is never read
        Assert.True(served.Building);
        Assert.True(served.Reading[Array.FindIndex(served.Views, x => x.Name == "user_stats")].Direct);
    }

    [Theory]
    [InlineData(StatusCode.InvalidArgument, 400, "INVALID_ARGUMENT")]
    [InlineData(StatusCode.Unauthenticated, 401, "UNAUTHENTICATED")]
    [InlineData(StatusCode.PermissionDenied, 403, "PERMISSION_DENIED")]
    [InlineData(StatusCode.ResourceExhausted, 413, "RESOURCE_EXHAUSTED")]
    [InlineData(StatusCode.Unavailable, 503, "UNAVAILABLE")]
    public void Statuses_map_to_http_and_their_protocol_names(StatusCode status, int http, string name)
    {
        Assert.Equal(http, new LookupException(status, "x").HttpStatus);
        Assert.Equal(name, StatusNames.Of(status));
    }

    [Fact]
    public void A_burst_of_lookups_draws_a_latency_line_over_time_not_one_point()
    {
        // 330 lookups in 660 ms, as the demo makes them: a series of many steps, each with its own percentiles.
        var samples = Enumerable.Range(0, 330).Select(i => (AtMs: 1_000_000L + (i * 2), Ms: 0.1 + (i % 7))).ToList();
        var (bucket, series) = FeatureStore.Serving.Internal.Dashboard.DashboardData.LatencySeries(samples);
        Assert.Equal(25, bucket);
        Assert.InRange(series.Count, 20, FeatureStore.Serving.Internal.Dashboard.DashboardData.MaxLatencyPoints);
        Assert.Equal(330, series.Sum(p => p.Count));
        Assert.Equal(series.Select(p => p.TMs).Order(), series.Select(p => p.TMs));

        // Lookups spread over ten minutes: 10 s steps, at most the chart's width of points.
        var spread = Enumerable.Range(0, 600).Select(i => (AtMs: i * 1000L, Ms: 1.0)).ToList();
        var (wide, points) = FeatureStore.Serving.Internal.Dashboard.DashboardData.LatencySeries(spread);
        Assert.Equal(10_000, wide);
        Assert.Equal(60, points.Count);

        Assert.Empty(FeatureStore.Serving.Internal.Dashboard.DashboardData.LatencySeries([]).Series);
    }
}
