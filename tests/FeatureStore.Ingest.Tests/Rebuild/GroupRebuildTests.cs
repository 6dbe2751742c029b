using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Ingest.Archiving;
using FeatureStore.Ingest.Rebuild;
using FeatureStore.Parquet.History;
using FeatureStore.Parquet.Tests;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Registry;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Ingest.Tests.Rebuild;

/// <summary>
/// A view changed by an apply gets its added features' state built beside the serving one: from the event log
/// below the offsets ingest began writing the new group at (the <c>rebuild</c> field), and from the stream from
/// there on (the partition shares). Real redis-server; the log written by the real archiver from the embedded
/// Kafka cluster, or by the log writer directly; ingest's start offsets written as ingest records them.
/// </summary>
[Trait("Category", "Integration")]
public sealed class GroupRebuildTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private const string Project = "offtest";
    private const string Group = "ingest";

    // Added to user_stats by the second version: a count over 1h and a lifetime sum.
    private const string Added = "      - { name: n_1h_new, aggregation: count, window: 1h }\n      - { name: amount_all, aggregation: sum, field: amount }\n";

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-rebuild-").FullName;
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..8];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IDatabase Db => redis.Connection.Database;

    private OnlineKeys Keys => new(_prefix, Project);

    private string Store => Path.Combine(_dir, "store");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Rebuilt_and_stream_shares_of_added_features_equal_the_reference_for_every_entity()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario(kafka.CreateTopic("rebuild", OfflineScenario.Partitions), count: 6_000, users: 150, seed: 301, nowMs: now);
        var registry = new RegistryStore(Db, _prefix);
        var v1 = await ApplyAsync(registry, scenario.RepositoryYaml);

        // Version 1 ingested up to the middle of the topic, then the apply of version 2.
        scenario.Produce(kafka.BootstrapServers, to: 3_000);
        await IngestAsync(v1.Compile(), scenario.Topic, 3_000);
        var v2 = await ApplyAsync(registry, WithAddedFeatures(scenario.RepositoryYaml));
        var building = v2.Compile().FindView("user_stats")!.BuildingGroup!;
        await MarkAsIngestWouldAsync(scenario.Topic, building);

        // Version 2's ingest writes the new group from its checkpoints on; the archiver logs the whole topic.
        scenario.Produce(kafka.BootstrapServers, from: 3_000);
        await IngestAsync(v2.Compile(), scenario.Topic, 6_000);
        await ArchiveAsync(scenario, 6_000);

        var result = await Rebuild(v2).RunAsync(Ct);

        Assert.Equal(RebuildOutcome.Switched, result.Outcome);
        Assert.Equal(v2.Version + 1, result.Version);
        Assert.InRange(result.RowsRead, 3_000, 6_000);
        var current = (await registry.LoadCurrentAsync(Project))!;
        Assert.False(current.Compile().FindView("user_stats")!.Groups.Single(g => g.Signature == building.Signature).Building);
        var progress = (await BuildProgress.ReadAsync(Db, Keys, "user_stats", building.Signature))!;
        Assert.Equal(BuildState.Switched, progress.State);
        Assert.Equal(progress.RowsTotal, progress.RowsDone);

        // Some entities have both a rebuilt part and a stream share: the two meet by offset.
        var users = scenario.Events.Select(e => e.User).Distinct().ToList();
        var both = 0;
        foreach (var user in users)
        {
            var fields = (await Db.HashKeysAsync(Keys.Entity(building, user))).Select(f => (string)f!).ToList();
            both += fields.Contains("rebuild") && fields.Any(f => f.StartsWith(scenario.Topic + ":", StringComparison.Ordinal)) ? 1 : 0;
        }

        Assert.True(both > 50, $"{both} entities with both a rebuilt and a stream part");
        foreach (var t in new[] { scenario.MaxTime, scenario.MaxTime - (17 * 60_000) - 1, now + (90 * 60_000) })
        {
            await AssertGroupEqualsReferenceAsync(scenario, building, scenario.Events, t);
        }
    }

    [Fact]
    public async Task A_second_rebuild_writes_identical_bytes_and_equals_the_reference_of_the_log()
    {
        var (scenario, v2, building) = await LoggedScenarioAsync(seed: 311, logged: 3_000, marked: 3_000);
        var rebuild = Rebuild(v2);
        var starts = (await rebuild.WaitAsync(Ct))!;

        var (rows, entities) = await rebuild.RebuildAsync(starts, Ct);
        var first = await RebuildFieldsAsync(scenario, building);
        await rebuild.RebuildAsync(starts, Ct);
        var second = await RebuildFieldsAsync(scenario, building);

        Assert.Equal(3_000, rows);
        Assert.Equal(first.Count, entities);
        Assert.Equal(first.Keys.Order(StringComparer.Ordinal), second.Keys.Order(StringComparer.Ordinal));
        Assert.All(first, e => Assert.Equal(e.Value, second[e.Key]));
        Assert.Equal(BuildState.Rebuilt, (await rebuild.ReadProgressAsync())!.State);
        await AssertGroupEqualsReferenceAsync(scenario, building, [.. scenario.Events.Where(e => e.Index < 3_000)], scenario.MaxTime);
    }

    [Fact]
    public async Task After_a_crash_between_rebuilt_and_the_switch_a_rerun_only_switches()
    {
        var (scenario, v2, building) = await LoggedScenarioAsync(seed: 321, logged: 2_000, marked: 2_000);
        var crashed = Rebuild(v2);
        await crashed.RebuildAsync((await crashed.WaitAsync(Ct))!, Ct);
        var before = await RebuildFieldsAsync(scenario, building);

        // The log is gone: a rerun that read it again would fail.
        Directory.Delete(Store, recursive: true);
        var result = await Rebuild(v2).RunAsync(Ct);

        Assert.Equal(RebuildOutcome.Switched, result.Outcome);
        Assert.Equal(0, result.RowsRead);
        Assert.Equal(v2.Version + 1, result.Version);
        var after = await RebuildFieldsAsync(scenario, building);
        Assert.All(before, e => Assert.Equal(e.Value, after[e.Key]));
        Assert.Equal(BuildState.Switched, (await BuildProgress.ReadAsync(Db, Keys, "user_stats", building.Signature))!.State);
    }

    [Fact]
    public async Task While_the_log_lags_behind_ingests_start_offsets_it_waits_and_says_so()
    {
        var (scenario, v2, building) = await LoggedScenarioAsync(seed: 331, logged: 1_500, marked: 3_000);
        var rebuild = Rebuild(v2);
        var run = rebuild.RunAsync(Ct);

        await Eventually.TrueAsync(async () => (await rebuild.ReadProgressAsync())?.State == BuildState.Waiting, TimeSpan.FromSeconds(30), "waiting", Ct);
        var waiting = (await rebuild.ReadProgressAsync())!;
        Assert.Contains("offline event log of source payments lags behind", waiting.Reason, StringComparison.Ordinal);
        Assert.False(run.IsCompleted);

        await scenario.WriteLogAsync(Store, Ct, from: 1_500, to: 3_000);
        var result = await run.WaitAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.Equal(RebuildOutcome.Switched, result.Outcome);
        Assert.Equal(3_000, result.RowsRead);
        Assert.Null((await rebuild.ReadProgressAsync())!.Reason);
        await AssertGroupEqualsReferenceAsync(scenario, building, [.. scenario.Events.Where(e => e.Index < 3_000)], scenario.MaxTime);
    }

    [Fact]
    public async Task While_ingest_has_not_marked_a_checkpointed_partition_it_waits_and_says_so()
    {
        var (_, v2, building) = await LoggedScenarioAsync(seed: 341, logged: 1_000, marked: 1_000);
        await Db.HashDeleteAsync(Keys.Checkpoints(Group), OnlineKeys.BuildStartField("user_stats", building.Signature, TopicOf(v2), 2));
        var rebuild = Rebuild(v2);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = rebuild.RunAsync(cts.Token);

        await Eventually.TrueAsync(async () => (await rebuild.ReadProgressAsync())?.State == BuildState.Waiting, TimeSpan.FromSeconds(30), "waiting", Ct);
        Assert.Contains("has not yet written the group for partition 2 of topic", (await rebuild.ReadProgressAsync())!.Reason, StringComparison.Ordinal);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    [Fact]
    public async Task A_group_replaced_by_a_newer_apply_is_not_switched()
    {
        var (scenario, v2, building) = await LoggedScenarioAsync(seed: 351, logged: 1_000, marked: 1_000);
        var rebuild = Rebuild(v2);
        await rebuild.RebuildAsync((await rebuild.WaitAsync(Ct))!, Ct);

        // A third version changes the features being built: its group replaces the one just rebuilt.
        var registry = new RegistryStore(Db, _prefix);
        var v3 = await ApplyAsync(registry, WithAddedFeatures(scenario.RepositoryYaml).Replace("n_1h_new, aggregation: count, window: 1h", "n_1h_new, aggregation: count, window: 2h", StringComparison.Ordinal));
        var result = await Rebuild(v2).RunAsync(Ct);

        Assert.Equal(RebuildOutcome.Abandoned, result.Outcome);
        Assert.Null(result.Version);
        var current = (await registry.LoadCurrentAsync(Project))!;
        Assert.Equal(v3.Version, current.Version);
        var view = current.Compile().FindView("user_stats")!;
        Assert.NotEqual(building.Signature, view.BuildingGroup!.Signature);
        Assert.DoesNotContain(view.Groups, g => g.Signature == building.Signature);

        // Abandoned before it reads anything when the replacement comes first.
        await Db.KeyDeleteAsync(Keys.Build("user_stats", building.Signature));
        var again = await Rebuild(v2).RunAsync(Ct);
        Assert.Equal(RebuildOutcome.Abandoned, again.Outcome);
        Assert.Equal(0, again.RowsRead);
    }

    [Fact]
    public async Task The_rebuild_job_builds_a_group_an_apply_adds_while_it_runs_and_switches_it_in()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario(EmbeddedKafkaFixture.UniqueTopic("rebuild-job"), count: 3_000, users: 100, seed: 361, nowMs: now);
        var registry = new RegistryStore(Db, _prefix);
        await ApplyAsync(registry, scenario.RepositoryYaml);
        await scenario.WriteLogAsync(Store, Ct);
        var perPartition = scenario.Events.GroupBy(e => e.User.Sum(c => c) % OfflineScenario.Partitions).ToDictionary(g => g.Key, g => g.Count());
        for (var p = 0; p < OfflineScenario.Partitions; p++)
        {
            await Db.HashSetAsync(Keys.Checkpoints(Group), OnlineKeys.PartitionField(scenario.Topic, p), new PartitionCheckpoint(perPartition.GetValueOrDefault(p), now).ToString());
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var job = new RebuildJob(Db, new RebuildJobOptions
        {
            Project = Project,
            KeyPrefix = _prefix,
            RegistryPollInterval = TimeSpan.FromHours(1), // only the change notification can wake it
            Rebuild = new GroupRebuildOptions { StoreDirectory = Store, IngestGroup = Group, PollInterval = TimeSpan.FromMilliseconds(50), SpillDirectory = _dir },
        }, NullLogger.Instance);
        var run = job.RunAsync(cts.Token);

        var v2 = await ApplyAsync(registry, WithAddedFeatures(scenario.RepositoryYaml));
        var building = v2.Compile().FindView("user_stats")!.BuildingGroup!;
        await Eventually.TrueAsync(async () => (await BuildProgress.ReadAsync(Db, Keys, "user_stats", building.Signature))?.State == BuildState.Waiting,
            TimeSpan.FromSeconds(30), "the job waits for ingest's start offsets", Ct);
        await MarkAsIngestWouldAsync(scenario.Topic, building);
        await Eventually.TrueAsync(async () => await registry.GetCurrentVersionNumberAsync(Project) == v2.Version + 1, TimeSpan.FromSeconds(60), "the group switched in", Ct);

        Assert.False(run.IsCompleted);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(BuildState.Switched, (await BuildProgress.ReadAsync(Db, Keys, "user_stats", building.Signature))!.State);
        await AssertGroupEqualsReferenceAsync(scenario, building, scenario.Events, scenario.MaxTime);
    }

    private static string TopicOf(AppliedRepository applied) => applied.Repository.Sources[0].Topic;

    private static string WithAddedFeatures(string yaml)
    {
        const string last = "      - { name: n_all, aggregation: count }\n";
        var at = yaml.IndexOf(last, StringComparison.Ordinal);
        Assert.True(at >= 0, "user_stats ends with n_all");
        return yaml.Insert(at + last.Length, Added);
    }

    private GroupRebuild Rebuild(AppliedRepository applied) =>
        new(Db, _prefix, applied, "user_stats", new GroupRebuildOptions
        {
            StoreDirectory = Store,
            IngestGroup = Group,
            PollInterval = TimeSpan.FromMilliseconds(50),
            SpillDirectory = _dir,
            MaxSpillRecords = 700, // several sorted runs to merge
            ProgressEveryRows = 500,
        }, NullLogger.Instance);

    private static async Task<AppliedRepository> ApplyAsync(RegistryStore registry, string yaml)
    {
        var load = FeatureRepositoryLoader.LoadFromText(yaml, "rebuild.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        var repo = load.Repository!;
        var outcome = await registry.ApplyAsync(repo.Project, repo.ContentHash(), repo.ToCanonicalJson(), yaml, Ct);
        Assert.True(outcome.Changed);
        return (await registry.LoadCurrentAsync(repo.Project))!;
    }

    /// <summary>
    /// Version 1 applied, its events below <paramref name="logged"/> in the log (written directly, offsets per
    /// partition), version 2 applied with ingest's checkpoints and start offsets where events below
    /// <paramref name="marked"/> end: what ingest records when version 2's first batch starts there.
    /// </summary>
    private async Task<(OfflineScenario Scenario, AppliedRepository V2, StateGroup Building)> LoggedScenarioAsync(int seed, int logged, int marked)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scenario = new OfflineScenario(EmbeddedKafkaFixture.UniqueTopic("rebuild"), count: 4_000, users: 120, seed: seed, nowMs: now);
        var registry = new RegistryStore(Db, _prefix);
        await ApplyAsync(registry, scenario.RepositoryYaml);
        await scenario.WriteLogAsync(Store, Ct, to: logged);
        var v2 = await ApplyAsync(registry, WithAddedFeatures(scenario.RepositoryYaml));
        var building = v2.Compile().FindView("user_stats")!.BuildingGroup!;
        var marks = scenario.Events.Where(e => e.Index < marked).GroupBy(e => e.User.Sum(c => c) % OfflineScenario.Partitions).ToDictionary(g => g.Key, g => g.Count());
        for (var p = 0; p < OfflineScenario.Partitions; p++)
        {
            var next = marks.GetValueOrDefault(p);
            await Db.HashSetAsync(Keys.Checkpoints(Group), OnlineKeys.PartitionField(scenario.Topic, p), new PartitionCheckpoint(next, now).ToString());
            await Db.HashSetAsync(Keys.Checkpoints(Group), OnlineKeys.BuildStartField("user_stats", building.Signature, scenario.Topic, p), next);
        }

        return (scenario, v2, building);
    }

    // What ingest records at its first batch of each partition under the new version: the checkpoint's next offset.
    private async Task MarkAsIngestWouldAsync(string topic, StateGroup building)
    {
        for (var p = 0; p < OfflineScenario.Partitions; p++)
        {
            var stored = await Db.HashGetAsync(Keys.Checkpoints(Group), OnlineKeys.PartitionField(topic, p));
            var next = stored.IsNull ? 0 : PartitionCheckpoint.Parse(stored.ToString()).NextOffset;
            Assert.True(await Db.HashSetAsync(Keys.Checkpoints(Group), OnlineKeys.BuildStartField(building.Name, building.Signature, topic, p), next, When.NotExists));
        }
    }

    private async Task IngestAsync(CompiledRepository compiled, string topic, long total)
    {
        using var metrics = new IngestMetrics();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var job = IngestJobFactory.Create(compiled, new IngestOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = Group,
            MaxBatchEvents = 500,
            MaxBatchDelay = TimeSpan.FromMilliseconds(50),
            SessionTimeout = TimeSpan.FromSeconds(6),
        }, Db, _prefix, metrics, NullLogger.Instance);
        var run = Task.Run(() => job.RunAsync(cts.Token), Ct);
        await Eventually.TrueAsync(async () => run.IsCompleted || await CheckpointedAsync(topic) >= total, TimeSpan.FromSeconds(90), $"ingest reaches {total}", Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    private async Task ArchiveAsync(OfflineScenario scenario, long total)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var archiver = new OfflineArchiver(scenario.Compiled, new OfflineArchiverOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            Directory = Store,
            GroupId = Group + ".offline",
            MaxBatchDelay = TimeSpan.FromMilliseconds(200),
            SessionTimeout = TimeSpan.FromSeconds(6),
        }, NullLogger.Instance);
        var run = Task.Run(() => archiver.RunAsync(cts.Token), Ct);
        await Eventually.TrueAsync(() => run.IsCompleted || EventLogSpill.CommittedOffsets(Store, "payments").Values.Sum() >= total,
            TimeSpan.FromSeconds(90), $"the log reaches {total}", Ct);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    private async Task<long> CheckpointedAsync(string topic)
    {
        long total = 0;
        for (var p = 0; p < OfflineScenario.Partitions; p++)
        {
            var stored = await Db.HashGetAsync(Keys.Checkpoints(Group), OnlineKeys.PartitionField(topic, p));
            total += stored.IsNull ? 0 : PartitionCheckpoint.Parse(stored.ToString()).NextOffset;
        }

        return total;
    }

    private async Task<Dictionary<string, byte[]>> RebuildFieldsAsync(OfflineScenario scenario, StateGroup building)
    {
        var fields = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var user in scenario.Events.Select(e => e.User).Distinct())
        {
            if (await Db.HashGetAsync(Keys.Entity(building, user), OnlineKeys.RebuildField) is { IsNull: false } value)
            {
                fields[user] = (byte[])value!;
            }
        }

        return fields;
    }

    /// <summary>Every user's values of the group (all fields of its hash merged) at <paramref name="t"/> equal the §4 reference over <paramref name="events"/>.</summary>
    private async Task AssertGroupEqualsReferenceAsync(OfflineScenario scenario, StateGroup group, IReadOnlyList<OfflineScenario.Payment> events, long t)
    {
        var view = group.View;
        var g = view.Groups.ToList().IndexOf(group);
        var fields = new string?[group.Features.Count];
        for (var f = 0; f < view.Features.Count; f++)
        {
            if (view.PlaceOf(f) is var (at, slot) && at == g)
            {
                fields[slot] = view.Definition.Features[f].Field;
            }
        }

        foreach (var user in scenario.Events.Select(e => e.User).Distinct())
        {
            var state = new ViewWindowState(group.Features, group.TtlMs);
            foreach (var share in await Db.HashValuesAsync(Keys.Entity(group, user)))
            {
                state.MergeFrom(ViewWindowState.ReadFrom((byte[])share!, group.Features, group.TtlMs));
            }

            var actual = new FeatureValue[group.Features.Count];
            Assert.True(state.Evaluate(t, actual), $"{user} at {t} not exact");
            var mine = events.Where(e => e.User == user).Select(e => new TestEvent(e.Time, e.Index, [.. fields.Select(field => field switch
            {
                null => FeatureInput.Absent,
                "amount" => e.Amount is { } a ? FeatureInput.OfNumber(a) : FeatureInput.Absent,
                _ => throw new InvalidOperationException(field),
            })])).ToList();
            var expected = NaiveReference.Evaluate(mine, group.Features, group.TtlMs, t);
            for (var s = 0; s < expected.Length; s++)
            {
                var ok = expected[s].Status == actual[s].Status && expected[s].EventTimeMs == actual[s].EventTimeMs && expected[s].Int64 == actual[s].Int64
                    && Math.Abs(expected[s].Double - actual[s].Double) <= 1e-9 * Math.Max(1, Math.Abs(expected[s].Double));
                Assert.True(ok, $"slot {s} of {user} at {t}: expected {expected[s]}, got {actual[s]}");
            }
        }
    }
}
