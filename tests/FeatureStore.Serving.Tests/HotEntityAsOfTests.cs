using FeatureStore.Contracts.V1;
using FeatureStore.Redis;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Serving.Tests;

/// <summary>
/// One entity with 20 000 events in one partition, applied by the real ingest job (which keeps raw entries for
/// at most the newest 1 024 per entity and partition), looked up at past instants: every value is the §4
/// reference at that instant, or says INEXACT, never a value that counts later events.
/// </summary>
[Trait("Category", "Integration")]
public sealed class HotEntityAsOfTests : IAsyncLifetime
{
    private readonly EmbeddedKafkaFixture _kafka = new();
    private readonly RedisServerFixture _redis = new();
    private PaymentsScenario _scenario = null!;
    private OnlineStoreConnection? _store;
    private long _nowMs;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        await _kafka.InitializeAsync();
        await _redis.InitializeAsync();
        _scenario = new PaymentsScenario(_kafka.CreateTopic("hot-payments", partitions: 4));
        _nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        _scenario.Produce(_kafka.BootstrapServers, count: 20_000, users: 1, seed: 11, nowMs: _nowMs);
        await _scenario.IngestAllAsync(_kafka.BootstrapServers, _redis.Connection.Database, Ct);
        _store = await OnlineStoreConnection.ConnectAsync(_redis.Server.Endpoint, null, o => FeatureServer.ConfigureStoreClient(o, TimeSpan.FromSeconds(1)));
    }

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        await _redis.DisposeAsync();
        await _kafka.DisposeAsync();
    }

    [Fact]
    public async Task Past_lookups_of_a_hot_entity_equal_the_reference_or_say_inexact()
    {
        await using var server = await RunningServer.InProcessAsync(
            new FeatureServerOptions { Repository = _scenario.Repository, KeyPrefix = _scenario.KeyPrefix }, _store!.Multiplexer);
        using var client = server.Client();
        var newest = _scenario.Events.Max(e => e.Time);
        var random = new Random(5);
        int exact = 0, inexact = 0, exactInThePast = 0;
        for (var q = 0; q < 1_000; q++)
        {
            // The first lookups at and after the newest event, which must all be exact; then the past 3 hours.
            var at = q < 10 ? newest + (q * 60_000) : _nowMs - random.NextInt64(0, 3 * 3_600_000);
            var request = new GetOnlineFeaturesRequest
            {
                AsOf = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(at)),
                Features = { "user_stats", "user_spend" },
                Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u0" } } },
            };
            var response = (await client.GetOnlineFeaturesAsync(request, Ct)).Response;
            for (var c = 0; c < response.FeatureNames.Count; c++)
            {
                var name = response.FeatureNames[c];
                var view = _scenario.Compiled.FindView(name[..name.IndexOf(':', StringComparison.Ordinal)])!;
                var feature = view.IndexOf(name[(name.IndexOf(':', StringComparison.Ordinal) + 1)..]);
                var actual = response.Rows[0].Values[c];
                if (actual.Status == FeatureStatus.Inexact)
                {
                    Assert.True(at < newest, $"{name} at the newest event or later ({at}) read INEXACT");
                    Assert.Equal(FeatureValue.ValueOneofCase.None, actual.ValueCase);
                    Assert.Null(actual.EventTimestamp);
                    inexact++;
                    continue;
                }

                ValueAssert.Equal(_scenario.Reference(view, "u0", at)[feature], actual, $"{name} of u0 at {at}");
                exact++;
                exactInThePast += at < newest ? 1 : 0;
            }
        }

        // 20 000 events over 3 hours: the newest 1 024 raw entries cover minutes, so most past instants say so.
        Assert.True(inexact > 5_000, $"{inexact} inexact values");
        Assert.True(exact >= 100, $"{exact} exact values");
        Assert.True(exactInThePast > 0, "no past instant was answered exactly (tiles that end before it)");
    }
}
