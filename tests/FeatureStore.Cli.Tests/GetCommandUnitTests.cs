using FeatureStore.Cli.Commands;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;

namespace FeatureStore.Cli.Tests;

/// <summary>How <c>get</c> shows each status.</summary>
public sealed class GetCommandUnitTests
{
    [Fact]
    public void A_building_feature_reads_building_in_the_table_and_in_json()
    {
        var request = new GetOnlineFeaturesRequest { Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } };
        var response = new GetOnlineFeaturesResponse { FeatureNames = { "v:new", "v:kept" }, EvaluatedAt = new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = 1_700_000_000 } };
        response.Rows.Add(new FeatureRow { Values = { new FeatureValue { Status = FeatureStatus.Building }, new FeatureValue { Status = FeatureStatus.Present, Int64Value = 3 } } });
        var result = new OnlineFeatureSet(response);

        Assert.Equal("(building: not served yet)", GetCommand.Cell(response.Rows[0].Values[0]));
        Assert.Contains("u1", GetCommand.ToTable(request, result), StringComparison.Ordinal);
        Assert.Contains("(building: not served yet)", GetCommand.ToTable(request, result), StringComparison.Ordinal);
        Assert.Contains("\"status\": \"BUILDING\"", GetCommand.ToJson(request, result), StringComparison.Ordinal);
    }

    [Fact]
    public void Lists_and_top_k_counts_show_as_json_in_the_table_and_nest_in_json()
    {
        var request = new GetOnlineFeaturesRequest { Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } };
        var response = new GetOnlineFeaturesResponse { FeatureNames = { "v:last", "v:top" }, EvaluatedAt = new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = 1_700_000_000 } };
        var counts = new ValueCounts();
        counts.Counts.Add("m9", 7);
        counts.Counts.Add("m1", 2);
        response.Rows.Add(new FeatureRow
        {
            Values =
            {
                new FeatureValue { Status = FeatureStatus.Present, DoubleListValue = new DoubleList { Values = { 2.5, 10 } } },
                new FeatureValue { Status = FeatureStatus.Present, CountsValue = counts },
            },
        });
        var result = new OnlineFeatureSet(response);

        Assert.Equal("[2.5,10]", GetCommand.Cell(response.Rows[0].Values[0]));
        Assert.Equal("{\"m9\":7,\"m1\":2}", GetCommand.Cell(response.Rows[0].Values[1]));
        var json = GetCommand.ToJson(request, result);
        using var parsed = System.Text.Json.JsonDocument.Parse(json); // the raw lists and objects leave valid JSON
        Assert.Contains("[2.5,10]", json, StringComparison.Ordinal);
        Assert.Contains("{\"m9\":7,\"m1\":2}", json, StringComparison.Ordinal);
    }

    [Fact]
    public void An_int_list_shows_as_a_json_array_of_integers_in_the_table_and_in_json()
    {
        var request = new GetOnlineFeaturesRequest { Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } };
        var response = new GetOnlineFeaturesResponse { FeatureNames = { "v:quantities" }, EvaluatedAt = new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = 1_700_000_000 } };
        response.Rows.Add(new FeatureRow { Values = { new FeatureValue { Status = FeatureStatus.Present, Int64ListValue = new Int64List { Values = { 9_007_199_254_740_993, -3 } } } } });
        var result = new OnlineFeatureSet(response);

        Assert.Equal("[9007199254740993,-3]", GetCommand.Cell(response.Rows[0].Values[0]));
        var json = GetCommand.ToJson(request, result);
        using var parsed = System.Text.Json.JsonDocument.Parse(json);
        Assert.Contains("[9007199254740993,-3]", json, StringComparison.Ordinal);
    }

    [Fact]
    public void A_build_line_gives_the_percent_of_events_read_or_why_it_waits()
    {
        var group = new StateGroupInfo { Building = true, Features = { "amount_min_1h", "txn_count_2h" }, BuildState = "rebuilding", RowsDone = 504_000, RowsTotal = 1_200_000 };
        Assert.Equal("user_txn_stats: building amount_min_1h, txn_count_2h (42% of 1.2M events)", GetCommand.BuildingLine("user_txn_stats", group));
        var waiting = new StateGroupInfo { Building = true, Features = { "n" }, BuildState = "waiting", BuildReason = "the event log is behind on partition 2" };
        Assert.Equal("v: building n (waiting: the event log is behind on partition 2)", GetCommand.BuildingLine("v", waiting));
        Assert.Equal("v: building n (not started)", GetCommand.BuildingLine("v", new StateGroupInfo { Building = true, Features = { "n" } }));
        Assert.Equal(["950", "12.3k", "1.2M", "3G"], new[] { 950L, 12_340, 1_200_000, 3_000_000_000 }.Select(GetCommand.Count));
    }
}
