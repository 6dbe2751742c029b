using System.Collections.Concurrent;
using System.Globalization;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Ingest.Tests;

/// <summary>
/// Ingest following the registry: it runs the applied version, and an apply that adds a feature moves it to the new
/// version, whose building group it writes from the offsets it marks, exactly once across the move. Embedded Kafka
/// over TCP and a real redis-server.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RegistryFollowingIngestTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>
{
    private const int Users = 200;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_applied_version_adding_a_feature_moves_ingest_to_it_and_each_event_lands_once_in_the_old_group_and_after_the_mark_in_the_new()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("follow", partitions: 4));
        var db = redis.Connection.Database;
        var registry = new RegistryStore(db, scenario.KeyPrefix);
        var file = Load(scenario.RepositoryYaml);
        await registry.ApplyAsync(file, scenario.RepositoryYaml, Ct);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: Users, seed: 31, nowMs: now);

        using var metrics = new IngestMetrics();
        var notices = new ConcurrentQueue<IngestVersionNotice>();
        var ingest = new RegistryFollowingIngest(file, Options(), redis.Connection.Multiplexer, scenario.KeyPrefix, metrics, NullLogger.Instance)
        {
            Notice = notices.Enqueue,
            PollInterval = TimeSpan.FromMinutes(1),
        };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => ingest.RunAsync(cts.Token), Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        Assert.Equal(1, ingest.Version);
        var before = await CheckpointsAsync(db, scenario);

        // The poll is slow (a minute): the move within seconds is the change notice's.
        var evolved = Load(scenario.EvolvedYaml);
        var applied = await registry.ApplyAsync(evolved, scenario.EvolvedYaml, Ct);
        Assert.Equal(2, applied.Version);
        await Eventually.TrueAsync(() => ingest.Version == 2, TimeSpan.FromSeconds(30), "ingest moves to version 2", Ct);

        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: Users, seed: 32, nowMs: now, firstIndex: 3_000);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        // Exactly once across the move: every event applied once, and the serving group holds every event's effect.
        Assert.Equal(6_000, metrics.EventsTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);

        // The building group: each partition's mark is where version 1 stopped, and its share counts the events after.
        var group = (await registry.LoadCurrentAsync(IngestScenario.Project))!.Compile().FindView("user_stats")!.BuildingGroup!;
        var after = await CheckpointsAsync(db, scenario);
        var counted = await CountsPerPartitionAsync(db, scenario, group, now + 60_000);
        var checkpoints = new IngestCheckpoints(db, new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project), "ingest");
        for (var p = 0; p < 4; p++)
        {
            Assert.Equal(before[p], await checkpoints.ReadBuildStartAsync("user_stats", group.Signature, scenario.Topic, p));
            Assert.Equal(after[p] - before[p], counted.GetValueOrDefault(p));
        }

        Assert.Equal(3_000, counted.Values.Sum());
        Assert.Equal(
            [new IngestVersionNotice(1, -1, IngestVersionChange.Started), new IngestVersionNotice(2, 1, IngestVersionChange.Moved)],
            notices.ToArray());
    }

    [Fact]
    public async Task The_registry_version_is_run_rather_than_a_differing_file_and_a_version_writing_the_same_is_followed_without_a_restart()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("follow-file", partitions: 4));
        var db = redis.Connection.Database;
        var registry = new RegistryStore(db, scenario.KeyPrefix);
        var applied = Load(scenario.RepositoryYaml);
        await registry.ApplyAsync(applied, scenario.RepositoryYaml, Ct);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 1_000, users: Users, seed: 33, nowMs: now);

        // The file adds a feature that was never applied: ingest runs version 1 and writes no building group.
        using var logs = new CapturedLogs();
        using var metrics = new IngestMetrics();
        var notices = new ConcurrentQueue<IngestVersionNotice>();
        var ingest = new RegistryFollowingIngest(Load(scenario.EvolvedYaml), Options(), redis.Connection.Multiplexer, scenario.KeyPrefix, metrics, logs)
        {
            Notice = notices.Enqueue,
            PollInterval = TimeSpan.FromMinutes(1),
        };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => ingest.RunAsync(cts.Token), Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        Assert.Equal(1, ingest.Version);
        Assert.Contains("ingest follows registry version 1; apply the file to change it", logs.Text, StringComparison.Ordinal);
        var keys = new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project);
        Assert.DoesNotContain((await db.HashKeysAsync(keys.Checkpoints("ingest"))).Select(k => k.ToString()), k => k.StartsWith("build:", StringComparison.Ordinal));

        // A version that changes nothing ingest writes (here an entity's description) is followed by the running job.
        var described = scenario.RepositoryYaml.Replace("join_keys: [user_id]", "join_keys: [user_id]\n    description: a payer", StringComparison.Ordinal);
        var second = Load(described);
        Assert.NotEqual(applied.ContentHash(), second.ContentHash());
        await registry.ApplyAsync(second, described, Ct);
        await Eventually.TrueAsync(() => ingest.Version == 2, TimeSpan.FromSeconds(30), "ingest follows version 2", Ct);
        scenario.Produce(kafka.BootstrapServers, count: 1_000, users: Users, seed: 34, nowMs: now, firstIndex: 1_000);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(2_000, metrics.EventsTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        Assert.Equal(
            [new IngestVersionNotice(1, -1, IngestVersionChange.Started), new IngestVersionNotice(2, 1, IngestVersionChange.Followed)],
            notices.ToArray());
    }

    [Fact]
    public async Task Partitions_that_get_no_event_after_the_move_still_mark_where_the_building_group_begins()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("follow-idle", partitions: 4));
        var db = redis.Connection.Database;
        var registry = new RegistryStore(db, scenario.KeyPrefix);
        var file = Load(scenario.RepositoryYaml);
        await registry.ApplyAsync(file, scenario.RepositoryYaml, Ct);
        scenario.Produce(kafka.BootstrapServers, count: 1_000, users: Users, seed: 35, nowMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

        using var metrics = new IngestMetrics();
        var ingest = new RegistryFollowingIngest(file, Options(), redis.Connection.Multiplexer, scenario.KeyPrefix, metrics, NullLogger.Instance);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Task.Run(() => ingest.RunAsync(cts.Token), Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        var stopped = await CheckpointsAsync(db, scenario);
        Assert.All(stopped, offset => Assert.True(offset > 0));

        // No event follows the apply: each partition is marked at its checkpoint all the same, by a mark-only write.
        var evolved = Load(scenario.EvolvedYaml);
        await registry.ApplyAsync(evolved, scenario.EvolvedYaml, Ct);
        var group = (await registry.LoadCurrentAsync(IngestScenario.Project))!.Compile().FindView("user_stats")!.BuildingGroup!;
        var checkpoints = new IngestCheckpoints(db, new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project), "ingest");
        async Task<bool> AllMarkedAsync()
        {
            for (var p = 0; p < 4; p++)
            {
                if (await checkpoints.ReadBuildStartAsync("user_stats", group.Signature, scenario.Topic, p) is null)
                {
                    return false;
                }
            }

            return true;
        }

        await Eventually.TrueAsync(AllMarkedAsync, TimeSpan.FromSeconds(60), "every idle partition marked", Ct);
        for (var p = 0; p < 4; p++)
        {
            Assert.Equal(stopped[p], await checkpoints.ReadBuildStartAsync("user_stats", group.Signature, scenario.Topic, p));
        }

        Assert.Equal(stopped, await CheckpointsAsync(db, scenario)); // a mark moves no checkpoint
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(1_000, metrics.EventsTotal);
    }

    private IngestOptions Options() => new()
    {
        BootstrapServers = kafka.BootstrapServers,
        GroupId = "ingest",
        MaxBatchEvents = 500, // several batches per phase: later ones must not move a mark
        MaxBatchDelay = TimeSpan.FromMilliseconds(50),
        SessionTimeout = TimeSpan.FromSeconds(6),
    };

    private static FeatureRepository Load(string yaml)
    {
        var load = FeatureRepositoryLoader.LoadFromText(yaml, "itest.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        return load.Repository!;
    }

    private static async Task<long[]> CheckpointsAsync(IDatabase db, IngestScenario scenario)
    {
        var checkpoints = new IngestCheckpoints(db, new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project), "ingest");
        var offsets = new long[4];
        for (var p = 0; p < offsets.Length; p++)
        {
            offsets[p] = await checkpoints.ReadAsync(scenario.Topic, p) is { } text ? PartitionCheckpoint.Parse(text).NextOffset : 0;
        }

        return offsets;
    }

    // The lifetime count of the group's only feature, summed over every user, per partition share.
    private static async Task<Dictionary<int, long>> CountsPerPartitionAsync(IDatabase db, IngestScenario scenario, StateGroup group, long atMs)
    {
        Assert.Single(group.Features);
        var keys = new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project);
        var counts = new Dictionary<int, long>();
        var values = new FeatureValue[1];
        for (var user = 0; user < Users; user++)
        {
            foreach (var share in await db.HashGetAllAsync(keys.Entity(group, "u" + user.ToString(CultureInfo.InvariantCulture))))
            {
                var field = share.Name.ToString();
                Assert.StartsWith(scenario.Topic + ":", field, StringComparison.Ordinal); // stream shares only: nothing rebuilt yet
                var partition = int.Parse(field[(scenario.Topic.Length + 1)..], CultureInfo.InvariantCulture);
                var state = ViewWindowState.ReadFrom((byte[])share.Value!, group.Features, group.TtlMs);
                state.Evaluate(atMs, values);
                counts[partition] = counts.GetValueOrDefault(partition) + values[0].Int64;
            }
        }

        return counts;
    }
}
