using System.Globalization;
using System.Net.Http.Json;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Models;
using FeatureStore.Redis.Models;
using FeatureStore.Redis.Online;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// Events produced to the embedded broker and applied by the real ingest job, looked up over gRPC (in
/// process and over a real port) and over HTTP/JSON, compared with the §4 reference at the lookup's as_of.
/// </summary>
[Trait("Category", "Integration")]
public sealed class OnlineLookupTests(IngestedStoreFixture data) : IClassFixture<IngestedStoreFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private FeatureServerOptions Options(int grpcPort = 0, int httpPort = 0) => new()
    {
        Repository = data.Scenario.Repository,
        KeyPrefix = data.Scenario.KeyPrefix,
        GrpcPort = grpcPort,
        HttpPort = httpPort,
    };

    /// <summary>Every user (and one that never paid), each with a merchant (and one that never sold).</summary>
    private static GetOnlineFeaturesRequest AllEntities(long asOfMs, params string[] features)
    {
        var request = new GetOnlineFeaturesRequest { AsOf = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(asOfMs)) };
        request.Features.AddRange(features);
        for (var i = 0; i <= 150; i++)
        {
            request.Entities.Add(new EntityRow
            {
                JoinKeys =
                {
                    ["user_id"] = "u" + i.ToString(CultureInfo.InvariantCulture),
                    ["merchant_id"] = "m" + (i % 21).ToString(CultureInfo.InvariantCulture),
                },
            });
        }

        return request;
    }

    /// <summary>Checks every value of <paramref name="response"/> against the reference; returns the statuses seen.</summary>
    private HashSet<FeatureStatus> AssertEqualsReference(GetOnlineFeaturesRequest request, GetOnlineFeaturesResponse response)
    {
        var scenario = data.Scenario;
        var at = (request.AsOf.Seconds * 1000) + (request.AsOf.Nanos / 1_000_000);
        Assert.Equal(at, (response.EvaluatedAt.Seconds * 1000) + (response.EvaluatedAt.Nanos / 1_000_000));
        Assert.Equal(request.Entities.Count, response.Rows.Count);
        var statuses = new HashSet<FeatureStatus>();
        for (var c = 0; c < response.FeatureNames.Count; c++)
        {
            var reference = response.FeatureNames[c];
            var view = scenario.Compiled.FindView(reference[..reference.IndexOf(':', StringComparison.Ordinal)])!;
            var feature = view.IndexOf(reference[(reference.IndexOf(':', StringComparison.Ordinal) + 1)..]);
            var joinKey = view.Definition.Entity == "user" ? "user_id" : "merchant_id";
            for (var r = 0; r < response.Rows.Count; r++)
            {
                var entity = request.Entities[r].JoinKeys[joinKey];
                var expected = scenario.Reference(view, entity, at)[feature];
                var actual = response.Rows[r].Values[c];
                ValueAssert.Equal(expected, actual, $"{reference} of {entity} at {at}");
                statuses.Add(actual.Status);
            }
        }

        return statuses;
    }

    [Fact]
    public async Task Grpc_lookups_in_process_equal_the_reference_at_as_of_with_not_found_and_outside_ttl()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var client = server.Client();
        var statuses = new HashSet<FeatureStatus>();
        // Now, later with windows decayed, and past user_spend's 2h and every view's 1d ttl.
        foreach (var at in new[] { data.NowMs, data.NowMs + (90 * 60_000), data.NowMs + (25 * 3_600_000) })
        {
            var request = AllEntities(at, "user_stats", "user_spend", "merchant_stats");
            var result = await client.GetOnlineFeaturesAsync(request, Ct);
            Assert.Equal(13, result.FeatureNames.Count);
            statuses.UnionWith(AssertEqualsReference(request, result.Response));
        }

        Assert.Superset(new HashSet<FeatureStatus> { FeatureStatus.Present, FeatureStatus.NullValue, FeatureStatus.NotFound, FeatureStatus.OutsideTtl }, statuses);
    }

    [Fact]
    public async Task A_lookup_by_one_join_key_answers_as_the_same_request_of_entity_rows()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var client = server.Client();
        var at = data.NowMs + (30 * 60_000);
        var request = AllEntities(at, "user_stats", "user_spend:merchants_2h");
        string[] users = [.. request.Entities.Select(e => e.JoinKeys["user_id"])];
        var keyed = await client.GetOnlineFeaturesAsync(["user_stats", "user_spend:merchants_2h"], "user_id", users, DateTimeOffset.FromUnixTimeMilliseconds(at), Ct);
        Assert.Equal(users.Length, keyed.RowCount);
        var rows = new GetOnlineFeaturesRequest { AsOf = request.AsOf, Features = { request.Features } };
        rows.Entities.AddRange(users.Select(u => new EntityRow { JoinKeys = { ["user_id"] = u } }));
        Assert.Equal((await client.GetOnlineFeaturesAsync(rows, Ct)).Response, keyed.Response);
        AssertEqualsReference(rows, keyed.Response);

        // A join key the views are not about is named in the error, as for entity rows.
        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => client.GetOnlineFeaturesAsync(["user_stats"], "merchant_id", ["m1"], cancellationToken: Ct));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("join key 'user_id'", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grpc_and_http_lookups_on_real_ports_equal_the_reference()
    {
        await using var server = await RunningServer.OnPortsAsync((g, h) => Options(g, h), data.Store.Multiplexer);
        var request = AllEntities(data.NowMs + (30 * 60_000), "user_stats:n_1h", "user_stats:last_country", "user_spend:merchants_2h", "user_spend:sd_2h", "merchant_stats:mean_1h");

        using var client = server.Client();
        var overGrpc = await client.GetOnlineFeaturesAsync(request, Ct);
        AssertEqualsReference(request, overGrpc.Response);

        using var http = server.Http();
        using var body = new StringContent(JsonFormatter.Default.Format(request), System.Text.Encoding.UTF8, "application/json");
        using var answer = await http.PostAsync(new Uri("/v1/features/online", UriKind.Relative), body, Ct);
        var text = await answer.Content.ReadAsStringAsync(Ct);
        Assert.True(answer.IsSuccessStatusCode, text);
        Assert.Equal("application/json", answer.Content.Headers.ContentType?.MediaType);
        var overHttp = JsonParser.Default.Parse<GetOnlineFeaturesResponse>(text);
        AssertEqualsReference(request, overHttp);
        Assert.Equal(overGrpc.Response, overHttp);
    }

    [Fact]
    public async Task Streamed_lookups_by_many_callers_at_once_each_answer_their_own_request_as_the_reference()
    {
        await using var server = await RunningServer.OnPortsAsync((g, h) => Options(g, h), data.Store.Multiplexer);
        using var client = server.Client();
        await using var stream = client.OpenLookupStream();
        var at = data.NowMs + (20 * 60_000);
        var all = AllEntities(at, "user_stats", "user_spend", "merchant_stats");

        // Eight callers, each looking up its own share of the entities one at a time, in an order of its own.
        await Task.WhenAll(Enumerable.Range(0, 8).Select(caller => Task.Run(async () =>
        {
            var rows = Enumerable.Range(0, all.Entities.Count).Where(r => r % 8 == caller).Reverse().ToList();
            foreach (var row in rows)
            {
                var one = new GetOnlineFeaturesRequest { AsOf = all.AsOf, Features = { all.Features }, Entities = { all.Entities[row] } };
                AssertEqualsReference(one, (await stream.GetOnlineFeaturesAsync(one, Ct)).Response);
            }
        }, Ct)));

        // Many entities in one streamed lookup, by entity rows and by one join key: as the unary call answers.
        var unary = await client.GetOnlineFeaturesAsync(all, Ct);
        Assert.Equal(unary.Response, (await stream.GetOnlineFeaturesAsync(all, Ct)).Response);
        string[] users = [.. all.Entities.Select(e => e.JoinKeys["user_id"])];
        var keyed = await stream.GetOnlineFeaturesAsync(["user_stats", "user_spend"], "user_id", users, DateTimeOffset.FromUnixTimeMilliseconds(at), Ct);
        Assert.Equal((await client.GetOnlineFeaturesAsync(["user_stats", "user_spend"], "user_id", users, DateTimeOffset.FromUnixTimeMilliseconds(at), Ct)).Response, keyed.Response);
        Assert.Equal(users.Length, keyed.RowCount);
    }

    [Fact]
    public async Task Http_mirror_accepts_hand_written_json()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var http = server.Http();
        var user = data.Scenario.Events[0].User;
        var at = DateTimeOffset.FromUnixTimeMilliseconds(data.NowMs).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        using var answer = await http.PostAsJsonAsync(new Uri("/v1/features/online", UriKind.Relative), new
        {
            features = new[] { "user_stats:n_all" },
            entities = new[] { new { join_keys = new Dictionary<string, string> { ["user_id"] = user } } },
            as_of = at,
        }, Ct);
        var text = await answer.Content.ReadAsStringAsync(Ct);
        Assert.True(answer.IsSuccessStatusCode, text);
        var response = JsonParser.Default.Parse<GetOnlineFeaturesResponse>(text);
        var expected = data.Scenario.Events.Count(e => e.User == user);
        Assert.Equal(expected, response.Rows[0].Values[0].Int64Value);
        Assert.Contains($"\"int64Value\": \"{expected}\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_lookup_of_100_entities_across_3_views_is_one_redis_command()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var client = server.Client();
        var request = AllEntities(data.NowMs, "user_stats", "user_spend", "merchant_stats");
        while (request.Entities.Count > 100)
        {
            request.Entities.RemoveAt(request.Entities.Count - 1);
        }

        await client.GetOnlineFeaturesAsync(request, Ct); // first use loads the script on the server
        await using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(data.Server.Endpoint + ",allowAdmin=true");
        var redis = admin.GetServer(data.Server.Endpoint);
        var before = await CommandCallsAsync(redis);
        var sentBefore = data.Store.Multiplexer.GetCounters().Interactive.OperationCount;
        var result = await client.GetOnlineFeaturesAsync(request, Ct);
        var sent = data.Store.Multiplexer.GetCounters().Interactive.OperationCount - sentBefore;
        var after = await CommandCallsAsync(redis);

        Assert.Equal(100, result.RowCount);
        // The client sent one command; redis-server ran one EVALSHA, whose script made the 300 HVALS
        // (commandstats counts the commands a script calls, too).
        Assert.Equal(1, sent);
        var made = after.Where(kv => kv.Key != "info" && kv.Value != before.GetValueOrDefault(kv.Key))
            .ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key));
        Assert.Equal(new Dictionary<string, long> { ["evalsha"] = 1, ["hvals"] = 300 }, made.OrderBy(kv => kv.Key).ToDictionary());
    }

    [Fact]
    public async Task A_lookup_of_100_entities_across_3_views_by_transaction_is_one_multi_exec()
    {
        var options = Options();
        await using var server = await RunningServer.InProcessAsync(new FeatureServerOptions
        {
            Repository = options.Repository,
            KeyPrefix = options.KeyPrefix,
            ReadStrategy = OnlineReadStrategy.Transaction,
        }, data.Store.Multiplexer);
        using var client = server.Client();
        var request = AllEntities(data.NowMs, "user_stats", "user_spend", "merchant_stats");
        while (request.Entities.Count > 100)
        {
            request.Entities.RemoveAt(request.Entities.Count - 1);
        }

        await client.GetOnlineFeaturesAsync(request, Ct);
        await using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(data.Server.Endpoint + ",allowAdmin=true");
        var redis = admin.GetServer(data.Server.Endpoint);
        var before = await CommandCallsAsync(redis);
        var result = await client.GetOnlineFeaturesAsync(request, Ct);
        var after = await CommandCallsAsync(redis);

        Assert.Equal(100, result.RowCount);
        AssertEqualsReference(request, result.Response);
        // redis-server ran one transaction holding the 300 HVALS (the client writes it whole, after the SELECT of its
        // database that it sends before every transaction, then reads the replies).
        var made = after.Where(kv => kv.Key != "info" && kv.Value != before.GetValueOrDefault(kv.Key))
            .ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key));
        Assert.Equal(new Dictionary<string, long> { ["exec"] = 1, ["hvals"] = 300, ["multi"] = 1, ["select"] = 1 }, made.OrderBy(kv => kv.Key).ToDictionary());
    }

    [Fact]
    public async Task The_lookups_of_one_stream_message_are_read_in_one_redis_command_within_the_row_limit()
    {
        await using var server = await RunningServer.InProcessAsync(new FeatureServerOptions
        {
            Repository = data.Scenario.Repository,
            KeyPrefix = data.Scenario.KeyPrefix,
            MaxEntities = 10,
        }, data.Store.Multiplexer);
        GetOnlineFeaturesRequest Rows(int from, int count, params string[] features)
        {
            var all = AllEntities(data.NowMs, features);
            var request = new GetOnlineFeaturesRequest { AsOf = all.AsOf, Features = { all.Features } };
            request.Entities.AddRange(all.Entities.Skip(from).Take(count));
            return request;
        }

        var (a, b, c) = (Rows(0, 6, "user_stats"), Rows(6, 4, "user_spend", "merchant_stats"), Rows(10, 6, "user_stats:n_1h"));
        using var channel = server.Channel();
        var raw = new Grpc.Core.Method<byte[], byte[]>(Grpc.Core.MethodType.DuplexStreaming, "featurestore.v1.OnlineFeatures", "StreamOnlineFeatures",
            Grpc.Core.Marshallers.Create(static b => b, static b => b), Grpc.Core.Marshallers.Create(static b => b, static b => b));
        using var call = channel.CreateCallInvoker().AsyncDuplexStreamingCall(raw, null, new Grpc.Core.CallOptions(cancellationToken: Ct));
        async Task<LookupBatchResult> SendAsync(params GetOnlineFeaturesRequest[] lookups)
        {
            await call.RequestStream.WriteAsync(new LookupBatch { Lookups = { lookups } }.ToByteArray(), Ct);
            Assert.True(await call.ResponseStream.MoveNext(Ct));
            return LookupBatchResult.Parser.ParseFrom(call.ResponseStream.Current);
        }

        await SendAsync(a); // first use loads the script on the server
        await using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(data.Server.Endpoint + ",allowAdmin=true");
        var redis = admin.GetServer(data.Server.Endpoint);

        // 6 + 4 rows: within the limit of 10, one command for both lookups (and their three views).
        var before = await CommandCallsAsync(redis);
        var two = await SendAsync(a, b);
        Assert.Equal(1, (await CommandCallsAsync(redis))["evalsha"] - before.GetValueOrDefault("evalsha"));
        AssertEqualsReference(a, two.Results[0].Response);
        AssertEqualsReference(b, two.Results[1].Response);

        // 6 + 4 + 6 rows: the third lookup no longer fits, so a second command reads it.
        before = await CommandCallsAsync(redis);
        var three = await SendAsync(a, b, c);
        Assert.Equal(2, (await CommandCallsAsync(redis))["evalsha"] - before.GetValueOrDefault("evalsha"));
        Assert.Equal([two.Results[0], two.Results[1]], three.Results.Take(2));
        AssertEqualsReference(c, three.Results[2].Response);
    }

    [Theory]
    [InlineData(OnlineReadStrategy.Pipeline)]
    [InlineData(OnlineReadStrategy.Transaction)]
    public async Task The_pipeline_and_transaction_strategies_give_the_same_values(OnlineReadStrategy strategy)
    {
        var options = Options();
        await using var server = await RunningServer.InProcessAsync(new FeatureServerOptions
        {
            Repository = options.Repository,
            KeyPrefix = options.KeyPrefix,
            ReadStrategy = strategy,
        }, data.Store.Multiplexer);
        using var client = server.Client();
        var request = AllEntities(data.NowMs + (10 * 60_000), "user_stats", "user_spend", "merchant_stats");
        AssertEqualsReference(request, (await client.GetOnlineFeaturesAsync(request, Ct)).Response);
    }

    [Fact]
    public async Task A_model_stands_for_its_newest_or_named_version_features()
    {
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        using var client = server.Client();
        var entity = new Dictionary<string, string> { ["user_id"] = "u1", ["merchant_id"] = "m1" };
        var newest = await client.GetModelFeaturesAsync("fraud", [entity], cancellationToken: Ct);
        Assert.Equal(["user_stats:n_1h", "user_spend:sum_2h", "merchant_stats:mean_1h"], newest.FeatureNames);
        var v1 = await client.GetModelFeaturesAsync("fraud@v1", [entity], cancellationToken: Ct);
        Assert.Equal(["user_stats:n_1h", "merchant_stats:sum_1h"], v1.FeatureNames);
        Assert.Equal(newest.Response.Rows[0].Values[0], v1.Response.Rows[0].Values[0]);
    }

    [Fact]
    public async Task A_model_name_serves_its_production_version_and_follows_a_rollback()
    {
        var registry = new ModelRegistryStore(data.Store.Database, data.Scenario.KeyPrefix, data.Scenario.Repository.Project);
        foreach (var version in (string[])["v1", "v2"])
        {
            Assert.True(await registry.RegisterAsync("fraud", version, [], null, null));
        }

        try
        {
            await registry.PromoteAsync("fraud", "v1", ModelStage.Production);
            await using var server = await RunningServer.InProcessAsync(new FeatureServerOptions
            {
                Repository = data.Scenario.Repository,
                KeyPrefix = data.Scenario.KeyPrefix,
                ModelStagePollInterval = TimeSpan.FromMinutes(5),
            }, data.Store.Multiplexer);
            using var client = server.Client();
            var entity = new Dictionary<string, string> { ["user_id"] = "u1", ["merchant_id"] = "m1" };
            async Task<IReadOnlyList<string>> Served() => (await client.GetModelFeaturesAsync("fraud", [entity], cancellationToken: Ct)).FeatureNames;
            IReadOnlyList<string> v1 = ["user_stats:n_1h", "merchant_stats:sum_1h"];
            IReadOnlyList<string> v2 = ["user_stats:n_1h", "user_spend:sum_2h", "merchant_stats:mean_1h"];
            await Eventually.TrueAsync(async () => (await Served()).SequenceEqual(v1), TimeSpan.FromSeconds(10), "v1, production, served by name", Ct);

            // A promotion is announced: followed at once, not at the 5-minute poll.
            await registry.PromoteAsync("fraud", "v2", ModelStage.Production);
            await Eventually.TrueAsync(async () => (await Served()).SequenceEqual(v2), TimeSpan.FromSeconds(10), "v2 served once promoted", Ct);

            // A rollback (the degradation policy's registry change) is announced as the restored version's promotion.
            var rollback = await registry.PlanRollbackAsync("fraud", "v2");
            Assert.NotNull(rollback);
            var transaction = data.Store.Database.CreateTransaction();
            registry.QueueRollback(transaction, rollback, "test evidence");
            Assert.True(await transaction.ExecuteAsync());
            await registry.AnnounceAsync(rollback);
            await Eventually.TrueAsync(async () => (await Served()).SequenceEqual(v1), TimeSpan.FromSeconds(10), "v1 served again after the rollback", Ct);
            Assert.Equal(2, (await client.GetModelFeaturesAsync("fraud@v1", [entity], cancellationToken: Ct)).FeatureNames.Count);
        }
        finally
        {
            // No production version left: the other tests of the class read a model name as its newest declared version.
            foreach (var version in (string[])["v1", "v2"])
            {
                await registry.PromoteAsync("fraud", version, ModelStage.Archived);
            }
        }
    }

    [Fact]
    public async Task The_host_watches_no_configuration_file()
    {
        // A file watched for reloads means a recursive watcher over the working directory, busy whenever files
        // change under it; the server takes its settings from its options only.
        await using var server = await RunningServer.InProcessAsync(Options(), data.Store.Multiplexer);
        var configuration = (Microsoft.Extensions.Configuration.IConfigurationRoot)server.Server.Services
            .GetService(typeof(Microsoft.Extensions.Configuration.IConfiguration))!;
        var files = configuration.Providers.OfType<Microsoft.Extensions.Configuration.FileConfigurationProvider>().ToList();
        Assert.NotEmpty(files);
        Assert.All(files, f => Assert.False(f.Source.ReloadOnChange, f.Source.Path));
    }

    private static async Task<Dictionary<string, long>> CommandCallsAsync(StackExchange.Redis.IServer server)
    {
        var sections = await server.InfoAsync("commandstats");
        return sections.SelectMany(g => g)
            .Where(kv => kv.Key.StartsWith("cmdstat_", StringComparison.Ordinal))
            .ToDictionary(
                kv => kv.Key["cmdstat_".Length..],
                kv => long.Parse(kv.Value.Split(',')[0]["calls=".Length..], CultureInfo.InvariantCulture));
    }
}
