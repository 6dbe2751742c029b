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
}
