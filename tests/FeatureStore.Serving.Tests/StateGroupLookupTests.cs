using System.Buffers;
using System.Text.Json;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Google.Protobuf;
using StackExchange.Redis;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;
using WireValue = FeatureStore.Contracts.V1.FeatureValue;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// Lookups of a view kept in several state groups (registry versions with layouts): a feature added by a
/// change answers BUILDING while its group is built, the unchanged ones keep their values, and after the
/// switch every feature is read from its own group; the build's progress shows in /metrics, the dashboard and
/// the registry answers.
/// </summary>
[Trait("Category", "Integration")]
public sealed class StateGroupLookupTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private const string View = "merchant_stats";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task ApplyAsync(RegistryStore store, string project, string yaml)
    {
        var load = FeatureRepositoryLoader.LoadFromText(yaml, "r.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        await store.ApplyAsync(project, load.Repository!.ContentHash(), load.Repository.ToCanonicalJson(), yaml, Ct);
    }

    /// <summary>A group's state of one entity as ingest encodes it, from (time, amount) events.</summary>
    internal static byte[] Encode(IReadOnlyList<WindowedFeature> features, IReadOnlyList<int> inputSlots, long ttlMs, IEnumerable<(long Time, double Amount)> events)
    {
        var state = new ViewWindowState(features, ttlMs);
        var inputs = new FeatureInput[features.Count];
        var sequence = 0L;
        foreach (var (time, amount) in events)
        {
            for (var s = 0; s < inputs.Length; s++)
            {
                inputs[s] = inputSlots[s] < 0 ? FeatureInput.Absent : FeatureInput.OfNumber(amount);
            }

            state.Add(time, sequence++, inputs);
        }

        var buffer = new ArrayBufferWriter<byte>();
        state.WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The whole view's values at <paramref name="atMs"/>, by the §4 implementation over one state of every feature.</summary>
    private static CoreValue[] Reference(CompiledView view, IEnumerable<(long Time, double Amount)> events, long atMs)
    {
        var state = ViewWindowState.ReadFrom(Encode(view.Features, view.InputSlots, view.TtlMs, events), view.Features, view.TtlMs);
        var values = new CoreValue[view.Features.Count];
        state.Evaluate(atMs, values);
        return values;
    }

    private static void AssertValue(CoreValue expected, WireValue actual, string name)
    {
        Assert.True(expected.Status == ValueStatus.Present, $"{name}: the reference has no value");
        Assert.Equal(FeatureStatus.Present, actual.Status);
        if (expected.Kind == ValueKind.Int64)
        {
            Assert.Equal(expected.Int64, actual.Int64Value);
        }
        else
        {
            Assert.Equal(expected.Double, actual.DoubleValue, 9);
        }
    }

    [Fact]
    public async Task A_feature_added_by_a_change_answers_building_until_its_group_is_switched_in_then_every_group_serves()
    {
        var project = "g" + Guid.NewGuid().ToString("N")[..8];
        var prefix = "p" + Guid.NewGuid().ToString("N")[..8];
        var yaml = new PaymentsScenario("payments").RepositoryYaml.Replace("project: stest", "project: " + project, StringComparison.Ordinal);
        // v2 adds max_1h first in the view: its index in the view (0) is not its slot's in the groups.
        var yaml2 = yaml.Replace(
            "      - { name: n_1h, aggregation: count, window: 1h }\n      - { name: sum_1h",
            "      - { name: max_1h, aggregation: max, field: amount, window: 1h }\n      - { name: n_1h, aggregation: count, window: 1h }\n      - { name: sum_1h",
            StringComparison.Ordinal);
        Assert.NotEqual(yaml, yaml2);
        var db = redis.Connection.Database;
        var store = new RegistryStore(db, prefix);
        var keys = new OnlineKeys(prefix, project);
        var atMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        (long Time, double Amount)[] events = [(atMs - (50 * 60_000), 12.5), (atMs - (20 * 60_000), 40), (atMs - (5 * 60_000), 7.25)];

        await ApplyAsync(store, project, yaml);
        var v1 = (await store.LoadCurrentAsync(project))!.Compile().FindView(View)!;
        var kept = Assert.Single(v1.Groups);
        await db.HashSetAsync(keys.Entity(kept, "m1"), OnlineKeys.PartitionField("payments", 0), Encode(kept.Features, kept.InputSlots, v1.TtlMs, events));

        await using var server = await RunningServer.InProcessAsync(new FeatureServerOptions { Project = project, KeyPrefix = prefix }, redis.Connection.Multiplexer);
        using var client = server.Client();
        using var http = server.Http();
        var request = new GetOnlineFeaturesRequest
        {
            Features = { View },
            Entities = { new EntityRow { JoinKeys = { ["merchant_id"] = "m1" } } },
            AsOf = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(atMs)),
        };
        await Eventually.TrueAsync(async () => (await client.ListDefinitionsAsync(Ct)).Repository.Version == 1, TimeSpan.FromSeconds(10), "version 1 served", Ct);
        var before = (await client.GetOnlineFeaturesAsync(request, Ct)).Response;
        var reference1 = Reference(v1, events, atMs);
        for (var f = 0; f < reference1.Length; f++)
        {
            AssertValue(reference1[f], before.Rows[0].Values[f], before.FeatureNames[f]);
        }

        // v2: the new feature in a group of its own, building; its progress as the rebuild job would write it.
        await ApplyAsync(store, project, yaml2);
        var v2 = (await store.LoadCurrentAsync(project))!.Compile().FindView(View)!;
        Assert.Equal(2, v2.Groups.Count);
        Assert.Equal(kept.Signature, v2.Groups[0].Signature);
        var building = v2.BuildingGroup!;
        await db.HashSetAsync(keys.Build(View, building.Signature),
            [new("state", "rebuilding"), new("rows_done", 42), new("rows_total", 100), new("updated_ms", atMs)]);
        await Eventually.TrueAsync(async () => (await client.ListDefinitionsAsync(Ct)).Repository.Version == 2, TimeSpan.FromSeconds(10), "version 2 served", Ct);

        var names = new[] { "max_1h", "n_1h", "sum_1h", "mean_1h" }.Select(n => View + ":" + n).ToArray();
        var reference2 = Reference(v2, events, atMs);
        void AssertBuilding(GetOnlineFeaturesResponse response)
        {
            Assert.Equal(names, response.FeatureNames);
            var max = response.Rows[0].Values[0];
            Assert.Equal(FeatureStatus.Building, max.Status);
            Assert.Equal(WireValue.ValueOneofCase.None, max.ValueCase);
            for (var f = 1; f < names.Length; f++)
            {
                AssertValue(reference2[f], response.Rows[0].Values[f], names[f]);
            }
        }

        var unary = await client.GetOnlineFeaturesAsync(request, Ct);
        AssertBuilding(unary.Response);
        Assert.Null(unary.GetDouble(0, names[0]));
        Assert.Equal(FeatureStatus.Building, unary[0, names[0]].Status);
        Assert.Equal(reference2[2].Double, unary.GetDouble(0, names[2])!.Value, 9);
        await using (var stream = client.OpenLookupStream())
        {
            AssertBuilding((await stream.GetOnlineFeaturesAsync(request, Ct)).Response);
        }

        using (var body = new StringContent(JsonFormatter.Default.Format(request), System.Text.Encoding.UTF8, "application/json"))
        using (var answer = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), body, Ct))
        {
            var text = await answer.Content.ReadAsStringAsync(Ct);
            Assert.True(answer.IsSuccessStatusCode, text);
            Assert.Contains("\"status\": \"BUILDING\"", text, StringComparison.Ordinal);
            AssertBuilding(JsonParser.Default.Parse<GetOnlineFeaturesResponse>(text));
        }

        // A lookup of the building feature alone reads nothing and answers BUILDING; of the kept ones alone, their values.
        var alone = await client.GetOnlineFeaturesAsync(new GetOnlineFeaturesRequest { Features = { names[0] }, Entities = { request.Entities }, AsOf = request.AsOf }, Ct);
        Assert.Equal(FeatureStatus.Building, alone.Response.Rows[0].Values[0].Status);

        // Its group's state written while it builds is not served before the switch.
        await db.HashSetAsync(keys.Entity(building, "m1"), OnlineKeys.RebuildField, Encode(building.Features, building.InputSlots, v2.TtlMs, events));
        AssertBuilding((await client.GetOnlineFeaturesAsync(request, Ct)).Response);

        // The progress: /metrics, the dashboard, the registry (gRPC and HTTP).
        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
        Assert.Contains($"featurestore_serving_build_progress{{view=\"{View}\",group=\"{building.Signature}\"}} 0.42", metrics, StringComparison.Ordinal);
        Assert.Matches("(?m)^featurestore_serving_building_groups [1-9]", metrics);
        var overview = JsonDocument.Parse(await http.GetStringAsync(new Uri("/v1/dashboard/overview", UriKind.Relative), Ct)).RootElement;
        var groups = overview.GetProperty("views").EnumerateArray().Single(v => v.GetProperty("name").GetString() == View).GetProperty("groups").EnumerateArray().ToList();
        Assert.Equal([false, true], groups.Select(g => g.GetProperty("building").GetBoolean()));
        Assert.Equal(["n_1h", "sum_1h", "mean_1h"], groups[0].GetProperty("features").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(["max_1h"], groups[1].GetProperty("features").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(0.42, groups[1].GetProperty("progress").GetDouble(), 9);
        Assert.Equal(("rebuilding", 42L, 100L), (groups[1].GetProperty("state").GetString(), groups[1].GetProperty("rows_done").GetInt64(), groups[1].GetProperty("rows_total").GetInt64()));
        var described = await client.Registry.DescribeFeatureViewAsync(new DescribeRequest { Name = View }, cancellationToken: Ct);
        Assert.Equal(2, described.StateGroups.Count);
        Assert.Equal((true, "rebuilding", 42L, 100L), (described.StateGroups[1].Building, described.StateGroups[1].BuildState, described.StateGroups[1].RowsDone, described.StateGroups[1].RowsTotal));
        Assert.Equal(["max_1h"], described.StateGroups[1].Features);
        var registryJson = await http.GetStringAsync(new Uri("/v1/registry", UriKind.Relative), Ct);
        Assert.Contains("\"buildState\": \"rebuilding\"", registryJson, StringComparison.Ordinal);

        // The switch: both groups serve, each feature from its own.
        Assert.Equal(3, await store.SwitchAsync(project, View, building.Signature, Ct));
        await Eventually.TrueAsync(async () => (await client.ListDefinitionsAsync(Ct)).Repository.Version == 3, TimeSpan.FromSeconds(10), "version 3 served", Ct);
        var after = (await client.GetOnlineFeaturesAsync(request, Ct)).Response;
        Assert.Equal(names, after.FeatureNames);
        for (var f = 0; f < names.Length; f++)
        {
            AssertValue(reference2[f], after.Rows[0].Values[f], names[f]);
        }

        Assert.Equal(40, after.Rows[0].Values[0].DoubleValue);
        await using (var stream = client.OpenLookupStream())
        {
            Assert.Equal(after, (await stream.GetOnlineFeaturesAsync(request, Ct)).Response);
        }

        var served = await client.Registry.DescribeFeatureViewAsync(new DescribeRequest { Name = View }, cancellationToken: Ct);
        Assert.All(served.StateGroups, g => Assert.False(g.Building));
        metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
        Assert.DoesNotContain($"featurestore_serving_build_progress{{view=\"{View}\",group=\"{building.Signature}\"}}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_of_a_file_applied_with_a_changed_view_reads_the_groups_of_that_version_and_follows_their_switch()
    {
        var project = "f" + Guid.NewGuid().ToString("N")[..8];
        var prefix = "p" + Guid.NewGuid().ToString("N")[..8];
        var yaml = new PaymentsScenario("payments").RepositoryYaml.Replace("project: stest", "project: " + project, StringComparison.Ordinal);
        var yaml2 = yaml.Replace(
            "      - { name: mean_1h, aggregation: mean, field: amount, window: 1h }\n",
            "      - { name: mean_1h, aggregation: mean, field: amount, window: 1h }\n      - { name: max_1h, aggregation: max, field: amount, window: 1h }\n",
            StringComparison.Ordinal);
        Assert.NotEqual(yaml, yaml2);
        var db = redis.Connection.Database;
        var store = new RegistryStore(db, prefix);
        var keys = new OnlineKeys(prefix, project);
        var atMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        (long Time, double Amount)[] events = [(atMs - (50 * 60_000), 12.5), (atMs - (20 * 60_000), 40)];
        await ApplyAsync(store, project, yaml);
        var kept = Assert.Single((await store.LoadCurrentAsync(project))!.Compile().FindView(View)!.Groups);
        await db.HashSetAsync(keys.Entity(kept, "m1"), OnlineKeys.PartitionField("payments", 0), Encode(kept.Features, kept.InputSlots, kept.TtlMs, events));
        await ApplyAsync(store, project, yaml2);

        // The server is given v2 as a file: its unchanged features read version 1's group, the added one builds.
        var file = FeatureRepositoryLoader.LoadFromText(yaml2, "featurestore.yaml").Repository!;
        await using var server = await RunningServer.InProcessAsync(new FeatureServerOptions { Repository = file, KeyPrefix = prefix }, redis.Connection.Multiplexer);
        using var client = server.Client();
        var request = new GetOnlineFeaturesRequest
        {
            Features = { View + ":n_1h", View + ":max_1h" },
            Entities = { new EntityRow { JoinKeys = { ["merchant_id"] = "m1" } } },
            AsOf = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(atMs)),
        };
        await Eventually.TrueAsync(async () => (await client.ListDefinitionsAsync(Ct)).Repository.Version == 2, TimeSpan.FromSeconds(10), "the file served with version 2's groups", Ct);
        var building = (await client.GetOnlineFeaturesAsync(request, Ct)).Response.Rows[0].Values;
        Assert.Equal((FeatureStatus.Present, 2L), (building[0].Status, building[0].Int64Value));
        Assert.Equal(FeatureStatus.Building, building[1].Status);

        var group = (await store.LoadCurrentAsync(project))!.Compile().FindView(View)!.BuildingGroup!;
        await db.HashSetAsync(keys.Entity(group, "m1"), OnlineKeys.RebuildField, Encode(group.Features, group.InputSlots, group.TtlMs, events));
        Assert.Equal(3, await store.SwitchAsync(project, View, group.Signature, Ct));
        await Eventually.TrueAsync(async () => (await client.ListDefinitionsAsync(Ct)).Repository.Version == 3, TimeSpan.FromSeconds(10), "the switch followed", Ct);
        var served = (await client.GetOnlineFeaturesAsync(request, Ct)).Response.Rows[0].Values;
        Assert.Equal((FeatureStatus.Present, 2L), (served[0].Status, served[0].Int64Value));
        Assert.Equal((FeatureStatus.Present, 40d), (served[1].Status, served[1].DoubleValue));
    }
}
